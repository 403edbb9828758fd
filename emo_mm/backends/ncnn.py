"""ncnn (``.ncnn.param`` + ``.ncnn.bin``) by pnnx, run by ncnn's Python binding on the CPU.

pnnx stores the weights as fp16 by default (1e-4 off); here they stay fp32 (``fp16=False``),
and the check runs ncnn with fp16 / bf16 storage and arithmetic off. A phone app may turn them
on for speed (``opt.use_fp16_*``) at that cost in accuracy.
"""
import os.path as osp
import shutil
import tempfile

import numpy as np

from .base import Backend, output_index, threads


class NcnnBackend(Backend):
    name = 'ncnn'
    packages = (('pnnx', 'pnnx'), ('ncnn', 'ncnn'))
    suffix = '.ncnn.param'
    summary = 'ncnn param + bin (pnnx, fp32 weights), run by ncnn (CPU, fp32)'

    def convert(self, module, x, path):
        import pnnx
        stem = path[:-len(self.suffix)]
        with tempfile.TemporaryDirectory() as tmp:  # pnnx's own files (TorchScript, pnnx IR)
            pnnx.export(module, osp.join(tmp, 'model.pt'), (x, ), fp16=False)
            shutil.move(osp.join(tmp, 'model.ncnn.param'), path)
            shutil.move(osp.join(tmp, 'model.ncnn.bin'), stem + '.ncnn.bin')
        return [path, stem + '.ncnn.bin']

    def load(self, path):
        import ncnn
        net = ncnn.Net()
        opt = net.opt
        opt.use_vulkan_compute = False
        opt.num_threads = threads()
        opt.use_fp16_packed = opt.use_fp16_storage = opt.use_fp16_arithmetic = False
        opt.use_bf16_storage = False
        if net.load_param(path) or net.load_model(path[:-len(self.suffix)] + '.ncnn.bin'):
            raise RuntimeError(f'ncnn cannot load {path}')
        names = sorted(net.output_names(), key=output_index)

        def infer(x):
            if x.shape[0] != 1:
                raise ValueError('ncnn takes one image (batch 1)')
            extractor = net.create_extractor()
            extractor.input(net.input_names()[0], ncnn.Mat(x[0].numpy()).clone())
            outputs = []
            for name in names:
                status, mat = extractor.extract(name)
                if status:
                    raise RuntimeError(f'ncnn failed to compute {name} (status {status})')
                outputs.append(np.array(mat)[None])
            return outputs

        return infer


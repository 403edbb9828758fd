"""OpenVINO IR (``.xml`` + ``.bin``), converted from ``torch.export`` and run by its CPU plugin.

From the ``ExportedProgram``, not from the module: ``openvino.convert_model(module)`` traces with
TorchScript, and that IR is 1e-3 off (relative) on the attention stages, the ``torch.export``
one within 1e-6. The check runs at f32 (``INFERENCE_PRECISION_HINT``): on CPUs with AMX /
AVX512-BF16 the plugin's default is bf16.
"""
import os.path as osp

import torch

from .base import Backend, threads

#: CPU plugin settings of the check (``INFERENCE_NUM_THREADS``: :func:`config`).
CONFIG = {'INFERENCE_PRECISION_HINT': 'f32'}


def config() -> dict:
    """:data:`CONFIG` with :func:`~emo_mm.backends.base.threads` threads."""
    return dict(CONFIG, INFERENCE_NUM_THREADS=threads())


class OpenVinoBackend(Backend):
    name = 'openvino'
    packages = (('openvino', 'openvino'), )
    suffix = '.xml'
    summary = 'OpenVINO IR (.xml + .bin), run by the OpenVINO CPU plugin at f32'

    def convert(self, module, x, path):
        import openvino as ov
        program = torch.export.export(module, (x, ))
        ov.save_model(ov.convert_model(program), path, compress_to_fp16=False)
        return [path, osp.splitext(path)[0] + '.bin']

    def load(self, path):
        import openvino as ov
        compiled = ov.Core().compile_model(path, 'CPU', config())

        def infer(x):
            result = compiled([x.numpy()])
            return [result[out] for out in compiled.outputs]

        return infer

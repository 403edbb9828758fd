"""MNN (``.mnn``), converted from our ONNX export by MNN's converter, run by MNN's CPU backend
at high precision with the large Winograd tiles off (see :data:`WINOGRAD_MEMORY_LEVEL`).

The converter is called in process (``_tools.mnnconvert``, what the ``mnnconvert`` command
wraps): the command's Python wrapper imports a usage logger that runs ``pip install
aliyun-log-python-sdk`` into whatever ``pip`` is first on PATH and posts the conversion's
details to a server. The ONNX input is opset 18 (see :mod:`emo_mm.backends.onnx`):
``--useGeluApproximation 0`` keeps GELU exact only when it arrives as ``Erf``.
"""
import contextlib
import os
import os.path as osp
import tempfile

import numpy as np

from .base import Backend, threads
from .onnx import write_onnx

#: Runtime settings of the check (``numThread``: :func:`~emo_mm.backends.base.threads` at load).
CONFIG = {'backend': 'CPU', 'precision': 'high'}
#: ``MNN::Interpreter::HintMode::WINOGRAD_MEMORY_LEVEL``, set to 0 for the check: with the
#: default (3) MNN picks large Winograd tiles for 3 x 3 convs, 1.9e-4 (relative) off on
#: RetinaNet's head and 3e-4 on EdgeFormer-S; at 0 it matches onnxruntime's error.
WINOGRAD_MEMORY_LEVEL = 3


@contextlib.contextmanager
def _quiet_stdout():
    """The converter prints its progress from C++ to fd 1; keep it out of the tool's output."""
    import sys
    sys.stdout.flush()
    saved = os.dup(1)
    with open(os.devnull, 'w') as null:
        os.dup2(null.fileno(), 1)
        try:
            yield
        finally:
            os.dup2(saved, 1)
            os.close(saved)


class MnnBackend(Backend):
    name = 'mnn'
    packages = (('MNN', 'mnn'), ('_tools', 'mnn'), ('onnx', 'onnx'), ('onnxscript', 'onnxscript'))
    suffix = '.mnn'
    summary = 'MNN model from the ONNX export (MNN converter), run by MNN (CPU, high precision)'

    def convert(self, module, x, path):
        import _tools
        with tempfile.TemporaryDirectory() as tmp:
            onnx_path = osp.join(tmp, 'model.onnx')
            write_onnx(module, x, onnx_path)
            with _quiet_stdout():
                _tools.mnnconvert(['mnnconvert', '-f', 'ONNX', '--modelFile', onnx_path,
                                   '--MNNModel', path, '--bizCode', 'emo_mm',
                                   '--useGeluApproximation', '0'])
        if not osp.isfile(path):
            raise RuntimeError(f'the MNN converter wrote no {path}')
        return [path]

    def load(self, path):
        import MNN
        runtime = MNN.nn.create_runtime_manager((dict(CONFIG, numThread=threads()), ))
        runtime.set_hint(WINOGRAD_MEMORY_LEVEL, 0)
        info = MNN.nn.load_module_from_file(path, [], [], runtime_manager=runtime).get_info()
        net = MNN.nn.load_module_from_file(path, info['inputNames'], info['outputNames'],
                                           runtime_manager=runtime)

        def infer(x):
            image = MNN.expr.const(x.numpy(), list(x.shape), MNN.expr.NCHW)
            return [np.array(MNN.expr.convert(o, MNN.expr.NCHW).read())
                    for o in net.forward([image])]

        return infer

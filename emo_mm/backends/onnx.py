"""ONNX (onnxruntime runs it): :func:`emo_mm.deployment.export_onnx`, rank <= 4, opset 18.

Opset 18 rather than the exporter's newer default: from opset 20 GELU is one ``Gelu`` op, which
MNN's converter turns into its tanh approximation (4.7e-4 off); at 18 it stays ``Erf`` + muls,
which every runtime computes exactly.
"""
from typing import List

import numpy as np
import torch

from .base import Backend, ExportModule, threads

OPSET = 18


def write_onnx(module: ExportModule, x: torch.Tensor, path: str) -> List[str]:
    """``module`` at the shape of ``x`` (static, batch 1) to ONNX ``path`` (BNs already folded);
    returns the output names (``logits`` for one output, else ``out0``, ``out1``, ...)."""
    from ..deployment import export_onnx
    return export_onnx(module, path, tuple(x.shape[2:]), opset=OPSET, fold_bn=False,
                       batch_size=x.shape[0], max_rank=4)


class OnnxBackend(Backend):
    name = 'onnx'
    packages = (('onnx', 'onnx'), ('onnxscript', 'onnxscript'), ('onnxruntime', 'onnxruntime'))
    suffix = '.onnx'
    summary = 'ONNX file, checked with onnxruntime (CPU)'

    def convert(self, module, x, path):
        write_onnx(module, x, path)
        return [path]

    def load(self, path):
        from ..deployment import onnx_session, run_onnx
        session = onnx_session(path, threads=threads())
        return lambda x: [np.asarray(o) for o in run_onnx(session, x)]

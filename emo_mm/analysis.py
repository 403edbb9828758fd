"""Parameter and FLOP counting for cls / det / seg models (fvcore convention: 1 FLOP = 1 MAC).

Uses mmengine's fvcore-compatible :class:`~mmengine.analysis.FlopAnalyzer` on the traced model, in
which our attention is the explicit ``q @ k^T`` and ``attn @ v`` matmuls of the official code (the
export form, :mod:`emo_mm.models.layers.tracing`), so FLOPs match the papers' numbers; a handle
counts a fused ``scaled_dot_product_attention`` the same way where a model traces with one.
"""
from typing import Any, List, Tuple

import torch
import torch.nn as nn


def sdpa_flop_handle(inputs: List[Any], outputs: List[Any]) -> int:
    """FLOPs of ``scaled_dot_product_attention``: ``q @ k^T`` plus ``attn @ v`` (MACs)."""
    from mmengine.analysis.jit_handles import get_shape
    q, k, v = (get_shape(inputs[i]) for i in range(3))
    batch = 1
    for d in q[:-2]:
        batch *= d
    n, dq = q[-2], q[-1]
    m, dv = k[-2], v[-1]
    return batch * n * m * (dq + dv)


def _data_samples(model: nn.Module, shape: Tuple[int, int]):
    """The framework's data sample of an ``(H, W)`` input (detectors with RoI heads need image
    metas even in ``mode='tensor'``); None for a bare backbone."""
    from .frameworks import framework_of_model, get_adapter
    framework = framework_of_model(model)
    if framework is None:
        return None
    return [get_adapter(framework).random_sample(shape, train=False, num_classes=1)]


@torch.no_grad()
def get_complexity(model: nn.Module, shape: Tuple[int, int] = (224, 224)) -> dict:
    """Return ``dict(params=int, flops=int)`` of ``model`` for one ``3 x H x W`` input."""
    from mmengine.analysis import FlopAnalyzer

    from .deployment import ExportWrapper
    model.eval()
    wrapped = ExportWrapper(model, data_samples=_data_samples(model, shape))
    inputs = (torch.randn(1, 3, *shape), )
    analyzer = FlopAnalyzer(wrapped, inputs)
    analyzer.set_op_handle('aten::scaled_dot_product_attention', sdpa_flop_handle)
    analyzer.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    return dict(params=sum(p.numel() for p in model.parameters()), flops=int(analyzer.total()))

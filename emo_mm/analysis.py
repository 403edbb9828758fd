"""Parameter and FLOP counting for cls / det / seg models (fvcore convention: 1 FLOP = 1 MAC).

Uses mmengine's fvcore-compatible :class:`~mmengine.analysis.FlopAnalyzer`, plus a handle for the
fused ``scaled_dot_product_attention`` our attention uses (counted like the explicit
``q @ k^T`` and ``attn @ v`` matmuls of the official code, so FLOPs match the papers' numbers).
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


class _TensorForward(nn.Module):
    """Calls ``model(inputs, data_samples, mode='tensor')`` (or a plain backbone)."""

    def __init__(self, model: nn.Module, data_samples=None):
        super().__init__()
        self.model = model
        self.data_samples = data_samples

    def forward(self, x):
        from mmengine.model import BaseModel
        if isinstance(self.model, BaseModel):
            return self.model(x, self.data_samples, mode='tensor')
        return self.model(x)  # a bare backbone / nn.Module


def _dummy_data_samples(model: nn.Module, shape: Tuple[int, int]):
    """Detectors with RoI heads need image metas even in ``mode='tensor'``."""
    if not type(model).__module__.startswith('mmdet'):
        return None
    from mmdet.structures import DetDataSample
    h, w = shape
    meta = dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w), batch_input_shape=(h, w),
                scale_factor=(1., 1.))
    return [DetDataSample(metainfo=meta)]


@torch.no_grad()
def get_complexity(model: nn.Module, shape: Tuple[int, int] = (224, 224)) -> dict:
    """Return ``dict(params=int, flops=int)`` of ``model`` for one ``3 x H x W`` input."""
    from mmengine.analysis import FlopAnalyzer
    model.eval()
    wrapped = _TensorForward(model, _dummy_data_samples(model, shape))
    inputs = (torch.randn(1, 3, *shape), )
    analyzer = FlopAnalyzer(wrapped, inputs)
    analyzer.set_op_handle('aten::scaled_dot_product_attention', sdpa_flop_handle)
    analyzer.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    return dict(params=sum(p.numel() for p in model.parameters()), flops=int(analyzer.total()))

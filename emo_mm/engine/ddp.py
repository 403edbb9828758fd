"""Distributed training on CPU with the layouts the backbones' gradients come in.

On CPU the backbones run channels_last (oneDNN's 1x1 and depthwise convs are 2-3x faster on
NHWC data), so the gradients of 1x1 and depthwise conv weights arrive with channels_last
strides. For these weights the channels_last and the contiguous layout hold the elements in
the same order (they differ only in the strides of size-1 dimensions), but DDP compares the
strides literally: its gradient buckets take the contiguous strides of the parameters and it
warns on every run ``Grad strides do not match bucket view strides``.
:func:`match_conv_grad_layout` gives these weights the channels_last strides their gradients
have (no element moves; outputs and gradients are bitwise unchanged, see
``tests/test_crash_safety.py``), and :class:`CPUDistributedDataParallel` does it before DDP
builds its buckets. ``tools/train.py`` uses that wrapper for distributed runs on machines
without CUDA (:func:`emo_mm.cli.adapt_cfg_to_machine`).
"""
import torch
import torch.nn as nn
from mmengine.model import MMDistributedDataParallel
from mmengine.registry import MODEL_WRAPPERS

__all__ = ['CPUDistributedDataParallel', 'match_conv_grad_layout']


def _same_order_in_both_layouts(weight: torch.Tensor) -> bool:
    """A conv weight whose channels_last layout orders its elements as the contiguous one:
    one input channel per group (depthwise) or a 1x1 kernel."""
    return weight.dim() == 4 and (weight.shape[1] == 1 or weight.shape[2:] == (1, 1))


def match_conv_grad_layout(model: nn.Module) -> int:
    """Give every 1x1 / depthwise ``Conv2d`` weight of ``model`` channels_last strides, in
    place and without moving an element. Returns the number of weights restrided."""
    count = 0
    for module in model.modules():
        weight = getattr(module, 'weight', None)
        if not isinstance(module, nn.Conv2d) or weight is None:
            continue
        if not _same_order_in_both_layouts(weight):
            continue
        strides = torch.empty(weight.shape, memory_format=torch.channels_last).stride()
        if weight.is_contiguous() and weight.stride() != strides:
            weight.data = weight.data.as_strided(weight.shape, strides)
            count += 1
    return count


@MODEL_WRAPPERS.register_module()
class CPUDistributedDataParallel(MMDistributedDataParallel):
    """mmengine's ``MMDistributedDataParallel`` for CPU processes: 1x1 and depthwise conv
    weights take the strides of their channels_last gradients before DDP builds its buckets
    (:func:`match_conv_grad_layout`). Takes the arguments of ``MMDistributedDataParallel``."""

    def __init__(self, module: nn.Module, **kwargs):
        if not any(p.is_cuda for p in module.parameters()):
            match_conv_grad_layout(module)
        super().__init__(module=module, **kwargs)

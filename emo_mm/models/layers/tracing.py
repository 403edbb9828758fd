"""The one place that decides whether a model is being traced or exported (as timm's
``layers/config.py`` does with ``is_exportable()``).

Every layer that has an eager-only shortcut asks :func:`is_exporting`: the attention (explicit
matmuls + softmax instead of ``scaled_dot_product_attention``, padding even when it is empty),
EdgeFormer's cached circulant matrices and the CPU fast path
(:mod:`emo_mm.models.fast_cpu`). A traced graph must hold standard ops that fit every input size;
an eager run may take whatever is fastest for the values at hand. Both compute the same function.
"""
import contextlib
from typing import Iterator

import torch

__all__ = ['is_exporting', 'is_leaving_pytorch', 'exporting', 'max_export_rank',
           'export_max_rank']

_forced = False
#: Highest tensor rank an exported graph may hold (4: every runtime; see export_max_rank).
_max_rank = 4


def is_exporting() -> bool:
    """Whether the current forward is being traced: ``torch.jit.trace`` / ``script`` (FLOP
    counting), ``torch.export`` (ExecuTorch, LiteRT, the ONNX exporter), ``torch.compile``, the
    TorchScript ONNX exporter, or a block of :func:`exporting`.

    Example:
        >>> is_exporting()
        False
        >>> with exporting():
        ...     is_exporting()
        True
    """
    return (_forced or torch.jit.is_tracing() or torch.jit.is_scripting()
            or torch.compiler.is_compiling() or torch.compiler.is_exporting()
            or torch.onnx.is_in_onnx_export())


def is_leaving_pytorch() -> bool:
    """:func:`is_exporting`, except under a plain ``torch.compile``: the graph is meant for
    another runtime, so hints that only serve PyTorch's own CPU kernels (the channels-last
    layout) are left out of it."""
    return (_forced or torch.jit.is_tracing() or torch.compiler.is_exporting()
            or torch.onnx.is_in_onnx_export())


def max_export_rank() -> int:
    """The highest tensor rank the layers may use in an exported graph (default 4)."""
    return _max_rank


@contextlib.contextmanager
def export_max_rank(rank: int) -> Iterator[None]:
    """Let exported graphs hold tensors up to ``rank`` inside the block: ``8`` gives the window
    partitions their one-copy 8-D form, which onnxruntime runs 3-5% faster than the rank-4 steps
    (EMO-1M / EMOv2-1M, batch 1) but XNNPACK, Core ML, ncnn and MNN do not take."""
    global _max_rank
    if rank < 4:
        raise ValueError(f'the layers need tensors of rank 4, got max rank {rank}')
    previous, _max_rank = _max_rank, rank
    try:
        yield
    finally:
        _max_rank = previous


@contextlib.contextmanager
def exporting(enabled: bool = True) -> Iterator[None]:
    """Run the block as if exporting: for converters that trace the model themselves without
    one of the torch flags above (e.g. a runtime's own tracer)."""
    global _forced
    previous, _forced = _forced, enabled
    try:
        yield
    finally:
        _forced = previous

"""Window partitions and the EMO / EMOv2 attention mixers.

Both partitions split a (padded) NHWC map of ``(n1 * wh) x (n2 * ww)`` pixels into ``n1 * n2``
groups of ``wh x ww`` tokens, stacked into the batch dimension in ``(batch, a, b)`` order with
row-major tokens inside a group:

* **grid** (EMO, and the "remote" half of EMOv2): group ``(a, b)`` holds rows ``a, a + n1, ...``
  and columns ``b, b + n2, ...`` — pixels that are a stride apart, covering the whole image;
* **local** (the "close" half of EMOv2): group ``(a, b)`` holds the contiguous window of rows
  ``a * wh ... a * wh + wh - 1`` and the matching columns.

Official behaviour reproduced on purpose for parity: the normalised input is zero-padded on the
right / bottom to a window multiple *before* the biased q / k / v projections, and padded tokens
are **not masked**, so they take part in the softmax with keys equal to the projection biases.
"""
from typing import Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .norm_act import ConvNormAct
from .tracing import is_exporting, max_export_rank


def _swap(x: torch.Tensor, shape: Tuple[int, ...]) -> torch.Tensor:
    """``x`` viewed as the 4-D ``shape`` with axes 1 and 2 swapped, copied to a contiguous tensor.

    ``clone`` copies unconditionally: a ``reshape`` / ``contiguous`` would first test whether the
    copy can be skipped (when an axis has size 1), and ``torch.export`` turns that test into a
    guard that pins the number of windows to the example's.
    """
    return x.reshape(shape).transpose(1, 2).clone(memory_format=torch.contiguous_format)


def partition_heads(x: torch.Tensor, kind: str, wh: int, ww: int, num_heads: int,
                    parts: int = 1) -> torch.Tensor:
    """Split an NHWC map into the attention groups of partition ``kind``, per head.

    Eager runs make one copy through an 8-D permute. Traced / exported graphs
    (:func:`~emo_mm.models.layers.tracing.is_exporting`) take the same values, bit for bit, in
    steps that each view the data as a rank-4 tensor and swap two adjacent axes: XNNPACK,
    Core ML, ncnn and other runtimes take no tensor of higher rank. (The steps make two or three
    copies instead of one: in eager CPU inference they made the grouped attention of an EMOv2
    stage-3 block -- partitions, matmuls, merges -- 1.9x slower; in onnxruntime the model 3-5%
    slower, hence :func:`~emo_mm.models.layers.tracing.export_max_rank` to keep the 8-D form.)

    Args:
        x (Tensor): ``(B, n1*wh, n2*ww, parts * num_heads * d)``; the channels hold ``parts``
            tensors (e.g. q and k), each ``num_heads`` heads of ``d`` consecutive channels.
        kind (str): ``'grid'`` or ``'local'``.
        wh (int): Group height.
        ww (int): Group width.
        num_heads (int): Number of heads.
        parts (int): Number of tensors packed along the channels. Defaults to 1.

    Returns:
        Tensor: ``(parts * G, num_heads, wh*ww, d)``, contiguous, with ``G = B*n1*n2`` groups
        in ``(batch, a, b)`` order, part after part.
    """
    B, H, W, C = x.shape
    n1, n2, c = H // wh, W // ww, C // parts
    d = c // num_heads
    if not is_exporting() or max_export_rank() >= 8:
        if kind == 'grid':  # row = i * n1 + a, column = j * n2 + b (i, j: position in the group)
            x = x.reshape(B, wh, n1, ww, n2, parts, num_heads, d).permute(5, 0, 2, 4, 6, 1, 3, 7)
        else:  # local: row = a * wh + i, column = b * ww + j
            x = x.reshape(B, n1, wh, n2, ww, parts, num_heads, d).permute(5, 0, 1, 3, 6, 2, 4, 7)
        return x.reshape(parts * B * n1 * n2, num_heads, wh * ww, d).contiguous()
    if parts > 1:  # (B, H, W, parts, c) -> (parts, B, H, W, c)
        x = _swap(x, (1, B * H * W, parts, c))
    if kind == 'grid':
        x = _swap(x, (parts * B, wh, n1, W * c))  # -> (p, B, a, i, j, b, head, d)
        x = _swap(x, (parts * B * n1, wh * ww, n2 * num_heads, d))  # -> (p, B, a, b, head, i, j, d)
    else:
        x = _swap(x, (parts * B * n1, wh, n2, ww * c))  # -> (p, B, a, b, i, j, head, d)
        x = _swap(x, (parts * B * n1 * n2, wh * ww, num_heads, d))  # -> (p, B, a, b, head, i, j, d)
    return x.view(parts * B * n1 * n2, num_heads, wh * ww, d)


def merge_heads(x: torch.Tensor, kind: str, B: int, H: int, W: int, wh: int,
                ww: int) -> torch.Tensor:
    """Inverse of :func:`partition_heads` for one part (rank-4 steps when exporting):
    ``(B*n1*n2, heads, wh*ww, d)`` -> the contiguous NHWC map ``(B, H, W, heads * d)``."""
    G, heads, N, d = x.shape
    n1, n2 = H // wh, W // ww
    if not is_exporting() or max_export_rank() >= 8:
        x = x.view(B, n1, n2, heads, wh, ww, d)
        x = x.permute(0, 4, 1, 5, 2, 3, 6) if kind == 'grid' else x.permute(0, 1, 4, 2, 5, 3, 6)
        return x.reshape(B, H, W, heads * d).contiguous()
    if kind == 'grid':  # (B, a, b, head, i, j, d)
        x = _swap(x, (B * n1, n2 * heads, N, d))  # -> (B, a, i, j, b, head, d)
        x = _swap(x, (B, n1, wh, ww * n2 * heads * d))  # -> (B, i, a, j, b, head, d)
    else:
        x = _swap(x, (G, heads, N, d))  # -> (B, a, b, i, j, head, d)
        x = _swap(x, (B * n1, n2, wh, ww * heads * d))  # -> (B, a, i, b, j, head, d)
    return x.view(B, H, W, heads * d)


def softmax_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``softmax(q k^T / sqrt(d)) v`` over ``(G, heads, N, d)`` tensors (``v`` may be wider).

    Eager runs take ``scaled_dot_product_attention`` where it is the fast kernel. On the CPU
    with ``v`` wider than ``q`` -- the EMO case -- PyTorch has no fused kernel and falls back to
    its generic "math" attention (extra masking passes; slower, docs/performance.md), so eager
    CPU runs, training included, use two batched matmuls and a softmax, which compute the same
    thing. A traced or exported model (:func:`~emo_mm.models.layers.tracing.is_exporting`: FLOP
    counting, ``torch.export``, ONNX, ``torch.compile``) gets the plain form ``softmax((q @ k^T)
    * scale) @ v`` of 4-D matmuls: exporters decompose ``scaled_dot_product_attention`` into
    extra masking ops (``_safe_softmax``) that mobile runtimes run slowly or not at all, while
    the plain pattern is what their attention fusions look for. The choice depends only on
    device, widths and tracing, never on autograd, so training and inference take the same ops.

    Example:
        >>> q, k, v = torch.rand(2, 3, 16, 8), torch.rand(2, 3, 16, 8), torch.rand(2, 3, 16, 24)
        >>> ref = F.scaled_dot_product_attention(q, k, v)
        >>> torch.allclose(softmax_attention(q, k, v), ref, atol=1e-6)
        True
    """
    G, h, N, d = q.shape
    if is_exporting():
        return torch.matmul(q, k.transpose(-2, -1)).mul(d**-0.5).softmax(-1).matmul(v)
    if v.shape[-1] == q.shape[-1] or not q.is_cpu:
        return F.scaled_dot_product_attention(q, k, v)
    attn = torch.baddbmm(q.new_empty(1, 1, 1), q.reshape(G * h, N, d),
                         k.reshape(G * h, N, d).transpose(1, 2), beta=0, alpha=d**-0.5)
    return torch.bmm(attn.softmax(-1), v.reshape(G * h, N, -1)).view(G, h, N, -1)


def window_dims(window_size: int, H: int, W: int) -> Tuple[int, int, int, int]:
    """Window ``(wh, ww)`` and padded size ``(Hp, Wp)``; ``window_size <= 0`` means global.

    The padded size is written as ``ceil(H / wh) * wh`` so that, when traced symbolically
    (``torch.export`` with dynamic shapes), it is visibly a multiple of the window.
    """
    if window_size <= 0:
        return H, W, H, W
    wh = ww = window_size
    return wh, ww, (H + wh - 1) // wh * wh, (W + ww - 1) // ww * ww


def pad_to(x: torch.Tensor, Hp: int, Wp: int) -> torch.Tensor:
    """Zero-pad an NCHW map on the right / bottom to ``Hp x Wp``."""
    H, W = x.shape[-2:]
    if not is_exporting() and (Hp, Wp) == (H, W):
        return x  # (no data-dependent branch while exporting: the graph must fit every size)
    return F.pad(x, (0, Wp - W, 0, Hp - H))


class _WindowAttentionBase(nn.Module):
    """Shared arguments of the attention mixers.

    Args:
        channels (int): Input channels ``C``.
        mid_channels (int): Output channels of the ``v`` projection.
        head_dim (int): Query / key width per head; ``C`` must be divisible by it.
        window_size (int): Window size; ``<= 0`` means global attention.
        act (str): Activation after the ``v`` projection. Defaults to ``'gelu'``.
    """

    def __init__(self, channels: int, mid_channels: int, head_dim: int, window_size: int,
                 act: str = 'gelu'):
        super().__init__()
        if channels % head_dim != 0:
            raise ValueError(f'channels ({channels}) must be divisible by head_dim ({head_dim})')
        self.num_heads = channels // head_dim
        self.window_size = window_size
        self.qk = ConvNormAct(channels, 2 * channels, 1, bias=True)
        self.v = ConvNormAct(channels, mid_channels, 1, bias=True, act=act)

    def _attend(self, kind: str, qk: torch.Tensor, v: torch.Tensor, wh: int,
                ww: int) -> torch.Tensor:
        """Attention inside the groups of partition ``kind``: NHWC ``qk`` (q and k packed along
        the channels) and ``v`` in, ``(groups, heads, tokens, d_v)`` out."""
        qk = partition_heads(qk, kind, wh, ww, self.num_heads, parts=2)
        groups = qk.shape[0] // 2
        q, k = qk[:groups], qk[groups:]  # (slices: exporters turn a chunk into a split sequence)
        v = partition_heads(v, kind, wh, ww, self.num_heads)
        return softmax_attention(q, k, v)

    def extra_repr(self) -> str:
        return f'num_heads={self.num_heads}, window_size={self.window_size}'


class GridWindowAttention(_WindowAttentionBase):
    """EMO attention: grid-partitioned MHSA whose weights mix the *normalised input*.

    ``q, k = qk(x)``; ``out = softmax(q k^T / sqrt(d)) x`` inside each grid group (heads of
    ``head_dim`` channels of ``x``); then ``v`` (1x1 conv to ``mid_channels`` + GELU) is applied to
    the attended map (the official ``attn_pre=True`` order).

    Example:
        >>> attn = GridWindowAttention(80, 240, head_dim=20, window_size=7)
        >>> attn(torch.randn(1, 80, 14, 14)).shape
        torch.Size([1, 240, 14, 14])
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        H, W = x.shape[-2:]
        wh, ww, Hp, Wp = window_dims(self.window_size, H, W)
        x = pad_to(x, Hp, Wp)
        nhwc = x.permute(0, 2, 3, 1)
        out = self._attend('grid', self.qk(x).permute(0, 2, 3, 1), nhwc, wh, ww)
        out = merge_heads(out, 'grid', x.shape[0], Hp, Wp, wh, ww)
        return self.v(out[:, :H, :W].permute(0, 3, 1, 2))


class HybridWindowAttention(_WindowAttentionBase):
    """EMOv2 attention: one shared ``qk`` / ``v`` projection, attended both over grid groups
    (long range) and over local windows (short range); the two results are summed.

    ``v`` (1x1 conv to ``mid_channels`` + GELU) is computed *before* attention, so each head carries
    ``mid_channels / num_heads`` value channels.

    Example:
        >>> attn = HybridWindowAttention(80, 240, head_dim=20, window_size=7)
        >>> attn(torch.randn(1, 80, 14, 14)).shape
        torch.Size([1, 240, 14, 14])
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        H, W = x.shape[-2:]
        wh, ww, Hp, Wp = window_dims(self.window_size, H, W)
        x = pad_to(x, Hp, Wp)
        qk = self.qk(x).permute(0, 2, 3, 1)
        v = self.v(x).permute(0, 2, 3, 1)
        B = x.shape[0]
        out = merge_heads(self._attend('grid', qk, v, wh, ww), 'grid', B, Hp, Wp, wh, ww)
        out = out + merge_heads(self._attend('local', qk, v, wh, ww), 'local', B, Hp, Wp, wh, ww)
        return out[:, :H, :W].permute(0, 3, 1, 2)

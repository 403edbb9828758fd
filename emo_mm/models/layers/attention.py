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


def _group_view(kind: str, B: int, H: int, W: int, wh: int,
                ww: int) -> Tuple[Tuple[int, ...], Tuple[int, ...]]:
    """How a ``(B, H, W, ...)`` map splits into the groups of partition ``kind``.

    Returns the 5 leading sizes of the view (the batch and the two factors of each of H and W)
    and the positions, among those 5 dims, of ``(batch, a, b, row in group, column in group)``.
    """
    n1, n2 = H // wh, W // ww
    if kind == 'grid':  # row = i * n1 + a: the group index varies fastest
        return (B, wh, n1, ww, n2), (0, 2, 4, 1, 3)
    return (B, n1, wh, n2, ww), (0, 1, 3, 2, 4)  # local: row = a * wh + i


def partition_heads(x: torch.Tensor, kind: str, wh: int, ww: int, num_heads: int,
                    parts: int = 1) -> torch.Tensor:
    """Split an NHWC map into the attention groups of partition ``kind``, per head, in one copy.

    Args:
        x (Tensor): ``(B, n1*wh, n2*ww, parts * num_heads * d)``; the channels hold ``parts``
            tensors (e.g. q and k), each ``num_heads`` heads of ``d`` consecutive channels.
        kind (str): ``'grid'`` or ``'local'``.
        wh (int): Group height.
        ww (int): Group width.
        num_heads (int): Number of heads.
        parts (int): Number of tensors packed along the channels. Defaults to 1.

    Returns:
        Tensor: ``(parts, B*n1*n2, num_heads, wh*ww, d)``, contiguous.
    """
    B, H, W, C = x.shape
    sizes, (b, a1, a2, t1, t2) = _group_view(kind, B, H, W, wh, ww)
    d = C // (parts * num_heads)
    x = x.reshape(*sizes, parts, num_heads, d).permute(5, b, a1, a2, 6, t1, t2, 7)
    return x.reshape(parts, -1, num_heads, wh * ww, d).contiguous()


def merge_heads(x: torch.Tensor, kind: str, B: int, H: int, W: int, wh: int,
                ww: int) -> torch.Tensor:
    """Inverse of :func:`partition_heads` for one part, as a strided view (no copy).

    ``(B*n1*n2, heads, wh*ww, d)`` -> a 7-D view whose ``reshape(B, H, W, heads * d)`` is the
    NHWC map (see :func:`merge_heads_into`); it can also be added in place to such a map viewed
    the same way, so the two halves of the EMOv2 attention are summed without another copy.
    """
    sizes, order = _group_view(kind, B, H, W, wh, ww)
    n1, n2 = H // wh, W // ww
    grouped = x.view(B, n1, n2, x.shape[1], wh, ww, x.shape[-1])  # (b, a1, a2, head, t1, t2, d)
    # position of each of the 7 view dims (5 spatial + head + d) inside ``grouped``
    inverse = [0] * 5
    for src, dst in zip((0, 1, 2, 4, 5), order):
        inverse[dst] = src
    return grouped.permute(*inverse, 3, 6)


def merge_heads_into(x: torch.Tensor, kind: str, B: int, H: int, W: int, wh: int,
                     ww: int) -> torch.Tensor:
    """:func:`merge_heads` as a contiguous NHWC map ``(B, H, W, heads * d)`` (a copy unless
    the layouts coincide, e.g. one head and one group)."""
    return merge_heads(x, kind, B, H, W, wh, ww).reshape(B, H, W, -1).contiguous()


def _traced() -> bool:
    return (torch.jit.is_tracing() or torch.compiler.is_compiling()
            or torch.onnx.is_in_onnx_export())


def softmax_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``softmax(q k^T / sqrt(d)) v`` over ``(G, heads, N, d)`` tensors (``v`` may be wider).

    ``scaled_dot_product_attention`` runs where it is the fast kernel and whenever the model is
    traced (FLOP counting, ONNX export and ``torch.compile`` see that one op). On the CPU with
    ``v`` wider than ``q`` -- the EMO case -- PyTorch has no fused kernel and falls back to its
    generic "math" attention (extra masking passes; slower, docs/performance.md), so eager CPU
    runs, training included, use two batched matmuls and a softmax, which compute the same
    thing. The choice depends only on device, widths and tracing, never on autograd, so
    training and inference take the same ops.

    Example:
        >>> q, k, v = torch.rand(2, 3, 16, 8), torch.rand(2, 3, 16, 8), torch.rand(2, 3, 16, 24)
        >>> ref = F.scaled_dot_product_attention(q, k, v)
        >>> torch.allclose(softmax_attention(q, k, v), ref, atol=1e-6)
        True
    """
    if v.shape[-1] == q.shape[-1] or not q.is_cpu or _traced():
        return F.scaled_dot_product_attention(q, k, v)
    G, h, N, d = q.shape
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
    if not torch.compiler.is_compiling() and (Hp, Wp) == (H, W):
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
        q, k = partition_heads(qk, kind, wh, ww, self.num_heads, parts=2)
        v = partition_heads(v, kind, wh, ww, self.num_heads)[0]
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
        out = merge_heads_into(out, 'grid', x.shape[0], Hp, Wp, wh, ww)
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
        out = merge_heads_into(self._attend('grid', qk, v, wh, ww), 'grid', B, Hp, Wp, wh, ww)
        local = merge_heads(self._attend('local', qk, v, wh, ww), 'local', B, Hp, Wp, wh, ww)
        out = out + local.reshape(out.shape)
        return out[:, :H, :W].permute(0, 3, 1, 2)

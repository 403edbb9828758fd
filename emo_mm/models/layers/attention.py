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
from typing import Callable, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from .norm_act import ConvNormAct


def grid_partition(x: torch.Tensor, wh: int, ww: int) -> torch.Tensor:
    """``(B, n1*wh, n2*ww, C)`` -> ``(B*n1*n2, wh*ww, C)`` strided ("dilated") groups."""
    B, H, W, C = x.shape
    n1, n2 = H // wh, W // ww
    x = x.view(B, wh, n1, ww, n2, C).permute(0, 2, 4, 1, 3, 5)
    return x.reshape(B * n1 * n2, wh * ww, C)


def grid_reverse(x: torch.Tensor, batch: int, H: int, W: int, wh: int, ww: int) -> torch.Tensor:
    """Inverse of :func:`grid_partition`."""
    n1, n2 = H // wh, W // ww
    x = x.view(batch, n1, n2, wh, ww, -1).permute(0, 3, 1, 4, 2, 5)
    return x.reshape(batch, H, W, -1)


def local_partition(x: torch.Tensor, wh: int, ww: int) -> torch.Tensor:
    """``(B, n1*wh, n2*ww, C)`` -> ``(B*n1*n2, wh*ww, C)`` contiguous windows."""
    B, H, W, C = x.shape
    n1, n2 = H // wh, W // ww
    x = x.view(B, n1, wh, n2, ww, C).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(B * n1 * n2, wh * ww, C)


def local_reverse(x: torch.Tensor, batch: int, H: int, W: int, wh: int, ww: int) -> torch.Tensor:
    """Inverse of :func:`local_partition`."""
    n1, n2 = H // wh, W // ww
    x = x.view(batch, n1, n2, wh, ww, -1).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(batch, H, W, -1)


PARTITIONS = {'grid': (grid_partition, grid_reverse), 'local': (local_partition, local_reverse)}


def multi_head_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                         num_heads: int) -> torch.Tensor:
    """Softmax attention over token groups ``(G, N, C)``; heads take consecutive channels.

    ``q`` / ``k`` and ``v`` may have different widths (``C_qk / heads`` and ``C_v / heads`` per
    head). Uses the fused ``scaled_dot_product_attention`` (scale ``head_dim ** -0.5``).
    """
    G, N, _ = q.shape
    q, k, v = (t.reshape(G, N, num_heads, -1).transpose(1, 2) for t in (q, k, v))
    out = F.scaled_dot_product_attention(q, k, v)
    return out.transpose(1, 2).reshape(G, N, -1)


def window_dims(window_size: int, H: int, W: int) -> Tuple[int, int, int, int]:
    """Window ``(wh, ww)`` and padded size ``(Hp, Wp)``; ``window_size <= 0`` means global."""
    if window_size <= 0:
        return H, W, H, W
    wh = ww = window_size
    return wh, ww, H + (-H) % wh, W + (-W) % ww


def pad_to(x: torch.Tensor, Hp: int, Wp: int) -> torch.Tensor:
    """Zero-pad an NCHW map on the right / bottom to ``Hp x Wp``."""
    H, W = x.shape[-2:]
    if (Hp, Wp) == (H, W):
        return x
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

    def _attend(self, partition: str, qk: torch.Tensor, v: torch.Tensor, wh: int,
                ww: int) -> torch.Tensor:
        """Attention inside the groups of one partition; NHWC in, NHWC out (padded size)."""
        split, merge = PARTITIONS[partition]
        B, Hp, Wp, _ = qk.shape
        q, k = split(qk, wh, ww).chunk(2, dim=-1)
        out = multi_head_attention(q, k, split(v, wh, ww), self.num_heads)
        return merge(out, B, Hp, Wp, wh, ww)

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
        out = self._attend('grid', self.qk(x).permute(0, 2, 3, 1), x.permute(0, 2, 3, 1), wh, ww)
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
        out = self._attend('grid', qk, v, wh, ww) + self._attend('local', qk, v, wh, ww)
        return out[:, :H, :W].permute(0, 3, 1, 2)

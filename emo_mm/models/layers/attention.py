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
from typing import List, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .norm_act import ConvNormAct
from .tracing import is_exporting, max_export_rank


def _swap(x: torch.Tensor, shape: Tuple[int, int, int, int]) -> torch.Tensor:
    """``x`` viewed as ``(B, X, Y, Z)`` with the blocks ``X`` and ``Y`` of every image swapped,
    copied to a contiguous tensor (the batch stays the first axis, as ncnn requires).

    ``clone`` copies unconditionally: a ``reshape`` / ``contiguous`` would first test whether the
    copy can be skipped (when an axis has size 1), and ``torch.export`` turns that test into a
    guard that pins the number of windows to the example's.

    When one of the swapped blocks is known (a plain int, i.e. not a symbolic size of a dynamic
    export) to have size 1, nothing moves: the result is a reshape, and the graph has one copy
    less (the one-window stage 4 of a 224 x 224 classifier; a runtime runs every copy).
    """
    B, X, Y, Z = shape
    if (isinstance(X, int) and X == 1) or (isinstance(Y, int) and Y == 1):
        return x.reshape(B, Y, X, Z)
    return x.reshape(shape).transpose(1, 2).clone(memory_format=torch.contiguous_format)


def partition_heads(x: torch.Tensor, kind: str, wh: int, ww: int, num_heads: int,
                    parts: int = 1) -> List[torch.Tensor]:
    """Split an NHWC map into the attention groups of partition ``kind``, per head.

    Eager runs make one copy through an 8-D permute. Traced / exported graphs
    (:func:`~emo_mm.models.layers.tracing.is_exporting`) take the same values, bit for bit, in
    two or three steps that each view the data as ``(B, X, Y, Z)`` and swap ``X`` and ``Y``:
    XNNPACK, Core ML, ncnn and other runtimes take no tensor of higher rank, and ncnn none
    whose first axis is not the batch. (The steps make more copies than the one permute: in
    eager CPU inference they made the grouped attention of an EMOv2 stage-3 block 1.9x slower;
    in onnxruntime the model a few % slower, hence
    :func:`~emo_mm.models.layers.tracing.export_max_rank` to keep the 8-D form.)

    Args:
        x (Tensor): ``(B, n1*wh, n2*ww, parts * num_heads * d)``; the channels hold ``parts``
            tensors (e.g. q and k), each ``num_heads`` heads of ``d`` consecutive channels.
        kind (str): ``'grid'`` or ``'local'``.
        wh (int): Group height.
        ww (int): Group width.
        num_heads (int): Number of heads.
        parts (int): Number of tensors packed along the channels. Defaults to 1.

    Returns:
        list[Tensor]: ``parts`` tensors whose elements are in ``(batch, a, b, head, token, d)``
        order: ``(B*n1*n2, num_heads, wh*ww, d)`` and contiguous in eager runs,
        ``(B, n1*n2*num_heads, wh*ww, d)`` slices when exporting.
    """
    B, H, W, C = x.shape
    n1, n2, c = H // wh, W // ww, C // parts
    d = c // num_heads
    if not is_exporting() or max_export_rank() >= 8:
        if kind == 'grid':  # row = i * n1 + a, column = j * n2 + b (i, j: position in the group)
            x = x.reshape(B, wh, n1, ww, n2, parts, num_heads, d).permute(5, 0, 2, 4, 6, 1, 3, 7)
        else:  # local: row = a * wh + i, column = b * ww + j
            x = x.reshape(B, n1, wh, n2, ww, parts, num_heads, d).permute(5, 0, 1, 3, 6, 2, 4, 7)
        return list(x.reshape(parts, B * n1 * n2, num_heads, wh * ww, d).contiguous())
    # per image: (i, a, j, b, part, head, d) for a grid, (a, i, b, j, part, head, d) for a local
    # partition, to (part, a, b, head, i, j, d)
    if kind == 'grid':
        x = _swap(x, (B, wh * n1 * ww, n2 * parts * num_heads, d))  # (b, p, head, i, a, j, d)
        x = _swap(x, (B, n2 * parts * num_heads * wh, n1, ww * d))  # (a, b, p, head, i, j, d)
        if parts > 1:
            x = _swap(x, (B, n1 * n2, parts, num_heads * wh * ww * d))
    else:
        x = _swap(x, (B, n1 * wh * n2, ww * parts, num_heads * d))  # (j, p, a, i, b, head, d)
        x = _swap(x, (B, ww * parts * n1, wh, n2 * num_heads * d))  # (i, j, p, a, b, head, d)
        x = _swap(x, (B, wh * ww, parts * n1 * n2 * num_heads, d))
    groups = n1 * n2 * num_heads
    x = x.view(B, parts * groups, wh * ww, d)
    if parts == 1:  # (a slice of the whole would be exported as a copy: alias_copy)
        return [x]
    return [x[:, p * groups:(p + 1) * groups] for p in range(parts)]


def merge_heads(x: torch.Tensor, kind: str, B: int, H: int, W: int, wh: int,
                ww: int) -> torch.Tensor:
    """Inverse of :func:`partition_heads` for one part (``(batch, a, b, head, token, d)``
    order, either shape) -> the contiguous NHWC map ``(B, H, W, heads * d)``."""
    d = x.shape[-1]
    n1, n2 = H // wh, W // ww
    heads = x.shape[0] * x.shape[1] // (B * n1 * n2)
    if not is_exporting() or max_export_rank() >= 8:
        x = x.view(B, n1, n2, heads, wh, ww, d)
        x = x.permute(0, 4, 1, 5, 2, 3, 6) if kind == 'grid' else x.permute(0, 1, 4, 2, 5, 3, 6)
        return x.reshape(B, H, W, heads * d).contiguous()
    # per image: (a, b, head, i, j, d) -> (i, a, j, b, head, d) / (a, i, b, j, head, d)
    if kind == 'grid':
        x = _swap(x, (B, n1, n2 * heads * wh, ww * d))  # (b, head, i, a, j, d)
        x = _swap(x, (B, n2 * heads, wh * n1 * ww, d))
    else:
        x = _swap(x, (B, n1, n2 * heads, wh * ww * d))  # (b, head, a, i, j, d)
        x = _swap(x, (B, n2, heads * n1 * wh, ww * d))  # (head, a, i, b, j, d)
        x = _swap(x, (B, heads, n1 * wh * n2 * ww, d))
    return x.view(B, H, W, heads * d)


def softmax_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``softmax(q k^T / sqrt(d)) v`` over ``(G, heads, N, d)`` tensors (``v`` may be wider).

    Eager runs take ``scaled_dot_product_attention`` where it is the fast kernel. On the CPU
    with ``v`` wider than ``q`` -- the EMO case -- PyTorch has no fused kernel and falls back to
    its generic "math" attention (extra masking passes; slower, docs/performance.md), so eager
    CPU runs, training included, use two batched matmuls and a softmax, which compute the same
    thing. A traced or exported model (:func:`~emo_mm.models.layers.tracing.is_exporting`: FLOP
    counting, ``torch.export``, ONNX, ``torch.compile``) gets the plain form ``softmax((q @ k^T)
    * scale) @ v`` as two 3-D batched matmuls: exporters decompose
    ``scaled_dot_product_attention`` into extra masking ops (``_safe_softmax``) that mobile
    runtimes run slowly or not at all, while the plain pattern is what their attention fusions
    look for; and a 4-D ``matmul`` is lowered as ``expand`` + ``bmm``, whose ``expand_copy``
    ExecuTorch runs outside its XNNPACK delegate (a copy of q, k and v: 5-10 % of EMO-1M /
    EMOv2-1M there). The choice depends only on
    device, widths and tracing, never on autograd, so training and inference take the same ops.

    Example:
        >>> q, k, v = torch.rand(2, 3, 16, 8), torch.rand(2, 3, 16, 8), torch.rand(2, 3, 16, 24)
        >>> ref = F.scaled_dot_product_attention(q, k, v)
        >>> torch.allclose(softmax_attention(q, k, v), ref, atol=1e-6)
        True
    """
    G, h, N, d = q.shape
    if is_exporting():
        attn = torch.bmm(q.reshape(G * h, N, d), k.reshape(G * h, N, d).transpose(1, 2))
        return torch.bmm(attn.mul(d**-0.5).softmax(-1), v.reshape(G * h, N, -1)).view(G, h, N, -1)
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


def _known_equal(a, b) -> bool:
    """``a == b`` for sizes that are plain ints. A dynamic export's symbolic sizes are never
    compared (a data-dependent branch: the graph must fit every size); a static one's are ints,
    and its graph fits the example's size only anyway."""
    return all(isinstance(v, int) for v in (*a, *b)) and tuple(a) == tuple(b)


def pad_to(x: torch.Tensor, Hp: int, Wp: int) -> torch.Tensor:
    """Zero-pad an NCHW map on the right / bottom to ``Hp x Wp``.

    An empty padding is left out where the sizes are known: an exported ``pad`` by zero
    becomes a copy (``alias_copy``) that ExecuTorch runs outside its XNNPACK delegate."""
    H, W = x.shape[-2:]
    if (not is_exporting() or _known_equal((H, W), (Hp, Wp))) and (Hp, Wp) == (H, W):
        return x
    return F.pad(x, (0, Wp - W, 0, Hp - H))


def crop_to(x: torch.Tensor, H: int, W: int) -> torch.Tensor:
    """The top-left ``H x W`` of an NHWC map (the inverse of :func:`pad_to`; no op where the
    sizes are known to match, as there)."""
    if (not is_exporting() or _known_equal(x.shape[1:3], (H, W))) and x.shape[1:3] == (H, W):
        return x
    return x[:, :H, :W]


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
        the channels) and ``v`` in, the attended ``v`` (see :func:`partition_heads`) out."""
        q, k = partition_heads(qk, kind, wh, ww, self.num_heads, parts=2)
        v, = partition_heads(v, kind, wh, ww, self.num_heads)
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
        return self.v(crop_to(out, H, W).permute(0, 3, 1, 2))


class HybridWindowAttention(_WindowAttentionBase):
    """EMOv2 attention: one shared ``qk`` / ``v`` projection, attended both over grid groups
    (long range) and over local windows (short range); the two results are summed.

    ``v`` (1x1 conv to ``mid_channels`` + GELU) is computed *before* attention, so each head carries
    ``mid_channels / num_heads`` value channels. Where the padded map is a single window (stage
    4 of a 224 x 224 classifier, global attention) the two attentions see the same groups and
    give the same values, so one is computed and doubled (exactly: ``a + a``).

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
        if _known_equal((Hp, Wp), (wh, ww)):  # one window: the grid group is the local window
            out = out + out
        else:
            out = out + merge_heads(self._attend('local', qk, v, wh, ww), 'local', B, Hp, Wp,
                                    wh, ww)
        return crop_to(out, H, W).permute(0, 3, 1, 2)

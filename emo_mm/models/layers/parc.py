"""Layers of EdgeFormer / ParC-Net: global circular convolutions (ParC, called GCC in the
EdgeFormer paper), the ParC block, the local-global fusion block and the MobileNetV2 block.

A global circular convolution mixes each channel along one axis with a kernel as long as the
feature map, wrapping around the border (no padding)::

    H axis:  y[c, i, j] = sum_t k_c[t] * x[c, (i + t) mod H, j]      (t = 0 .. H - 1)

The window *starts* at the output position (PyTorch cross-correlation semantics, not centred).
Each layer stores a *meta kernel* of fixed length ``K`` (the feature size at the 256 x 256
training size) and resamples it to the actual size ``N`` of its axis at every call by linear
interpolation with ``align_corners=True``; the learned axial position embeddings are resampled in
the same way. H-direction parameters follow the height, W-direction ones the width, so any
``H x W`` works (the official code takes one size from the height and fails on non-square inputs;
for square inputs both agree).

The convolution is computed as a product with the ``N x N`` circulant matrix of the resampled
kernel (``C[i, j] = k[(j - i) mod N]``): the same multiply-adds as the official depthwise
``N x 1`` convolution of the circularly padded map, but built from matmuls, gathers and
element-wise ops only, so the model exports to ONNX at any input size (the official form, a conv
whose weight is computed at run time, does not).
"""
import math
from collections import OrderedDict

import torch
import torch.nn as nn

from .norm_act import ConvNormAct, build_norm, fold_bn_before_pointwise_conv
from .tracing import is_exporting

#: BatchNorm epsilon of EdgeFormer (PyTorch's default; the EMO layers default to 1e-6).
PARC_NORM_EPS = 1e-5
AXES = ('h', 'w')


def linear_resize_matrix(src: int, dst: int, like: torch.Tensor) -> torch.Tensor:
    """The ``(dst, src)`` matrix that resamples a length-``src`` vector to length ``dst``.

    Linear interpolation with ``align_corners=True`` (``F.interpolate(v, dst, mode='linear',
    align_corners=True)``): output ``n`` samples position ``p = n (src - 1) / (dst - 1)`` with the
    hat weights ``max(0, 1 - |p - k|)``; ``dst == src`` gives the identity, ``dst == 1`` the first
    tap.

    Args:
        src (int): Input length.
        dst (int): Output length (may be symbolic while exporting).
        like (Tensor): Gives the dtype and device.

    Returns:
        Tensor: ``(dst, src)`` weights; ``v @ M.T`` resamples the last axis of ``v``.

    Example:
        >>> m = linear_resize_matrix(3, 5, torch.zeros(1))
        >>> (torch.tensor([0., 2., 4.]) @ m.T).tolist()
        [0.0, 1.0, 2.0, 3.0, 4.0]
    """
    taps = torch.arange(src, dtype=like.dtype, device=like.device)
    index = torch.arange(dst, dtype=like.dtype, device=like.device)
    # positions as F.interpolate computes them (float scale (src - 1) / (dst - 1), times the
    # index), from tensors only: symbolic-size scalars do not export
    scale = (taps[-1:] / index[-1:].clamp(min=1)) if src > 1 else taps[:1]
    positions = index * scale
    return (1 - (positions[:, None] - taps[None, :]).abs()).clamp(min=0)


def circulant(kernel: torch.Tensor) -> torch.Tensor:
    """``(C, N) -> (C, N, N)`` circulant matrices ``out[c, i, j] = kernel[c, (j - i) mod N]``.

    Example:
        >>> circulant(torch.tensor([[1., 2., 3.]]))[0].tolist()
        [[1.0, 2.0, 3.0], [3.0, 1.0, 2.0], [2.0, 3.0, 1.0]]
    """
    n = kernel.shape[-1]
    rows = torch.arange(n, device=kernel.device)
    columns = torch.arange(n, 2 * n, device=kernel.device)  # j + N: no modulo (it does not export)
    return torch.cat([kernel, kernel], dim=-1)[:, columns[None, :] - rows[:, None]]


class _AxialParameter(nn.Module):
    """A ``(channels, size)`` parameter along one axis, resampled to the input's size."""

    def __init__(self, channels: int, size: int, axis: str):
        super().__init__()
        if axis not in AXES:
            raise ValueError(f'axis must be one of {AXES}, got {axis!r}')
        if size < 2:
            raise ValueError(f'meta kernel / position embedding size must be >= 2, got {size}')
        self.axis = axis
        self.size = size
        self.weight = nn.Parameter(torch.empty(channels, size))

    def resampled(self, length: int) -> torch.Tensor:
        """The ``(channels, length)`` weights for an axis of ``length`` samples."""
        return self.weight @ linear_resize_matrix(self.size, length, self.weight).T

    def _length(self, x: torch.Tensor) -> int:
        return x.shape[2] if self.axis == 'h' else x.shape[3]

    def extra_repr(self) -> str:
        return f'{self.weight.shape[0]}, size={self.size}, axis={self.axis!r}'


class GlobalCircularConv(_AxialParameter):
    """Depthwise global circular convolution along ``axis`` (see the module docstring).

    Args:
        channels (int): Channels (one kernel each).
        meta_kernel_size (int): Stored kernel length ``K``, resampled to the axis length.
        axis (str): ``'h'`` (along the height) or ``'w'`` (along the width).

    Example:
        >>> conv = GlobalCircularConv(8, meta_kernel_size=16, axis='h')
        >>> conv(torch.randn(2, 8, 11, 7)).shape  # any size: the kernel is resampled to 11 taps
        torch.Size([2, 8, 11, 7])
    """

    def __init__(self, channels: int, meta_kernel_size: int, axis: str):
        super().__init__(channels, meta_kernel_size, axis)
        bound = 1 / math.sqrt(meta_kernel_size)  # PyTorch's default init of the official conv
        nn.init.uniform_(self.weight, -bound, bound)
        self._cached = (None, None)

    def matrix(self, x: torch.Tensor) -> torch.Tensor:
        """The ``(C, N, N)`` circulant matrices for input ``x``.

        In eager inference without autograd the matrices of the last size are kept until the
        weight changes (new values, device or dtype).
        """
        length = self._length(x)
        if torch.is_grad_enabled() or is_exporting():
            return circulant(self.resampled(length))
        key = (length, self.weight._version, self.weight.data_ptr(), self.weight.dtype)
        if self._cached[0] != key:
            self._cached = (key, circulant(self.resampled(length)))
        return self._cached[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        matrix = self.matrix(x)  # (C, N, N)
        if self.axis == 'h':
            return torch.matmul(matrix, x)
        return torch.matmul(x, matrix.transpose(1, 2))


class AxialPositionEmbedding(_AxialParameter):
    """Learned position embedding that varies along ``axis`` and is constant along the other.

    Args:
        channels (int): Channels.
        size (int): Stored length ``K``, resampled to the axis length like the kernels.
        axis (str): ``'h'`` or ``'w'``.

    Example:
        >>> pe = AxialPositionEmbedding(4, size=8, axis='w')
        >>> pe(torch.zeros(1, 4, 3, 5)).shape
        torch.Size([1, 4, 3, 5])
    """

    def __init__(self, channels: int, size: int, axis: str):
        super().__init__(channels, size, axis)
        nn.init.normal_(self.weight, std=1.)  # official init: N(0, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        embedding = self.resampled(self._length(x))
        shape = (1, -1, embedding.shape[1], 1) if self.axis == 'h' else (1, -1, 1, embedding.shape[1])
        return x + embedding.reshape(shape)


class ParCBranch(nn.Module):
    """One half of a ParC block: ``x + conv2(conv1(norm(x [+ pe1])) [+ pe2])``.

    ``conv1`` runs along ``first_axis``, ``conv2`` along the other one; the spatial part is linear
    (no activation). The position embeddings (first block of a stage only) are added before the
    norm and between the two convolutions, as in the official block.

    Args:
        channels (int): Channels of this half.
        meta_kernel_size (int): ``K`` of the kernels and position embeddings.
        first_axis (str): ``'h'`` or ``'w'``.
        pos_embed (bool): Add learned position embeddings.
        norm_eps (float): BatchNorm epsilon. Defaults to 1e-5.
    """

    def __init__(self, channels: int, meta_kernel_size: int, first_axis: str, pos_embed: bool,
                 norm_eps: float = PARC_NORM_EPS):
        super().__init__()
        second_axis = 'w' if first_axis == 'h' else 'h'
        self.pos_embed1 = (AxialPositionEmbedding(channels, meta_kernel_size, first_axis)
                           if pos_embed else nn.Identity())
        self.norm = build_norm('bn', channels, norm_eps)
        self.conv1 = GlobalCircularConv(channels, meta_kernel_size, first_axis)
        self.pos_embed2 = (AxialPositionEmbedding(channels, meta_kernel_size, second_axis)
                           if pos_embed else nn.Identity())
        self.conv2 = GlobalCircularConv(channels, meta_kernel_size, second_axis)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv1(self.norm(self.pos_embed1(x)))
        return x + self.conv2(self.pos_embed2(y))


class BNSqueezeExcite(nn.Module):
    """Squeeze-excite with BatchNorms: ``x * hsigmoid(BN(W2 hswish(BN(W1 mean(x)))))``.

    The convs have no bias. Unlike :class:`~emo_mm.models.layers.SqueezeExcite` (biased convs,
    SiLU, sigmoid) it normalises the pooled ``(N, C, 1, 1)`` vector, so training mode needs at
    least two images per batch (or ``norm_eval=True`` in the backbone).

    Args:
        channels (int): Input / output channels.
        reduced_channels (int): Hidden channels.
        norm_eps (float): BatchNorm epsilon. Defaults to 1e-5.
        deploy (bool): Build the BN-folded form directly. Defaults to False.
    """

    def __init__(self, channels: int, reduced_channels: int, norm_eps: float = PARC_NORM_EPS,
                 deploy: bool = False):
        super().__init__()
        bn = dict(norm='bn', norm_eps=norm_eps, deploy=deploy)
        self.reduce = ConvNormAct(channels, reduced_channels, 1, **bn)
        self.act = nn.Hardswish()
        self.expand = ConvNormAct(reduced_channels, channels, 1, **bn)
        self.gate = nn.Hardsigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        norm = self.reduce.norm  # an Identity once folded (deploy)
        if isinstance(norm, nn.BatchNorm2d) and norm.training and x.shape[0] == 1:
            raise ValueError('EdgeFormer channel attention normalises one pooled vector per image '
                             'with BatchNorm: training needs >= 2 images per batch (per GPU), or '
                             'norm_eval=True in the backbone')
        pooled = x.mean((2, 3), keepdim=True)
        return x * self.gate(self.expand(self.act(self.reduce(pooled))))


class ParCBlock(nn.Module):
    """The ParC (GCC) meta-former block: two axial ParC halves, then a BN pre-norm FFN whose output
    is gated by :class:`BNSqueezeExcite` before the residual add.

    ``x = cat(hw(x_a), wh(x_b))`` (each half with its own residual), then
    ``x + SE(FFN(x))`` with ``FFN = BN -> 1x1 (bias) -> Hardswish -> 1x1 (bias) -> Dropout``.
    No LayerNorm, layer scale or drop path (official).

    Args:
        channels (int): Block width ``S`` (even).
        ffn_channels (int): FFN hidden width ``F``.
        meta_kernel_size (int): ``K`` of the kernels / position embeddings.
        pos_embed (bool): Learned position embeddings (first block of a stage).
        drop_rate (float): Dropout after the FFN. Defaults to 0.1 (official).
        norm_eps (float): BatchNorm epsilon. Defaults to 1e-5.
        deploy (bool): Build the BN-folded form directly (FFN pre-norm folded into ``fc1``,
            channel-attention BNs into their convs; see :meth:`switch_to_deploy`).
            Defaults to False.

    Example:
        >>> block = ParCBlock(32, 64, meta_kernel_size=8, pos_embed=True).eval()
        >>> block(torch.randn(2, 32, 9, 6)).shape
        torch.Size([2, 32, 9, 6])
    """

    def __init__(self, channels: int, ffn_channels: int, meta_kernel_size: int, pos_embed: bool,
                 drop_rate: float = 0.1, norm_eps: float = PARC_NORM_EPS, deploy: bool = False):
        super().__init__()
        if channels % 2:
            raise ValueError(f'ParC block width must be even (two halves), got {channels}')
        half = channels // 2
        self.hw = ParCBranch(half, meta_kernel_size, 'h', pos_embed, norm_eps)
        self.wh = ParCBranch(half, meta_kernel_size, 'w', pos_embed, norm_eps)
        self.ffn = nn.Sequential(OrderedDict(
            norm=build_norm('none' if deploy else 'bn', channels, norm_eps),
            fc1=nn.Conv2d(channels, ffn_channels, 1),
            act=nn.Hardswish(),
            fc2=nn.Conv2d(ffn_channels, channels, 1),
            drop=nn.Dropout(drop_rate)))
        self.ca = BNSqueezeExcite(channels, channels // 16, norm_eps, deploy)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = x.chunk(2, dim=1)
        x = torch.cat([self.hw(a), self.wh(b)], dim=1)
        return x + self.ca(self.ffn(x))

    def switch_to_deploy(self) -> None:
        """Fold the FFN's BN pre-norm into its first 1x1 conv (in place; eval mode). The
        channel attention's units fold themselves; the pre-norms of the two halves stay."""
        if isinstance(self.ffn.norm, nn.BatchNorm2d):
            self.ffn.fc1 = fold_bn_before_pointwise_conv(self.ffn.norm, self.ffn.fc1)
            self.ffn.norm = nn.Identity()


class ParCFusionBlock(nn.Module):
    """Local -> global (ParC blocks) -> fusion, the MobileViT-style frame of EdgeFormer stages 3-5.

    ``local``: 3x3 conv ``C -> S`` with ``gcd(S, C)`` groups + BN + SiLU; ``proj_in``: 1x1 conv
    (no norm / act); ``blocks``: ``depth`` :class:`ParCBlock` (position embeddings in the first);
    ``norm``: BN; ``proj_out``: 1x1 conv ``S -> C`` (``gcd`` groups) + BN + SiLU; ``fusion``: 3x3
    conv + BN + SiLU of ``cat(global, x)`` (``'concat'``, ``2C -> C``) or of ``global + x``
    (``'add'``). No residual around the block (official).

    Args:
        channels (int): Input / output width ``C``.
        global_channels (int): ParC width ``S``.
        ffn_channels (int): FFN width ``F`` of the ParC blocks.
        depth (int): Number of ParC blocks.
        meta_kernel_size (int): ``K`` of the ParC blocks.
        fusion (str): ``'concat'`` or ``'add'``. Defaults to ``'concat'``.
        drop_rate (float): FFN dropout of the ParC blocks. Defaults to 0.1.
        norm_eps (float): BatchNorm epsilon. Defaults to 1e-5.
        deploy (bool): Build the BN-folded form of the units directly. Defaults to False.

    Example:
        >>> block = ParCFusionBlock(16, 32, 64, depth=2, meta_kernel_size=8).eval()
        >>> block(torch.randn(2, 16, 8, 10)).shape
        torch.Size([2, 16, 8, 10])
    """
    FUSIONS = ('concat', 'add')

    def __init__(self, channels: int, global_channels: int, ffn_channels: int, depth: int,
                 meta_kernel_size: int, fusion: str = 'concat', drop_rate: float = 0.1,
                 norm_eps: float = PARC_NORM_EPS, deploy: bool = False):
        super().__init__()
        if fusion not in self.FUSIONS:
            raise ValueError(f'Unknown fusion {fusion!r}; valid choices: {self.FUSIONS}')
        groups = math.gcd(channels, global_channels)
        bn = dict(norm='bn', norm_eps=norm_eps, deploy=deploy)
        self.concat = fusion == 'concat'
        self.local = ConvNormAct(channels, global_channels, 3, groups=groups, act='silu', **bn)
        self.proj_in = ConvNormAct(global_channels, global_channels, 1)
        self.blocks = nn.ModuleList([
            ParCBlock(global_channels, ffn_channels, meta_kernel_size, pos_embed=i == 0,
                      drop_rate=drop_rate, norm_eps=norm_eps, deploy=deploy) for i in range(depth)
        ])
        self.norm = build_norm('bn', global_channels, norm_eps)
        self.proj_out = ConvNormAct(global_channels, channels, 1, groups=groups, act='silu', **bn)
        self.fusion = ConvNormAct(2 * channels if self.concat else channels, channels, 3,
                                  act='silu', **bn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.proj_in(self.local(x))
        for block in self.blocks:
            y = block(y)
        y = self.proj_out(self.norm(y))
        return self.fusion(torch.cat([y, x], dim=1) if self.concat else y + x)


class MobileNetV2Block(nn.Module):
    """MobileNetV2 inverted residual: 1x1 expand + BN + SiLU -> 3x3 depthwise (stride) + BN + SiLU
    -> 1x1 project + BN, with a residual when the stride is 1 and the widths match.

    Not :class:`~emo_mm.models.layers.InvertedResidualMobileBlock`: that block has an inner
    residual around its depthwise conv and no norm after its projection.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        stride (int): Stride of the depthwise conv. Defaults to 1.
        expand_ratio (float): Hidden width / input width (rounded to a multiple of 8).
            Defaults to 4.
        norm_eps (float): BatchNorm epsilon. Defaults to 1e-5.
        deploy (bool): Build the BN-folded form directly. Defaults to False.

    Example:
        >>> MobileNetV2Block(16, 32, stride=2)(torch.randn(1, 16, 9, 9)).shape
        torch.Size([1, 32, 5, 5])
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1,
                 expand_ratio: float = 4., norm_eps: float = PARC_NORM_EPS,
                 deploy: bool = False):
        super().__init__()
        # MobileNetV2's rounding: a multiple of 8, never more than 10% below
        from mmpretrain.models.utils import make_divisible  # (imports mmpretrain: only here)
        hidden = make_divisible(round(in_channels * expand_ratio), 8)
        bn = dict(norm='bn', norm_eps=norm_eps, deploy=deploy)
        self.has_skip = stride == 1 and in_channels == out_channels
        self.expand = ConvNormAct(in_channels, hidden, 1, act='silu', **bn)
        self.dw = ConvNormAct(hidden, hidden, 3, stride, groups=hidden, act='silu', **bn)
        self.project = ConvNormAct(hidden, out_channels, 1, **bn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.dw(self.expand(x)))
        return x + y if self.has_skip else y

"""Normalisation / activation / conv units shared by EMO and EMOv2.

Official quirks reproduced on purpose (they are needed for numerical parity with released
checkpoints): every BatchNorm and LayerNorm uses ``eps=1e-6`` (not the PyTorch / mmcv 1e-5), and
GELU is the exact erf form (no tanh approximation).

These are the reference forwards; the CPU inference fast path (fused oneDNN kernels, in-place
ops) is applied to a built model by :mod:`emo_mm.models.fast_cpu`.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.fusion import fuse_conv_bn_eval

NORM_EPS = 1e-6
NORMS = ('bn', 'ln', 'none')
ACTS = ('silu', 'gelu', 'none')


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channel dimension of an ``(N, C, H, W)`` map.

    Computed in NHWC, which is a free view for channels-last tensors, and returned as an NCHW
    tensor (channels-last strided when the input was).

    Args:
        num_channels (int): Number of channels ``C``.
        eps (float): Epsilon. Defaults to 1e-6 (the EMO value).

    Example:
        >>> norm = LayerNorm2d(8)
        >>> norm(torch.randn(2, 8, 5, 5)).shape
        torch.Size([2, 8, 5, 5])
    """

    def __init__(self, num_channels: int, eps: float = NORM_EPS):
        super().__init__(num_channels, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.layer_norm(x.permute(0, 2, 3, 1), self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


def build_norm(name: str, channels: int, eps: float = NORM_EPS) -> nn.Module:
    """Build ``'bn'`` (BatchNorm2d), ``'ln'`` (:class:`LayerNorm2d`) or ``'none'`` (Identity)."""
    if name == 'bn':
        return nn.BatchNorm2d(channels, eps=eps)
    if name == 'ln':
        return LayerNorm2d(channels, eps=eps)
    if name == 'none':
        return nn.Identity()
    raise ValueError(f'Unknown norm {name!r}; valid choices: {NORMS}')


def build_act(name: str) -> nn.Module:
    """Build ``'silu'``, ``'gelu'`` (exact erf GELU) or ``'none'`` (Identity)."""
    if name == 'silu':
        return nn.SiLU()
    if name == 'gelu':
        return nn.GELU()  # exact (erf) GELU, as timm's GELU used by the official models
    if name == 'none':
        return nn.Identity()
    raise ValueError(f'Unknown activation {name!r}; valid choices: {ACTS}')


def fold_bn_before_pointwise_conv(bn: nn.BatchNorm2d, conv: nn.Conv2d) -> nn.Conv2d:
    """Return a 1x1 conv (bias=True) equal to ``conv(bn(x))`` in eval mode.

    Exact because a 1x1, ungrouped, unpadded conv sees no padded zeros.
    """
    assert conv.kernel_size == (1, 1) and conv.groups == 1 and conv.padding == (0, 0)
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    shift = bn.bias - bn.running_mean * scale
    weight = conv.weight[:, :, 0, 0]
    bias = conv.bias if conv.bias is not None else torch.zeros(conv.out_channels, device=weight.device)
    fused = nn.Conv2d(conv.in_channels, conv.out_channels, 1, conv.stride, bias=True)
    fused.weight.data.copy_(conv.weight * scale.view(1, -1, 1, 1))
    fused.bias.data.copy_(bias + weight @ shift)
    return fused.to(conv.weight.device)


class ConvNormAct(nn.Module):
    """``conv -> norm -> act`` with "same" padding (``k // 2``; stride-2 outputs are ``ceil(H / 2)``).

    Submodules are named ``conv``, ``norm``, ``act`` (Identity when absent), which is the official
    checkpoint layout. :meth:`switch_to_deploy` folds a BatchNorm into the conv.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        kernel_size (int): Kernel size. Defaults to 1.
        stride (int): Stride. Defaults to 1.
        groups (int): Conv groups. Defaults to 1.
        bias (bool): Conv bias. Defaults to False.
        norm (str): ``'bn'``, ``'ln'`` or ``'none'``. Defaults to ``'none'``.
        act (str): ``'silu'``, ``'gelu'`` or ``'none'``. Defaults to ``'none'``.
        deploy (bool): Build the BN-folded form directly. Defaults to False.
        norm_eps (float): Epsilon of the norm. Defaults to :data:`NORM_EPS` (EMO's 1e-6).

    Example:
        >>> unit = ConvNormAct(8, 16, kernel_size=3, stride=2, norm='bn', act='silu')
        >>> unit(torch.randn(1, 8, 7, 7)).shape
        torch.Size([1, 16, 4, 4])
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 1, stride: int = 1,
                 groups: int = 1, bias: bool = False, norm: str = 'none', act: str = 'none',
                 deploy: bool = False, norm_eps: float = NORM_EPS):
        super().__init__()
        fold = deploy and norm == 'bn'
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2,
                              groups=groups, bias=bias or fold)
        self.norm = build_norm('none' if fold else norm, out_channels, norm_eps)
        self.act = build_act(act)
        self.act_name = act  # read by the CPU fast path

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(self.conv(x)))

    def switch_to_deploy(self) -> None:
        """Fold a BatchNorm into the conv (no-op otherwise; the folded pair is put in eval mode:
        its running statistics are what is folded)."""
        if isinstance(self.norm, nn.BatchNorm2d):
            self.conv = fuse_conv_bn_eval(self.conv.eval(), self.norm.eval())
            self.norm = nn.Identity()


class LayerScale2d(nn.Module):
    """Per-channel learnable scale ``gamma`` of shape ``(1, C, 1, 1)`` (EMOv2).

    Args:
        channels (int): Number of channels.
        init_value (float): Initial value. Defaults to 1e-6.

    Example:
        >>> scale = LayerScale2d(4, init_value=0.5)
        >>> scale(torch.ones(1, 4, 2, 2))[0, :, 0, 0]
        tensor([0.5000, 0.5000, 0.5000, 0.5000], grad_fn=<SelectBackward0>)
    """

    def __init__(self, channels: int, init_value: float = 1e-6):
        super().__init__()
        self.gamma = nn.Parameter(torch.full((1, channels, 1, 1), init_value))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation with a conv reduce / expand pair (timm layout, used in the EMO stem).

    Args:
        channels (int): Input / output channels.
        reduced_channels (int): Hidden channels.
        act (str): Hidden activation. Defaults to ``'silu'``.

    Example:
        >>> se = SqueezeExcite(16, 4)
        >>> se.gate(torch.randn(2, 16, 5, 5)).shape  # one gate in (0, 1) per channel
        torch.Size([2, 16, 1, 1])
        >>> se(torch.randn(2, 16, 5, 5)).shape
        torch.Size([2, 16, 5, 5])
    """

    def __init__(self, channels: int, reduced_channels: int, act: str = 'silu'):
        super().__init__()
        self.conv_reduce = nn.Conv2d(channels, reduced_channels, 1, bias=True)
        self.act = build_act(act)
        self.conv_expand = nn.Conv2d(reduced_channels, channels, 1, bias=True)

    def gate(self, x: torch.Tensor) -> torch.Tensor:
        """The ``(N, C, 1, 1)`` sigmoid gate of ``x``."""
        return self.conv_expand(self.act(self.conv_reduce(x.mean((2, 3), keepdim=True)))).sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)


class DropPath(nn.Module):
    """Per-sample stochastic depth (the residual branch is zeroed, survivors scaled by 1/keep).

    Kept instead of ``mmcv.cnn.bricks.DropPath``, which computes the same expectation but draws
    its mask as ``floor(keep + rand)`` and scales ``x`` rather than the mask: for a given seed it
    drops other samples and rounds differently, so seeded training runs would change.

    Args:
        drop_prob (float): Probability of dropping the branch. Defaults to 0.

    Example:
        >>> drop = DropPath(0.5).train()
        >>> out = drop(torch.ones(1000, 3))
        >>> sorted(set(out[:, 0].tolist()))  # dropped rows are 0, kept ones scaled by 1 / 0.5
        [0.0, 2.0]
        >>> torch.equal(drop.eval()(out), out)  # identity in eval mode
        True
    """

    def __init__(self, drop_prob: float = 0.):
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.drop_prob == 0. or not self.training:
            return x
        keep = 1 - self.drop_prob
        mask = x.new_empty((x.shape[0], ) + (1, ) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask.div_(keep)  # one pass over x: the (N, 1, 1, 1) mask is scaled

    def extra_repr(self) -> str:
        return f'drop_prob={self.drop_prob:.5f}'

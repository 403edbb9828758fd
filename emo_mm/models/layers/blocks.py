"""The inverted residual mobile block shared by EMO (iRMB) and EMOv2 (i2RMB)."""
from typing import Optional

import torch
import torch.nn as nn

from .norm_act import (ConvNormAct, DropPath, LayerScale2d, SqueezeExcite, build_norm,
                       fold_bn_before_pointwise_conv)


class InvertedResidualMobileBlock(nn.Module):
    """``norm -> mixer -> depthwise conv (+ inner skip) -> proj -> [layer scale] (+ skip)``.

    * ``mixer`` expands ``C_in -> C_mid``: a pointwise conv (:class:`ConvNormAct`) or an attention
      module (stages 3-4); ``None`` keeps ``C_mid = C_in``.
    * ``conv_local`` is a depthwise ``k x k`` conv with stride, always followed by BatchNorm + SiLU
      whatever the stage's norm / act (official behaviour). With a skip it is wrapped in an inner
      residual, ``x = x + conv_local(x)``.
    * ``proj`` is a bias-free 1x1 conv ``C_mid -> C_out`` without norm / act.
    * EMOv2 multiplies the projection by a LayerScale in *every* block, also the downsampling ones
      that have no residual (official behaviour).
    * The outer residual (with drop path) exists when ``stride == 1`` and ``C_in == C_out``.

    Args:
        in_channels (int): ``C_in``.
        out_channels (int): ``C_out``.
        mid_channels (int): ``C_mid`` (expanded width).
        stride (int): Stride of the depthwise conv (1 or 2).
        norm (str): Pre-norm, ``'bn'``, ``'ln'`` or ``'none'``.
        mixer (nn.Module, optional): Token / channel mixer ``C_in -> C_mid``.
        dw_kernel_size (int): Depthwise kernel size.
        se_channels (int): Hidden width of a squeeze-excite after the depthwise conv; 0 = none.
        skip (bool): Allow the residuals (used when stride is 1 and widths match). Defaults to True.
        layer_scale (float, optional): LayerScale init value; None = no LayerScale.
        drop_path (float): Stochastic depth rate of the residual branch.
        deploy (bool): Build the BN-folded form directly.

    Example:
        >>> block = InvertedResidualMobileBlock(32, 32, 64, 1, 'bn', ConvNormAct(32, 64, act='silu'), 5)
        >>> block(torch.randn(1, 32, 16, 16)).shape
        torch.Size([1, 32, 16, 16])
    """

    def __init__(self, in_channels: int, out_channels: int, mid_channels: int, stride: int,
                 norm: str, mixer: Optional[nn.Module], dw_kernel_size: int, se_channels: int = 0,
                 skip: bool = True, layer_scale: Optional[float] = None, drop_path: float = 0., deploy: bool = False):
        super().__init__()
        self.has_skip = skip and stride == 1 and in_channels == out_channels
        # a BN pre-norm feeding a pointwise conv mixer is folded into it in deploy mode
        self._foldable_norm = norm == 'bn' and isinstance(mixer, ConvNormAct)
        self.norm = build_norm('none' if deploy and self._foldable_norm else norm, in_channels)
        self.mixer = mixer if mixer is not None else nn.Identity()
        self.conv_local = ConvNormAct(mid_channels, mid_channels, dw_kernel_size, stride,
                                      groups=mid_channels, norm='bn', act='silu', deploy=deploy)
        self.se = SqueezeExcite(mid_channels, se_channels) if se_channels else nn.Identity()
        self.proj = ConvNormAct(mid_channels, out_channels, 1)
        self.ls = LayerScale2d(out_channels, layer_scale) if layer_scale is not None else nn.Identity()
        self.drop_path = DropPath(drop_path) if self.has_skip and drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        x = self.mixer(self.norm(x))
        x = x + self.conv_local(x) if self.has_skip else self.conv_local(x)
        x = self.ls(self.proj(self.se(x)))
        return shortcut + self.drop_path(x) if self.has_skip else x

    def switch_to_deploy(self) -> None:
        """Fold the BatchNorms: after the depthwise conv, and a BN pre-norm into a pointwise mixer."""
        self.conv_local.switch_to_deploy()
        if self._foldable_norm and isinstance(self.norm, nn.BatchNorm2d):
            self.mixer.conv = fold_bn_before_pointwise_conv(self.norm, self.mixer.conv)
            self.norm = nn.Identity()

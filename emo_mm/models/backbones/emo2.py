"""EMOv2 backbone: "EMOv2: Pushing 5M Vision Model Frontier"."""
from typing import Tuple

import torch.nn as nn

from emo_mm.registry import MODELS
from ..archs import EMOV2_ARCHS
from ..layers import ConvNormAct, HybridWindowAttention
from .base import STAGE_ACTS, EMOBackboneBase


@MODELS.register_module()
class EMOv2(EMOBackboneBase):
    """EMOv2 backbone (`paper <https://arxiv.org/abs/2412.06674>`_).

    Improved inverted residual mobile blocks (i2RMB): 5x5 depthwise convs everywhere, a LayerScale
    (init 1e-6) on the output of every block, and in stages 3 and 4 a hybrid attention that sums
    grid-partitioned (long-range) and local-window (short-range) attention sharing one ``qk`` / ``v``
    projection (:class:`~emo_mm.models.layers.HybridWindowAttention`). The stem is a 3x3 stride-2
    conv + BN + SiLU, a depthwise 3x3 + BN + SiLU and a 1x1 conv, ``embed_dims[0] // 2`` wide.

    Architectures (params of the ImageNet classifier / of the backbone without final norm):

    ====== ============ =================== ============== =========== ==============
    arch   depths       embed_dims          exp_ratios     head_dims   params
    ====== ============ =================== ============== =========== ==============
    1m     2, 2, 8, 3   32, 48, 80, 180     2, 2.5, 3, 3.5 .., 20, 20  1.46M / 1.28M
    2m     3, 3, 9, 3   32, 48, 120, 200    2, 2.5, 3, 3.5 .., 20, 20  2.38M / 2.18M
    5m     3, 3, 9, 3   48, 72, 160, 288    2, 3, 4, 4     .., 32, 32  5.13M / 4.84M
    20m    3, 3, 13, 3  64, 128, 320, 448   2, 3, 4, 4     .., 32, 32  20.20M / 19.75M
    ====== ============ =================== ============== =========== ==============

    Level channels: stem ``embed_dims[0] // 2``, then ``embed_dims``. See
    :class:`EMOBackboneBase` for the arguments; ``arch`` dicts take the keys ``depths``,
    ``embed_dims``, ``exp_ratios``, ``head_dims`` and ``drop_path_rate``.

    Example:
        >>> import torch
        >>> from emo_mm.models import EMOv2
        >>> model = EMOv2(arch='1m', out_indices=(0, 1, 2, 3, 4), window_size=10).eval()
        >>> for level in model(torch.rand(1, 3, 320, 320)):
        ...     print(tuple(level.shape))
        (1, 16, 160, 160)
        (1, 32, 80, 80)
        (1, 48, 40, 40)
        (1, 80, 20, 20)
        (1, 180, 10, 10)
    """
    arch_zoo = EMOV2_ARCHS
    layer_scale = 1e-6
    dw_kernel_size = 5

    def _make_stem(self, deploy: bool) -> Tuple[nn.ModuleList, int]:
        channels = self.arch_settings['embed_dims'][0] // 2
        stem = nn.ModuleList([
            ConvNormAct(3, channels, 3, stride=2, bias=True, norm='bn', act='silu', deploy=deploy),
            ConvNormAct(channels, channels, 3, groups=channels, norm='bn', act='silu', deploy=deploy),
            ConvNormAct(channels, channels, 1),
        ])
        return stem, channels

    def _make_mixer(self, stage: int, in_channels: int, mid_channels: int,
                    attention: bool) -> nn.Module:
        if attention:
            return HybridWindowAttention(in_channels, mid_channels,
                                         self.arch_settings['head_dims'][stage],
                                         self.window_sizes[stage], act=STAGE_ACTS[stage])
        return self._pointwise_mixer(stage, in_channels, mid_channels)

    def _block_kwargs(self, stage: int) -> dict:
        return dict(dw_kernel_size=self.dw_kernel_size)

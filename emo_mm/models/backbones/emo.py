"""EMO backbone: "Rethinking Mobile Block for Efficient Attention-based Models" (ICCV 2023)."""
from typing import Tuple

import torch.nn as nn

from emo_mm.registry import MODELS
from ..archs import EMO_ARCHS
from ..layers import ConvNormAct, GridWindowAttention, InvertedResidualMobileBlock
from .base import STAGE_ACTS, EMOBackboneBase


@MODELS.register_module()
class EMO(EMOBackboneBase):
    """EMO backbone (`paper <https://arxiv.org/abs/2301.01146>`_).

    A stack of inverted residual mobile blocks (iRMB). Stages 3 and 4 use grid-partitioned
    multi-head self-attention whose weights mix the normalised input before the expanding ``v``
    projection (:class:`~emo_mm.models.layers.GridWindowAttention`). The stem is a 3x3 stride-2 conv
    + BN followed by a depthwise-conv / squeeze-excite block, 24 channels at stride 2.

    Architectures (params of the ImageNet classifier / of the backbone without final norm):

    ====== ============ =================== ============== ========= ===========
    arch   depths       embed_dims          exp_ratios     head_dims params
    ====== ============ =================== ============== ========= ===========
    1m     2, 2, 8, 3   32, 48, 80, 168     2, 2.5, 3, 3.5 .., 20, 21 1.36M / 1.19M
    2m     3, 3, 9, 3   32, 48, 120, 200    2, 2.5, 3, 3.5 .., 20, 20 2.38M / 2.18M
    5m     3, 3, 9, 3   48, 72, 160, 288    2, 3, 4, 4     .., 32, 32 5.11M / 4.82M
    6m     3, 3, 9, 3   48, 72, 160, 320    2, 3, 4, 5     .., 20, 32 6.17M / 5.85M
    ====== ============ =================== ============== ========= ===========

    Level channels: stem 24, then ``embed_dims``. See :class:`EMOBackboneBase` for the arguments;
    ``arch`` dicts take the keys ``depths``, ``embed_dims``, ``exp_ratios``, ``head_dims``,
    ``drop_path_rate``, ``stem_channels`` and ``dw_kernel_sizes``.

    Example:
        >>> import torch
        >>> from emo_mm.models import EMO
        >>> model = EMO(arch='1m', out_indices=(0, 1, 2, 3, 4)).eval()
        >>> for level in model(torch.rand(1, 3, 224, 224)):
        ...     print(tuple(level.shape))
        (1, 24, 112, 112)
        (1, 32, 56, 56)
        (1, 48, 28, 28)
        (1, 80, 14, 14)
        (1, 168, 7, 7)
    """
    arch_zoo = EMO_ARCHS
    arch_keys = EMOBackboneBase.arch_keys + ('stem_channels', 'dw_kernel_sizes')

    def _make_stem(self, deploy: bool) -> Tuple[nn.ModuleList, int]:
        # 3x3 s2 conv (biased, official) + BN, no activation; then a residual-free block:
        # depthwise 3x3 + BN + SiLU -> squeeze-excite (reduction ratio 1) -> 1x1 projection.
        channels = self.arch_settings['stem_channels']
        stem = nn.ModuleList([
            ConvNormAct(3, channels, 3, stride=2, bias=True, norm='bn', deploy=deploy),
            InvertedResidualMobileBlock(channels, channels, channels, stride=1, norm='none', mixer=None,
                                        dw_kernel_size=3, se_channels=channels, skip=False,
                                        deploy=deploy)
        ])
        return stem, channels

    def _make_mixer(self, stage: int, in_channels: int, mid_channels: int,
                    attention: bool) -> nn.Module:
        if attention:
            return GridWindowAttention(in_channels, mid_channels, self.arch_settings['head_dims'][stage],
                                       self.window_sizes[stage], act=STAGE_ACTS[stage])
        return self._pointwise_mixer(stage, in_channels, mid_channels)

    def _block_kwargs(self, stage: int) -> dict:
        return dict(dw_kernel_size=self.arch_settings['dw_kernel_sizes'][stage])

"""EdgeFormer backbone (ParC-Net): "ParC-Net: Position Aware Circular Convolution with Merits from
ConvNets and Transformer" (ECCV 2022), first published as "EdgeFormer"."""
from typing import Dict, List, Optional, Sequence, Union

import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm

from emo_mm.registry import MODELS
from ..archs import EDGEFORMER_ARCHS
from ..layers import ConvNormAct
from ..layers.parc import PARC_NORM_EPS, MobileNetV2Block, ParCFusionBlock
from .base import NUM_LEVELS, StagedBackbone

OUTPUT_STRIDES = (32, 16)


@MODELS.register_module()
class EdgeFormer(StagedBackbone):
    """EdgeFormer / ParC-Net backbone (`paper <https://arxiv.org/abs/2203.03952>`_).

    MobileViT's macro-architecture with the transformer replaced by position-aware global
    circular convolutions (ParC): a 3x3 (H: 5x5) stride-2 conv stem, MobileNetV2 blocks
    (expansion 4, SiLU) in the first two stages, then in stages 3-5 one stride-2 MobileNetV2 block
    followed by a :class:`~emo_mm.models.layers.parc.ParCFusionBlock` (local conv -> ParC blocks
    -> fusion conv). Every norm is a BatchNorm with eps 1e-5.

    Levels (``out_indices``) follow the EMO convention, by stride: 0 = stem + first stage
    (stride 2), 1..4 = stages 2..5 (strides 4, 8, 16, 32). Kernels and position embeddings are
    resampled to every input size, per axis, so any ``H x W`` works (see ``docs/edgeformer.md``).

    :meth:`switch_to_deploy` folds the BN of every conv-norm unit (stem, MobileNetV2 blocks,
    fusion frames, channel attention, expansion conv) and each FFN pre-norm into the FFN's first
    1x1 conv; the pre-norms of the circular convs and the BN before the grouped ``proj_out``
    stay. The folded state dict loads into a model built with ``deploy=True``.

    Architectures (params of the ImageNet classifier, exact; of the backbone without the final
    expansion conv):

    ===== ============= ================= ============= ================ ====== ====================
    arch  stage widths  ParC widths S     FFN widths F  ParC blocks      fusion params
    ===== ============= ================= ============= ================ ====== ====================
    xs    32, 64, 96,   96, 128, 160      192, 256, 320 2, 3, 2          add    2,185,384 / 1,440,704
          128, 160
    s     32, 64, 96,   192, 256, 320     384, 512, 640 2, 4, 3          concat 5,037,088 / 4,292,408
          128, 160
    h     96, 144, 216, 324, 432, 432     648, 864, 864 3, 9, 3          concat 20,403,940 /
          288, 432                                                              19,026,300
    ===== ============= ================= ============= ================ ====== ====================

    Args:
        arch (str | dict): ``'xs'``, ``'s'`` or ``'h'`` (case-insensitive), or a dict with the keys
            of :attr:`arch_keys`. Defaults to ``'s'``.
        out_indices (int | Sequence[int]): Levels to output, in 0..4 (negatives count from the
            end). Defaults to ``(1, 2, 3, 4)``.
        output_stride (int): 32, or 16 to run the last stage at stride 16 (its downsampling
            block gets stride 1, without dilation: the official DeepLabv3 setting).
            Defaults to 32.
        drop_rate (float): Dropout after the FFN of every ParC block. Defaults to 0.1 (official).
        frozen_stages (int): Freeze levels ``0..frozen_stages`` (-1 = none). Defaults to -1.
        norm_eval (bool): Keep every BatchNorm in eval mode while training. Defaults to False.
        with_cp (bool): Activation checkpointing per block while training. Defaults to False.
        final_conv (bool): Apply the classification 1x1 expansion conv + BN + SiLU to level 4
            (``final_channels`` wide). Defaults to False.
        deploy (bool): Build the inference form (see :meth:`switch_to_deploy`), e.g. to load
            the output of ``tools/model_converters/reparameterize_model.py``. Defaults to False.
        init_cfg (dict | list[dict], optional): ``dict(type='Pretrained', checkpoint=...,
            prefix='backbone.')`` loads converted weights with checks (see :attr:`converter`).
            Without it the official initialisation is applied (Kaiming-normal fan-out convs,
            uniform meta kernels, N(0, 1) position embeddings). Defaults to None.

    Example:
        >>> import torch
        >>> from emo_mm.models import EdgeFormer
        >>> model = EdgeFormer(arch='s', out_indices=(0, 1, 2, 3, 4)).eval()
        >>> for level in model(torch.rand(1, 3, 256, 320)):
        ...     print(tuple(level.shape))
        (1, 32, 128, 160)
        (1, 64, 64, 80)
        (1, 96, 32, 40)
        (1, 128, 16, 20)
        (1, 160, 8, 10)
    """
    arch_zoo: Dict[str, dict] = EDGEFORMER_ARCHS
    arch_keys = ('stem_channels', 'stem_kernel_size', 'mv2_channels', 'mv2_depths',
                 'stage_channels', 'parc_channels', 'ffn_channels', 'parc_depths',
                 'meta_kernel_sizes', 'fusion', 'final_channels')
    #: Number of entries of the list-valued arch keys.
    arch_lengths = dict(mv2_channels=2, mv2_depths=2, stage_channels=3, parc_channels=3,
                        ffn_channels=3, parc_depths=3, meta_kernel_sizes=3)
    expand_ratio = 4.
    converter = 'tools/model_converters/edgeformer_to_mmpretrain.py'
    family = 'EdgeFormer / ParC-Net'
    min_input_size = 1  # kernels and position embeddings resample to any length

    def __init__(self,
                 arch: Union[str, dict] = 's',
                 out_indices: Union[int, Sequence[int]] = (1, 2, 3, 4),
                 output_stride: int = 32,
                 drop_rate: float = 0.1,
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 final_conv: bool = False,
                 deploy: bool = False,
                 init_cfg: Optional[Union[dict, List[dict]]] = None):
        super().__init__(out_indices, frozen_stages, norm_eval, with_cp, deploy, init_cfg)
        self.arch_settings = settings = self._parse_arch(arch)
        if output_stride not in OUTPUT_STRIDES:
            raise ValueError(f'output_stride must be one of {OUTPUT_STRIDES}, got {output_stride!r}')
        if final_conv and NUM_LEVELS - 1 not in self.out_indices:
            raise ValueError(f'final_conv applies to level {NUM_LEVELS - 1}: out_indices must '
                             f'include it, got {self.out_indices}')
        if not 0 <= drop_rate < 1:
            raise ValueError(f'drop_rate must be in [0, 1), got {drop_rate}')
        self.output_stride = output_stride

        eps = dict(norm_eps=PARC_NORM_EPS, deploy=deploy)
        width = settings['stem_channels']
        stem = ConvNormAct(3, width, settings['stem_kernel_size'], stride=2, norm='bn', act='silu',
                           **eps)
        levels: List[List[nn.Module]] = [[stem], []]
        for i, (channels, depth) in enumerate(zip(settings['mv2_channels'], settings['mv2_depths'])):
            for j in range(depth):  # stage 1 keeps the stem's stride 2, stage 2 halves it
                stride = 2 if i == 1 and j == 0 else 1
                levels[i].append(MobileNetV2Block(width, channels, stride, self.expand_ratio, **eps))
                width = channels
        for i, channels in enumerate(settings['stage_channels']):
            stride = 1 if i == 2 and output_stride == 16 else 2
            levels.append([
                MobileNetV2Block(width, channels, stride, self.expand_ratio, **eps),
                ParCFusionBlock(channels, settings['parc_channels'][i], settings['ffn_channels'][i],
                                settings['parc_depths'][i], settings['meta_kernel_sizes'][i],
                                settings['fusion'], drop_rate, **eps),
            ])
            width = channels
        for level, blocks in enumerate(levels):
            self.add_module(f'stage{level}', nn.ModuleList(blocks))
        self.out_channels = settings['mv2_channels'] + settings['stage_channels']
        self.final_conv = None
        if final_conv:
            self.final_conv = ConvNormAct(width, settings['final_channels'], 1, norm='bn',
                                          act='silu', **eps)
            self.out_channels[-1] = settings['final_channels']
        self._official_init()
        self._freeze_stages()

    # ------------------------------------------------------------------ argument parsing
    def _parse_arch(self, arch: Union[str, dict]) -> dict:
        arch = super()._parse_arch(arch)
        if any(s % 2 for s in arch['parc_channels']):
            raise ValueError(f"arch['parc_channels'] must be even (two halves), got "
                             f"{arch['parc_channels']}")
        return arch

    # ------------------------------------------------------------------ init
    def _official_init(self) -> None:
        """The official classification init: Kaiming-normal (fan-out) convs with zero biases,
        BN weight 1 / bias 0. The meta kernels (U(+-1/sqrt(K))) and position embeddings (N(0, 1))
        are not convs: they keep the init of their constructors."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode='fan_out')
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, _BatchNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    # ------------------------------------------------------------------ outputs
    def _level_output(self, level: int, x: torch.Tensor) -> torch.Tensor:
        return self.final_conv(x) if level == NUM_LEVELS - 1 and self.final_conv is not None else x

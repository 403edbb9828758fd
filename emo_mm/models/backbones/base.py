"""What EMO and EMOv2 share: arch parsing, the 4-stage layout, outputs, freezing, deploy, init."""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from torch.nn.modules.batchnorm import _BatchNorm
from torch.utils.checkpoint import checkpoint

from ..archs import select_arch
from ..layers import ConvNormAct, InvertedResidualMobileBlock, LayerNorm2d
from ..pretrained import load_pretrained

#: Per-stage settings shared by every variant: pre-norm and activation of stages 1..4.
STAGE_NORMS = ('bn', 'bn', 'ln', 'ln')
STAGE_ACTS = ('silu', 'silu', 'gelu', 'gelu')
#: Stages (0-based over stages 1..4) whose non-first blocks use attention.
ATTENTION_STAGES = (2, 3)
NUM_LEVELS = 5  # stem + 4 stages
MIN_INPUT_SIZE = 32


class StagedBackbone(BaseModule):
    """``frozen_stages`` / ``norm_eval`` for backbones whose levels are ``self.levels`` (stem
    first): frozen levels stay in eval mode without gradients, ``norm_eval`` keeps every BN in
    eval mode while training."""
    levels: Sequence[nn.Module]
    frozen_stages: int
    norm_eval: bool

    def _freeze_stages(self) -> None:
        for level in self.levels[:self.frozen_stages + 1]:
            level.eval()
            for param in level.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True):
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, _BatchNorm):
                    module.eval()
        return self


class EMOBackboneBase(StagedBackbone):
    """Base class of :class:`EMO` and :class:`EMOv2`.

    Levels: 0 = the stem (stride 2), 1..4 = stages 1..4 (strides 4, 8, 16, 32). In each stage the
    first block downsamples (stride-2 depthwise conv, no residual, no attention, expansion
    ``2 * exp_ratio`` of its *input* width); the others keep the width, use ``exp_ratio`` and, in
    stages 3 and 4, attention.

    Subclasses define ``arch_zoo``, ``attention`` (the mixer class of the attention blocks),
    ``layer_scale`` and the hook :meth:`_make_stem`.

    Example:
        >>> from emo_mm.models import EMOv2
        >>> tiny = dict(EMOv2.arch_zoo['1m'], depths=[1, 1, 2, 1])  # any arch as a dict
        >>> model = EMOv2(arch=tiny, out_indices=(2, 4)).eval()
        >>> [tuple(level.shape) for level in model(torch.rand(1, 3, 64, 64))]
        [(1, 48, 8, 8), (1, 180, 2, 2)]

    Args:
        arch (str | dict): A name of ``arch_zoo`` (case-insensitive) or a dict with the keys
            ``depths``, ``embed_dims``, ``exp_ratios``, ``head_dims``, ``dw_kernel_sizes`` (the
            depthwise kernel size of each stage), ``drop_path_rate`` and the subclass's extra
            keys (see ``arch_keys``).
        out_indices (int | Sequence[int]): Levels to output, in 0..4 (negatives count from the
            end). Defaults to ``(1, 2, 3, 4)``.
        window_size (int | Sequence[int]): Attention window size, one for all stages or one per
            stage (4 values; only stages 3 and 4 have attention). ``<= 0`` means global attention.
            Defaults to 7 (ImageNet setting).
        drop_path_rate (float, optional): Maximum stochastic depth rate, linearly increasing over
            the blocks of stages 1..4. Defaults to the paper's value of the arch.
        frozen_stages (int): Freeze levels ``0..frozen_stages`` (0 = stem only, -1 = none).
            Defaults to -1.
        norm_eval (bool): Keep every BatchNorm in eval mode while training. Defaults to False.
        with_cp (bool): Activation checkpointing per block while training. Defaults to False.
        final_norm (bool): Apply the classification LayerNorm to level 4. Defaults to False.
        deploy (bool): Build the inference form with BatchNorms folded into convs (see
            :meth:`switch_to_deploy`). Defaults to False.
        init_cfg (dict | list[dict], optional): Initialisation config; a
            ``dict(type='Pretrained', checkpoint=..., prefix='backbone.')`` loads weights with
            checks (see :func:`emo_mm.models.pretrained.load_pretrained`). Defaults to None.
    """
    arch_zoo: Dict[str, dict] = {}
    arch_keys = ('depths', 'embed_dims', 'exp_ratios', 'head_dims', 'dw_kernel_sizes',
                 'drop_path_rate')
    #: List lengths of a custom ``arch`` dict: one value per stage.
    arch_lengths = {key: 4 for key in ('depths', 'embed_dims', 'exp_ratios', 'head_dims',
                                       'dw_kernel_sizes')}
    #: Mixer class of the attention blocks (stages 3-4), built as
    #: ``attention(C_in, C_mid, head_dim, window_size, act=...)``.
    attention: Optional[type] = None
    layer_scale: Optional[float] = None

    def __init__(self,
                 arch: Union[str, dict],
                 out_indices: Union[int, Sequence[int]] = (1, 2, 3, 4),
                 window_size: Union[int, Sequence[int]] = 7,
                 drop_path_rate: Optional[float] = None,
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 final_norm: bool = False,
                 deploy: bool = False,
                 init_cfg: Optional[Union[dict, List[dict]]] = None):
        super().__init__(init_cfg=init_cfg)
        self.arch_settings = self._parse_arch(arch)
        self.out_indices = self._parse_out_indices(out_indices)
        self.window_sizes = self._parse_window_size(window_size)
        if drop_path_rate is None:
            drop_path_rate = self.arch_settings['drop_path_rate']
        if not 0 <= drop_path_rate < 1:
            raise ValueError(f'drop_path_rate must be in [0, 1), got {drop_path_rate}')
        if not isinstance(frozen_stages, int) or not -1 <= frozen_stages < NUM_LEVELS:
            raise ValueError(f'frozen_stages must be an int in -1..{NUM_LEVELS - 1} '
                             f'(-1 = none, 0 = stem, k = stem and stages 1..k), got {frozen_stages!r}')
        self.drop_path_rate = drop_path_rate
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.with_cp = with_cp
        self.deploy = deploy

        depths = self.arch_settings['depths']
        dims = self.arch_settings['embed_dims']
        rates = torch.linspace(0, drop_path_rate, sum(depths)).tolist()
        self.stage0, in_channels = self._make_stem(deploy)
        self.out_channels = [in_channels] + list(dims)
        for i, (depth, out_channels) in enumerate(zip(depths, dims)):
            blocks = []
            for j in range(depth):
                first = j == 0
                ratio = self.arch_settings['exp_ratios'][i] * (2 if first else 1)
                mid_channels = int(in_channels * ratio)
                attention = not first and i in ATTENTION_STAGES
                mixer = self._make_mixer(i, in_channels, mid_channels, attention)
                blocks.append(
                    InvertedResidualMobileBlock(
                        in_channels, out_channels, mid_channels, stride=2 if first else 1,
                        norm=STAGE_NORMS[i], mixer=mixer, layer_scale=self.layer_scale,
                        drop_path=rates.pop(0), deploy=deploy,
                        dw_kernel_size=self.arch_settings['dw_kernel_sizes'][i]))
                in_channels = out_channels
            self.add_module(f'stage{i + 1}', nn.ModuleList(blocks))
        self.final_norm = final_norm
        if final_norm:
            self.norm = LayerNorm2d(dims[-1])
        self._freeze_stages()

    # ------------------------------------------------------------------ subclass hooks
    def _make_stem(self, deploy: bool) -> Tuple[nn.ModuleList, int]:
        """Return the stem (level 0) and its output width."""
        raise NotImplementedError

    def _make_mixer(self, stage: int, in_channels: int, mid_channels: int,
                    attention: bool) -> nn.Module:
        """The ``C_in -> C_mid`` mixer of a block of ``stage`` (0-based over stages 1..4): the
        variant's attention, or a biased 1x1 conv + the stage's activation."""
        if attention:
            return self.attention(in_channels, mid_channels, self.arch_settings['head_dims'][stage],
                                  self.window_sizes[stage], act=STAGE_ACTS[stage])
        return ConvNormAct(in_channels, mid_channels, 1, bias=True, act=STAGE_ACTS[stage])

    # ------------------------------------------------------------------ argument parsing
    def _parse_arch(self, arch: Union[str, dict]) -> dict:
        return select_arch(type(self), arch)

    @staticmethod
    def _parse_out_indices(out_indices: Union[int, Sequence[int]]) -> Tuple[int, ...]:
        if isinstance(out_indices, int):
            out_indices = [out_indices]
        if not isinstance(out_indices, Sequence) or len(out_indices) == 0:
            raise TypeError(f'out_indices must be an int or a non-empty sequence of ints, '
                            f'got {out_indices!r}')
        parsed = []
        for index in out_indices:
            if not isinstance(index, int) or not -NUM_LEVELS <= index < NUM_LEVELS:
                raise ValueError(f'Invalid out_indices entry {index!r}: valid levels are 0..4 '
                                 f'(0 = stem, 1..4 = stages) or -5..-1')
            parsed.append(index % NUM_LEVELS)
        return tuple(sorted(set(parsed)))

    @staticmethod
    def _parse_window_size(window_size: Union[int, Sequence[int]]) -> Tuple[int, ...]:
        if isinstance(window_size, int):
            sizes = [window_size] * 4
        elif isinstance(window_size, Sequence):
            sizes = list(window_size)
        else:
            sizes = []
        if len(sizes) != 4 or not all(isinstance(s, int) and not isinstance(s, bool) for s in sizes):
            raise ValueError(f'window_size must be an int or 4 ints (one per stage; <= 0 means '
                             f'global attention), got {window_size!r}')
        return tuple(sizes)

    # ------------------------------------------------------------------ forward
    @property
    def levels(self) -> List[nn.ModuleList]:
        """``[stage0, stage1, ..., stage4]``."""
        return [self.stage0, self.stage1, self.stage2, self.stage3, self.stage4]

    def _check_input(self, x: torch.Tensor) -> None:
        if x.dim() != 4:
            raise ValueError(f'{type(self).__name__} expects a 4-D (N, 3, H, W) input, got shape '
                             f'{tuple(x.shape)}')
        if x.shape[1] != 3:
            raise ValueError(f'{type(self).__name__} expects 3 input channels, got {x.shape[1]} '
                             f'(shape {tuple(x.shape)})')
        if min(x.shape[2:]) < MIN_INPUT_SIZE:
            raise ValueError(f'{type(self).__name__} needs H and W >= {MIN_INPUT_SIZE}, got '
                             f'{tuple(x.shape[2:])}')
        if x.shape[0] == 0:
            raise ValueError(f'{type(self).__name__} got an empty batch (shape {tuple(x.shape)})')

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        self._check_input(x)
        return tuple(self._forward_levels(x, 0, self.out_indices[-1] + 1)[1])

    def _forward_levels(self, x: torch.Tensor, start: int,
                        stop: int) -> Tuple[torch.Tensor, List[torch.Tensor]]:
        """Run levels ``start..stop-1``; return the last feature map and the requested outputs."""
        if x.is_cpu:
            # oneDNN's 1x1 and depthwise convs are 2-3x faster on NHWC data; every layer keeps it
            x = x.contiguous(memory_format=torch.channels_last)
        outs = []
        checkpointed = self.with_cp and self.training and torch.is_grad_enabled()
        for level in range(start, stop):
            for block in self.levels[level]:
                if checkpointed and x.requires_grad:
                    x = checkpoint(block, x, use_reentrant=False)
                else:
                    x = block(x)
            if level in self.out_indices:
                outs.append(self.norm(x) if level == NUM_LEVELS - 1 and self.final_norm else x)
        return x, outs


    def switch_to_deploy(self) -> None:
        """Fold every BatchNorm into the adjacent conv (in place; call in eval mode).

        Folds the BN after each conv (stem convs, every depthwise conv) and the BN pre-norm of
        stage 1-2 blocks into their pointwise mixer. Outputs are unchanged up to float rounding;
        the state dict then matches a model built with ``deploy=True``.
        """
        for module in self.modules():
            if module is not self and hasattr(module, 'switch_to_deploy'):
                module.switch_to_deploy()
        self.deploy = True

    def init_weights(self) -> None:
        """Load ``Pretrained`` weights with checks, or apply the other init configs."""
        if isinstance(self.init_cfg, dict) and self.init_cfg.get('type') == 'Pretrained':
            load_pretrained(self, self.init_cfg['checkpoint'], prefix=self.init_cfg.get('prefix'))
            self._is_init = True
            return
        super().init_weights()

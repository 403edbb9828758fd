"""The base of every emo_mm backbone (:class:`StagedBackbone`: EMO, EMOv2 and EdgeFormer) and
what EMO and EMOv2 share on top of it (:class:`EMOBackboneBase`)."""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from torch.nn.modules.batchnorm import _BatchNorm
from torch.utils.checkpoint import checkpoint

from ..archs import select_arch
from ..converters import convert_official_to_mmpretrain
from ..layers import ConvNormAct, InvertedResidualMobileBlock, LayerNorm2d
from ..layers.tracing import is_leaving_pytorch
from ..pretrained import load_pretrained

#: Per-stage settings shared by every EMO variant: pre-norm and activation of stages 1..4.
STAGE_NORMS = ('bn', 'bn', 'ln', 'ln')
STAGE_ACTS = ('silu', 'silu', 'gelu', 'gelu')
#: Stages (0-based over stages 1..4) whose non-first blocks use attention.
ATTENTION_STAGES = (2, 3)
#: Output levels of every backbone: 0 = stride 2, 1..4 = strides 4, 8, 16, 32.
NUM_LEVELS = 5
MIN_INPUT_SIZE = 32


def is_emo_mm_backbone(module: nn.Module) -> bool:
    """Whether ``module`` is one of our backbones (EMO, EMOv2, EdgeFormer, or a subclass): the
    one test every tool uses (deploy folding, export, the CPU fast path).

    Example:
        >>> from emo_mm.models import EdgeFormer
        >>> is_emo_mm_backbone(EdgeFormer('xs')), is_emo_mm_backbone(nn.Conv2d(3, 3, 1))
        (True, False)
    """
    return isinstance(module, StagedBackbone)


def emo_mm_backbones(model: nn.Module) -> List['StagedBackbone']:
    """Our backbones inside ``model`` (itself included), outermost first."""
    return [m for m in model.modules() if is_emo_mm_backbone(m)]


class StagedBackbone(BaseModule):
    """The base of EMO, EMOv2 and EdgeFormer: five output levels ``stage0 .. stage4`` (strides 2,
    4, 8, 16, 32), each a ``ModuleList`` of blocks.

    It owns everything that does not depend on the blocks: the ``arch`` lookup (``arch_zoo``),
    ``out_indices`` / ``frozen_stages`` checks, the input check, the (optionally checkpointed)
    level loop, freezing and ``norm_eval``, :meth:`switch_to_deploy` (every submodule's
    ``switch_to_deploy()``; the state dict then matches a model built with ``deploy=True``) and
    ``init_cfg=dict(type='Pretrained', ...)`` loading with checks. Subclasses build the levels
    and may transform a level's output (:meth:`_level_output`).

    Args:
        out_indices (int | Sequence[int]): Levels to output, in 0..4 (negatives count from the
            end).
        frozen_stages (int): Freeze levels ``0..frozen_stages`` (-1 = none).
        norm_eval (bool): Keep every BatchNorm in eval mode while training.
        with_cp (bool): Activation checkpointing per block while training.
        deploy (bool): The subclass builds its inference form (BatchNorms folded).
        init_cfg (dict | list[dict], optional): Initialisation config.
    """
    arch_zoo: Dict[str, dict] = {}
    arch_keys: Tuple[str, ...] = ()
    #: List lengths of a custom ``arch`` dict.
    arch_lengths: Dict[str, int] = {}
    #: The tool that converts official checkpoints, named when ``Pretrained`` loading fails.
    converter = ''
    #: The paper family, in messages.
    family = ''
    #: Smallest input height / width accepted.
    min_input_size = MIN_INPUT_SIZE

    def __init__(self,
                 out_indices: Union[int, Sequence[int]],
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 deploy: bool = False,
                 init_cfg: Optional[Union[dict, List[dict]]] = None):
        super().__init__(init_cfg=init_cfg)
        self.out_indices = self._parse_out_indices(out_indices)
        if not isinstance(frozen_stages, int) or not -1 <= frozen_stages < NUM_LEVELS:
            raise ValueError(f'frozen_stages must be an int in -1..{NUM_LEVELS - 1} '
                             f'(-1 = none, 0 = stem, k = stem and stages 1..k), got {frozen_stages!r}')
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.with_cp = with_cp
        self.deploy = deploy

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

    # ------------------------------------------------------------------ forward
    @property
    def levels(self) -> List[nn.ModuleList]:
        """``[stage0, stage1, ..., stage4]``."""
        return [getattr(self, f'stage{i}') for i in range(NUM_LEVELS)]

    def _check_input(self, x: torch.Tensor) -> None:
        if x.dim() != 4:
            raise ValueError(f'{type(self).__name__} expects a 4-D (N, 3, H, W) input, got shape '
                             f'{tuple(x.shape)}')
        if x.shape[1] != 3:
            raise ValueError(f'{type(self).__name__} expects 3 input channels, got {x.shape[1]} '
                             f'(shape {tuple(x.shape)})')
        if min(x.shape[2:]) < self.min_input_size:
            raise ValueError(f'{type(self).__name__} needs H and W >= {self.min_input_size}, got '
                             f'{tuple(x.shape[2:])}')
        if x.shape[0] == 0:
            raise ValueError(f'{type(self).__name__} got an empty batch (shape {tuple(x.shape)})')

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        self._check_input(x)
        return tuple(self._forward_levels(x, 0, self.out_indices[-1] + 1)[1])

    def _forward_levels(self, x: torch.Tensor, start: int,
                        stop: int) -> Tuple[torch.Tensor, List[torch.Tensor]]:
        """Run levels ``start..stop-1``; return the last feature map and the requested outputs."""
        if x.is_cpu and not is_leaving_pytorch():
            # oneDNN's 1x1 and depthwise convs are 2-3x faster on NHWC data; every layer keeps it
            # (a choice for PyTorch's kernels: an exported graph leaves layouts to its runtime,
            # and ExecuTorch's portable ops refuse mixed layouts)
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
                outs.append(self._level_output(level, x))
        return x, outs

    def _level_output(self, level: int, x: torch.Tensor) -> torch.Tensor:
        """The output of ``level`` (hook: e.g. a classification norm on the last one)."""
        return x

    # ------------------------------------------------------------------ freezing
    def _freeze_stages(self) -> None:
        """Frozen levels stay in eval mode without gradients."""
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

    # ------------------------------------------------------------------ deploy / init
    def switch_to_deploy(self) -> None:
        """Fold BatchNorms into the adjacent convs (in place; call in eval mode): every
        submodule's ``switch_to_deploy()``. Outputs are unchanged up to float rounding; the state
        dict then matches a model built with ``deploy=True``."""
        for module in self.modules():
            if module is not self and hasattr(module, 'switch_to_deploy'):
                module.switch_to_deploy()
        self.deploy = True

    @classmethod
    def convert_official(cls, state_dict: Dict[str, torch.Tensor]
                         ) -> Optional[Dict[str, torch.Tensor]]:
        """The emo_mm form of an *official* checkpoint used directly in ``init_cfg``, or None
        when ``state_dict`` is not one this class converts on the fly."""
        return None

    def init_weights(self) -> None:
        """Load ``Pretrained`` weights with checks, or apply the other init configs."""
        if isinstance(self.init_cfg, dict) and self.init_cfg.get('type') == 'Pretrained':
            load_pretrained(self, self.init_cfg['checkpoint'], prefix=self.init_cfg.get('prefix'))
            self._is_init = True
            return
        super().init_weights()


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
        out_norms (bool): A new LayerNorm2d (``out_norm{i}``, weight 1, bias 0) on each returned
            level, after ``final_norm``: the raw stage outputs of a classifier trained with weight
            decay can be tiny (a toy EMOv2-1M's stride-16/32 outputs vary by ~0.03 over positions),
            which the stock detection heads' BatchNorms (eps 1e-3) cannot use until the backbone
            is rewritten (configs/det/toy/ssdlite_emo2-1m_toy-det.py). Not in the papers' configs.
            Pretrained checkpoints without these keys load; the norms then start fresh.
            Defaults to False.
        deploy (bool): Build the inference form with BatchNorms folded into convs (see
            :meth:`switch_to_deploy`). Defaults to False.
        init_cfg (dict | list[dict], optional): Initialisation config; a
            ``dict(type='Pretrained', checkpoint=..., prefix='backbone.')`` loads weights with
            checks (see :func:`emo_mm.models.pretrained.load_pretrained`). Defaults to None.
    """
    arch_keys = ('depths', 'embed_dims', 'exp_ratios', 'head_dims', 'dw_kernel_sizes',
                 'drop_path_rate')
    #: List lengths of a custom ``arch`` dict: one value per stage.
    arch_lengths = {key: 4 for key in ('depths', 'embed_dims', 'exp_ratios', 'head_dims',
                                       'dw_kernel_sizes')}
    #: Mixer class of the attention blocks (stages 3-4), built as
    #: ``attention(C_in, C_mid, head_dim, window_size, act=...)``.
    attention: Optional[type] = None
    layer_scale: Optional[float] = None
    converter = 'tools/model_converters/emo_to_mmpretrain.py'
    family = 'EMO / EMOv2'

    def __init__(self,
                 arch: Union[str, dict],
                 out_indices: Union[int, Sequence[int]] = (1, 2, 3, 4),
                 window_size: Union[int, Sequence[int]] = 7,
                 drop_path_rate: Optional[float] = None,
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 final_norm: bool = False,
                 out_norms: bool = False,
                 deploy: bool = False,
                 init_cfg: Optional[Union[dict, List[dict]]] = None):
        super().__init__(out_indices, frozen_stages, norm_eval, with_cp, deploy, init_cfg)
        self.arch_settings = self._parse_arch(arch)
        self.window_sizes = self._parse_window_size(window_size)
        if drop_path_rate is None:
            drop_path_rate = self.arch_settings['drop_path_rate']
        if not 0 <= drop_path_rate < 1:
            raise ValueError(f'drop_path_rate must be in [0, 1), got {drop_path_rate}')
        self.drop_path_rate = drop_path_rate

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
        self.out_norms = out_norms
        if out_norms:
            for level in self.out_indices:
                self.add_module(f'out_norm{level}', LayerNorm2d(self.out_channels[level]))
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

    # ------------------------------------------------------------------ outputs / checkpoints
    def _level_output(self, level: int, x: torch.Tensor) -> torch.Tensor:
        if level == NUM_LEVELS - 1 and self.final_norm:
            x = self.norm(x)
        return getattr(self, f'out_norm{level}')(x) if self.out_norms else x

    def fresh_keys(self) -> Tuple[str, ...]:
        """State-dict keys that pretrained (ImageNet) checkpoints do not have: the new
        ``out_norms``. :func:`~emo_mm.models.pretrained.load_pretrained` keeps them as
        initialised when a checkpoint lacks them."""
        return tuple(k for k in self.state_dict() if k.startswith('out_norm'))

    @classmethod
    def convert_official(cls, state_dict: Dict[str, torch.Tensor]
                         ) -> Optional[Dict[str, torch.Tensor]]:
        """Official EMO / EMOv2 files (``stage1.0.*`` keys, no ``backbone.``) are converted."""
        if any(k.startswith('stage1.0.') for k in state_dict) and \
                not any(k.startswith('backbone.') for k in state_dict):
            return convert_official_to_mmpretrain(state_dict)
        return None

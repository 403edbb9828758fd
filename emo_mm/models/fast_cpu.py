"""The CPU inference fast path of EMO / EMOv2, applied to a built model in one call.

The layers in :mod:`emo_mm.models.layers` and the backbones are the readable reference forwards.
:func:`optimize_for_cpu` rewrites a built, eval-mode model in place (each EMO unit gets a
subclass whose ``forward`` is the fast one; parameters, buffers and the state dict are
untouched) so that float32 CPU inference without autograd runs:

* **conv + bias + activation as one oneDNN kernel** for large outputs (it saves a pass over
  the output; its exact GELU is 3-4x faster than ``F.gelu``), and in-place activations for
  small ones, where the fused kernel's fixed cost (about 0.1 ms a call) dominates;
* **in-place** inner skips, squeeze-excite gates and outer residuals; the EMOv2 LayerScale
  folded into the projection's weight;
* **depth-first tiling** at large batches: the stride 2-8 levels run a few images at a time,
  so that their large activations stay in cache.

The attention needs no fast class: :func:`~emo_mm.models.layers.attention.softmax_attention`
already runs two batched matmuls on the CPU, in training too.

Every fast ``forward`` falls back to the reference one when autograd is on, in training mode,
while tracing / exporting / compiling, and for non-CPU or non-float32 inputs: FLOP counting,
ONNX export, ``torch.compile`` and training see the standard ops. Outputs equal the
reference within float rounding (``tests/test_fast_cpu.py``: 1e-5 relative, every arch).

Private PyTorch APIs (``torch.ops.mkldnn._convolution_pointwise``, ``torch._C._nn.gelu_``) are
used only when :data:`PRIVATE_KERNELS` says that this torch has them and they pass a numerical
self-check; otherwise (or after ``use_private_kernels(False)``) the same fast forwards run on
public ops only.

Example:
    >>> import torch
    >>> from emo_mm.models import EMOv2
    >>> from emo_mm.models.fast_cpu import optimize_for_cpu
    >>> model = optimize_for_cpu(EMOv2(arch='1m', out_indices=(4, )).eval(), deploy=True)
    >>> with torch.inference_mode():
    ...     model(torch.rand(1, 3, 224, 224))[0].shape
    torch.Size([1, 180, 7, 7])
"""
import functools
from typing import Dict, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.modules.utils import _pair

from .backbones import EMO, EMOv2
from .backbones.base import EMOBackboneBase, emo_mm_backbones
from .layers import ConvNormAct, InvertedResidualMobileBlock, LayerScale2d, SqueezeExcite
from .layers.tracing import is_exporting

__all__ = ['optimize_for_cpu', 'restore_reference', 'is_optimized', 'use_private_kernels',
           'emo_backbones', 'PRIVATE_KERNELS', 'kernels_in_use']

#: Torch versions whose private oneDNN entry points were checked with this module.
_PRIVATE_TORCH = ((2, 1), (2, 15))
#: oneDNN post-op (``attr``, ``algorithm``) of each activation (``'gelu'`` = exact erf GELU).
_ONEDNN_ACTS = {'silu': ('swish', None), 'gelu': ('gelu', 'none')}
#: Smallest conv output (elements) for which the fused oneDNN conv + activation kernel beats a
#: conv and an in-place activation on the CPUs we measured.
FUSED_ACT_MIN_NUMEL = {'silu': 2**18, 'gelu': 2**15}
#: Levels ``0..TILED_LEVELS-1`` (strides 2-8) run on tiles of a few images whose widest
#: activation takes at most ``TILE_BYTES`` (a fraction of a server L3 cache).
TILED_LEVELS = 3
TILE_BYTES = 20 * 2**20


def _torch_version() -> Tuple[int, int]:
    return tuple(int(p) for p in torch.__version__.split('+')[0].split('.')[:2])


def _private_available() -> bool:
    """Whether this torch has the private oneDNN kernels in the checked version range."""
    low, high = _PRIVATE_TORCH
    return (low <= _torch_version() < high and torch.backends.mkldnn.is_available()
            and hasattr(torch.ops.mkldnn, '_convolution_pointwise')
            and hasattr(torch._C._nn, 'gelu_'))


#: True when the private kernels may be used (version guard; see :func:`use_private_kernels`).
PRIVATE_KERNELS = _private_available()
_private_enabled = PRIVATE_KERNELS


@functools.lru_cache(maxsize=None)
def _private_kernels_work() -> bool:
    """One-time numerical self-check of the private kernels against public ops."""
    try:
        x = torch.randn(1, 4, 6, 6)
        w, b = torch.randn(8, 4, 3, 3), torch.randn(8)
        with torch.no_grad():
            for act, (attr, algorithm) in _ONEDNN_ACTS.items():
                ref = F.conv2d(x, w, b, 1, 1)
                ref = F.silu(ref) if act == 'silu' else F.gelu(ref)
                got = torch.ops.mkldnn._convolution_pointwise(x, w, b, [1, 1], [1, 1], [1, 1], 1,
                                                              attr, [], algorithm)
                if not torch.allclose(got, ref, rtol=1e-4, atol=1e-4):
                    return False
            y = torch.randn(5)
            return torch.allclose(torch._C._nn.gelu_(y.clone()), F.gelu(y))
    except Exception:  # a changed signature: use the public ops
        return False


def use_private_kernels(enabled: bool) -> bool:
    """Allow / forbid the private oneDNN kernels (never allowed where :data:`PRIVATE_KERNELS` is
    False); returns the previous setting. The fast path then uses public ops only.

    Example:
        >>> previous = use_private_kernels(False)  # public ops only, e.g. to compare
        >>> _ = use_private_kernels(previous)
    """
    global _private_enabled
    previous, _private_enabled = _private_enabled, bool(enabled) and PRIVATE_KERNELS
    return previous


def _private() -> bool:
    return _private_enabled and torch.backends.mkldnn.enabled and _private_kernels_work()


def kernels_in_use() -> str:
    """Which kernels the fast path runs now, in words (the benchmark prints it with every
    table: a torch outside the checked version range changes every published speed figure).

    ``'private oneDNN kernels ...'`` when the fused conv + activation kernels run, else
    ``'public ops ...'`` with the reason."""
    dotted = lambda v: '.'.join(map(str, v))  # noqa: E731
    version, (low, high) = _torch_version(), _PRIVATE_TORCH
    if _private():
        return ('private oneDNN kernels (torch.ops.mkldnn._convolution_pointwise with fused '
                f'SiLU / GELU, torch._C._nn.gelu_; torch {dotted(version)})')
    if not PRIVATE_KERNELS:
        why = (f'torch {dotted(version)} is outside the checked range {dotted(low)} <= torch < '
               f'{dotted(high)}' if not low <= version < high else
               'this torch lacks them or oneDNN')
    elif not _private_enabled:
        why = 'turned off with use_private_kernels(False)'
    elif not torch.backends.mkldnn.enabled:
        why = 'oneDNN is disabled'
    else:
        why = 'they failed their numerical self-check'
    return f'public ops (the private oneDNN kernels are not used: {why})'



def _fast(module: nn.Module, x: torch.Tensor) -> bool:
    """Whether the fast forward may run: eager float32 CPU inference without autograd."""
    return (not module.training and not torch.is_grad_enabled() and x.is_cpu
            and x.dtype is torch.float32 and not is_exporting())


def _act_(x: torch.Tensor, name: str) -> torch.Tensor:
    """Apply the activation ``name`` in place (exact GELU in place only with private kernels)."""
    if name == 'silu':
        return F.silu(x, inplace=True)
    if name == 'gelu':
        return torch._C._nn.gelu_(x) if _private() else F.gelu(x)
    return x


def conv_act(unit: ConvNormAct, x: torch.Tensor, residual: Optional[torch.Tensor] = None,
             scale: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``act(conv(x) * scale) (+ residual)`` of a norm-free :class:`ConvNormAct`.

    Args:
        unit (ConvNormAct): A unit whose norm is Identity (e.g. BN folded).
        x (Tensor): Input.
        residual (Tensor, optional): Added in place to the output, after the activation.
        scale (Tensor, optional): Per output channel factor (a LayerScale ``gamma``), folded
            into the conv weight and bias.
    """
    conv = unit.conv
    weight, bias = conv.weight, conv.bias
    if scale is not None:
        scale = scale.reshape(-1)
        weight = weight * scale.view(-1, 1, 1, 1)
        bias = None if bias is None else bias * scale
    out_numel = x.numel() // conv.in_channels * conv.out_channels // conv.stride[0]**2
    if _private() and out_numel >= FUSED_ACT_MIN_NUMEL.get(unit.act_name, float('inf')):
        attr, algorithm = _ONEDNN_ACTS[unit.act_name]
        y = torch.ops.mkldnn._convolution_pointwise(x, weight, bias, _pair(conv.padding),
                                                     conv.stride, conv.dilation, conv.groups,
                                                     attr, [], algorithm)
    else:
        y = _act_(F.conv2d(x, weight, bias, conv.stride, conv.padding, conv.dilation,
                           conv.groups), unit.act_name)
    return y if residual is None else y.add_(residual)


class FastConvNormAct(ConvNormAct):
    """:class:`ConvNormAct` with the fast forward (norm-free or eval-mode BN units)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if _fast(self, x):
            if isinstance(self.norm, nn.Identity):
                return conv_act(self, x)
            if isinstance(self.norm, nn.BatchNorm2d):
                return _act_(self.norm(self.conv(x)), self.act_name)
        return super().forward(x)


class FastInvertedResidualMobileBlock(InvertedResidualMobileBlock):
    """The block with in-place skip / SE and projection + LayerScale + residual fused."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not _fast(self, x):
            return super().forward(x)
        mixed = self.mixer(self.norm(x))
        y = self.conv_local(mixed)  # a fresh tensor: safe to update in place
        if self.has_skip:
            y += mixed
        if isinstance(self.se, SqueezeExcite):
            y *= self.se.gate(y)
        scale = self.ls.gamma if isinstance(self.ls, LayerScale2d) else None
        return conv_act(self.proj, y, x if self.has_skip else None, scale)


class _FastBackbone:
    """Backbones whose high-resolution levels run depth first on tiles of the batch."""

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        tile = self._tile_size(x)
        if tile == 0:
            return super().forward(x)
        self._check_input(x)
        stop = self.out_indices[-1] + 1
        first = min(TILED_LEVELS, stop)
        pieces = [self._forward_levels(chunk, 0, first) for chunk in x.split(tile)]
        outs = [torch.cat(level_outs) for level_outs in zip(*(p[1] for p in pieces))]
        x = torch.cat([p[0] for p in pieces]) if first < stop else x
        return tuple(outs + self._forward_levels(x, first, stop)[1])

    def _tile_size(self, x: torch.Tensor) -> int:
        """Images per tile; 0 = no tiling (no fast path, or the batch already fits)."""
        if x.dim() != 4 or not _fast(self, x):
            return 0
        per_image = widest_activation(self) * x.shape[2] * x.shape[3] * x.element_size()
        tile = max(1, int(TILE_BYTES // per_image))
        return tile if tile < x.shape[0] else 0


class FastEMO(_FastBackbone, EMO):
    """:class:`EMO` with batch tiling."""


class FastEMOv2(_FastBackbone, EMOv2):
    """:class:`EMOv2` with batch tiling."""


#: Reference class -> fast class (exact types: a user subclass keeps its own forward).
FAST_CLASSES: Dict[type, type] = {
    ConvNormAct: FastConvNormAct,
    InvertedResidualMobileBlock: FastInvertedResidualMobileBlock,
    EMO: FastEMO,
    EMOv2: FastEMOv2,
}
_REFERENCE_CLASSES = {fast: ref for ref, fast in FAST_CLASSES.items()}


def widest_activation(backbone: EMOBackboneBase) -> float:
    """Channels per input pixel of the widest conv output of the tiled levels."""
    stride, widest = 1, 0.
    for level in backbone.levels[:TILED_LEVELS]:
        for module in level.modules():
            if isinstance(module, nn.Conv2d):
                stride *= module.stride[0]
                widest = max(widest, module.out_channels / stride**2)
    return widest


#: The emo_mm backbones in a model (:func:`emo_mm.models.emo_mm_backbones`, kept under this name).
emo_backbones = emo_mm_backbones


def optimize_for_cpu(model: nn.Module, deploy: bool = False) -> nn.Module:
    """Give every EMO / EMOv2 unit of ``model`` its CPU fast forward (in place).

    Other emo_mm backbones built from the same units (e.g. EdgeFormer's :class:`ConvNormAct`)
    get the fast forward of those units.

    Args:
        model (nn.Module): A backbone, or any model holding one (classifier, detector,
            segmentor), in eval mode.
        deploy (bool): Fold the BatchNorms first (``switch_to_deploy()`` of each emo_mm
            backbone). Defaults to False.

    Returns:
        nn.Module: ``model`` itself.

    Raises:
        ValueError: ``model`` is in training mode, or holds no emo_mm backbone.
    """
    if model.training:
        raise ValueError('optimize_for_cpu rewrites an eval-mode model: call model.eval() first '
                         '(training always uses the reference forwards)')
    backbones = emo_backbones(model)
    if not backbones:
        raise ValueError(f'{type(model).__name__} holds no emo_mm backbone (EMO, EMOv2, '
                         'EdgeFormer) to optimise')
    if deploy:
        for backbone in backbones:
            backbone.switch_to_deploy()
    for module in model.modules():
        fast = FAST_CLASSES.get(type(module))
        if fast is not None:
            module.__class__ = fast
    return model


def restore_reference(model: nn.Module) -> nn.Module:
    """Undo :func:`optimize_for_cpu` (the reference forwards again, in place); returns ``model``."""
    for module in model.modules():
        reference = _REFERENCE_CLASSES.get(type(module))
        if reference is not None:
            module.__class__ = reference
    return model


def is_optimized(model: nn.Module) -> bool:
    """Whether any unit of ``model`` runs the fast forward."""
    return any(type(m) in _REFERENCE_CLASSES for m in model.modules())

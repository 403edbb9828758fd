"""Official EdgeFormer / ParC-Net checkpoints <-> emo_mm (mmpretrain layout).

The official files (``checkpoint_ema_avg.pt``) are flat state dicts of the ml-cvnets model; the
detection / segmentation ones prefix the backbone with ``encoder.``. The mapping, with ``s`` the
emo_mm level (``k = s + 1`` the official stage) and ``n`` the number of ParC blocks of the stage:

============================================================ =========================================
official                                                     emo_mm (classifier, under ``backbone.``)
============================================================ =========================================
``conv_1.block.{conv,norm}``                                 ``stage0.0.{conv,norm}``
``layer_1.j.block.{exp_1x1,conv_3x3,red_1x1}.block.*``       ``stage0.(j+1).{expand,dw,project}.*``
``layer_2.j.block.…``                                        ``stage1.j.…``
``layer_k.0.block.…`` (k = 3..5)                             ``stage{s}.0.…``
``layer_k.1.dim_adaptive.{0,1}.block.*``                     ``stage{s}.1.{local,proj_in}.*``
``layer_k.1.spatial_global_rep.b.…`` (b < n)                 ``stage{s}.1.blocks.b.…`` (below)
``layer_k.1.spatial_global_rep.n.*`` (BatchNorm)             ``stage{s}.1.norm.*``
``layer_k.1.{channel_adaptive,local_global_fusion}.block.*`` ``stage{s}.1.{proj_out,fusion}.*``
``conv_1x1_exp.block.*``                                     ``final_conv.*``
``classifier.fc.*``                                          ``head.fc.*`` (no ``backbone.``)
``residual.*`` (an alias of ``layer_5.0.*``)                 dropped, after checking it equals
============================================================ =========================================

Inside a ParC block: ``meta_kernel_1_H`` / ``meta_kernel_2_W`` -> ``hw.conv1`` / ``hw.conv2``,
``meta_kernel_1_W`` / ``meta_kernel_2_H`` -> ``wh.conv1`` / ``wh.conv2`` (``.weight``, stored
``(d, K)`` instead of ``(d, 1, K, 1)`` / ``(d, 1, 1, K)``), ``meta_pe_*`` likewise to
``{hw,wh}.pos_embed{1,2}.weight`` (from ``(1, d, K, 1)`` / ``(1, d, 1, K)``), ``pre_Norm_{1,2}``
-> ``{hw,wh}.norm``, ``ffn.{0,1,4}`` -> ``ffn.{norm,fc1,fc2}``, ``ca.fc.{0,1,3,4}`` ->
``ca.{reduce.conv,reduce.norm,expand.conv,expand.norm}``.

Both directions are strict: every key of the detected variant must be present with its shape,
and any key that has no counterpart is named in the error.
"""
import re
from collections import OrderedDict
from typing import Dict, List, Tuple

import torch

from emo_mm.io import CheckpointError
from emo_mm.registry import MODELS
from ..archs import EDGEFORMER_ARCHS
from .common import unwrap_state_dict

ALIAS = 'residual.'
ALIASED = 'layer_5.0.'
MV2_UNITS = {'expand': 'exp_1x1', 'dw': 'conv_3x3', 'project': 'red_1x1'}
FRAME_UNITS = {'local': 'dim_adaptive.0', 'proj_in': 'dim_adaptive.1', 'proj_out': 'channel_adaptive',
               'fusion': 'local_global_fusion'}
PARC_NAMES = {
    'hw.conv1.weight': 'meta_kernel_1_H', 'hw.conv2.weight': 'meta_kernel_2_W',
    'wh.conv1.weight': 'meta_kernel_1_W', 'wh.conv2.weight': 'meta_kernel_2_H',
    'hw.pos_embed1.weight': 'meta_pe_1_H', 'hw.pos_embed2.weight': 'meta_pe_2_W',
    'wh.pos_embed1.weight': 'meta_pe_1_W', 'wh.pos_embed2.weight': 'meta_pe_2_H',
}
PARC_PREFIXES = {'hw.norm.': 'pre_Norm_1.', 'wh.norm.': 'pre_Norm_2.', 'ffn.norm.': 'ffn.0.',
                 'ffn.fc1.': 'ffn.1.', 'ffn.fc2.': 'ffn.4.', 'ca.reduce.conv.': 'ca.fc.0.',
                 'ca.reduce.norm.': 'ca.fc.1.', 'ca.expand.conv.': 'ca.fc.3.',
                 'ca.expand.norm.': 'ca.fc.4.'}


def _signature(stem: int, widths: List[int], depths: List[int]) -> Tuple:
    return stem, tuple(widths), tuple(depths)


def _known() -> Dict[Tuple, str]:
    return {_signature(a['stem_channels'], a['parc_channels'], a['parc_depths']): name
            for name, a in EDGEFORMER_ARCHS.items()}


def _arch_of(sd: Dict[str, torch.Tensor], stem_key: str, width_keys: List[str],
             block_patterns: List[str]) -> str:
    """Arch from the stem width and the width / number of ParC blocks of the three ParC stages."""
    for key in [stem_key] + width_keys:
        if key not in sd:
            raise CheckpointError(f'Not an EdgeFormer checkpoint: no {key!r} key (first keys: '
                                  f'{list(sd)[:5]})')
    depths = []
    for pattern in map(re.compile, block_patterns):
        depths.append(len({m.group(1) for k in sd for m in [pattern.match(k)] if m}))
    found = _signature(sd[stem_key].shape[0], [sd[k].shape[0] for k in width_keys], depths)
    arch = _known().get(found)
    if arch is None:
        known = {v: f'stem {k[0]}, ParC widths {list(k[1])}, blocks {list(k[2])}'
                 for k, v in _known().items()}
        raise CheckpointError(f'Unknown EdgeFormer variant: stem width {found[0]}, ParC widths '
                              f'{list(found[1])}, ParC blocks {list(found[2])}; known: {known}')
    return arch


def detect_edgeformer_arch(state_dict: Dict[str, torch.Tensor]) -> str:
    """The arch (``'xs'`` / ``'s'`` / ``'h'``) of an official or emo_mm EdgeFormer state dict."""
    if any(k.startswith('backbone.') for k in state_dict):
        return _arch_of(state_dict, 'backbone.stage0.0.conv.weight',
                        [f'backbone.stage{s}.1.local.conv.weight' for s in (2, 3, 4)],
                        [rf'^backbone\.stage{s}\.1\.blocks\.(\d+)\.' for s in (2, 3, 4)])
    sd = {k[len('encoder.'):] if k.startswith('encoder.') else k: v for k, v in state_dict.items()}
    # spatial_global_rep.0..n-1 are the ParC blocks, spatial_global_rep.n the final BatchNorm
    return _arch_of(sd, 'conv_1.block.conv.weight',
                    [f'layer_{k}.1.dim_adaptive.0.block.conv.weight' for k in (3, 4, 5)],
                    [rf'^layer_{k}\.1\.spatial_global_rep\.(\d+)\.(?:meta_|pre_Norm|ffn\.|ca\.)'
                     for k in (3, 4, 5)])


def _expected(arch: str) -> 'OrderedDict[str, torch.Size]':
    """emo_mm classifier keys and shapes of ``arch``: those of the registered backbone, built on
    the meta device (no memory; looked up in the registry, which keeps the models out of the
    converters' imports)."""
    with torch.device('meta'):
        backbone = MODELS.build(dict(type='EdgeFormer', arch=arch, final_conv=True))
    shapes = OrderedDict((f'backbone.{k}', v.shape) for k, v in backbone.state_dict().items())
    classes, width = 1000, EDGEFORMER_ARCHS[arch]['final_channels']
    shapes['head.fc.weight'], shapes['head.fc.bias'] = torch.Size((classes, width)), torch.Size((classes, ))
    return shapes


def _official_name(key: str, depths: List[int]) -> str:
    """The official name of an emo_mm classifier key."""
    if key.startswith('head.fc.'):
        return 'classifier.fc.' + key[len('head.fc.'):]
    key = key[len('backbone.'):]
    if key.startswith('final_conv.'):
        return 'conv_1x1_exp.block.' + key[len('final_conv.'):]
    level, index, rest = re.match(r'^stage(\d)\.(\d+)\.(.*)$', key).groups()
    level, index = int(level), int(index)
    if level == 0 and index == 0:
        return f'conv_1.block.{rest}'
    if level <= 1 or index == 0:  # a MobileNetV2 block
        stage = {0: f'layer_1.{index - 1}', 1: f'layer_2.{index}'}.get(level, f'layer_{level + 1}.0')
        unit, leaf = rest.split('.', 1)
        return f'{stage}.block.{MV2_UNITS[unit]}.block.{leaf}'
    frame = f'layer_{level + 1}.1'
    unit, leaf = rest.split('.', 1)
    if unit in FRAME_UNITS:
        return f'{frame}.{FRAME_UNITS[unit]}.block.{leaf}'
    if unit == 'norm':
        return f'{frame}.spatial_global_rep.{depths[level - 2]}.{leaf}'
    block, leaf = leaf.split('.', 1)
    if leaf in PARC_NAMES:
        return f'{frame}.spatial_global_rep.{block}.{PARC_NAMES[leaf]}'
    prefix = next(p for p in PARC_PREFIXES if leaf.startswith(p))
    return f'{frame}.spatial_global_rep.{block}.{PARC_PREFIXES[prefix]}{leaf[len(prefix):]}'


def _official_shape(key: str, shape: torch.Size) -> torch.Size:
    """Official shape of an emo_mm tensor: the meta kernels / PEs are 4-D there."""
    name = key.rsplit('.', 1)[-1]
    if name.startswith('meta_kernel'):
        d, k = shape
        return torch.Size((d, 1, k, 1) if name.endswith('_H') else (d, 1, 1, k))
    if name.startswith('meta_pe'):
        d, k = shape
        return torch.Size((1, d, k, 1) if name.endswith('_H') else (1, d, 1, k))
    return shape


def _table(arch: str) -> 'OrderedDict[str, Tuple[str, torch.Size, torch.Size]]':
    """``{emo_mm key: (official key, emo_mm shape, official shape)}`` of ``arch``."""
    depths = EDGEFORMER_ARCHS[arch]['parc_depths']
    table = OrderedDict()
    for key, shape in _expected(arch).items():
        official = _official_name(key, depths)
        table[key] = (official, shape, _official_shape(official, shape))
    return table


def _same_shape(key: str, shape: torch.Size, expected: torch.Size) -> bool:
    """Shapes must match, except those of the classifier (any number of classes)."""
    head = key.startswith(('head.', 'classifier.'))
    return shape == expected or (head and len(shape) == len(expected))


def _fail(what: str, missing: List[str], unexpected: List[str], mismatched: List[str]) -> None:
    if not (missing or unexpected or mismatched):
        return
    lines = [what]
    for title, keys in (('missing keys', missing), ('unexpected keys', unexpected),
                        ('shape mismatches', mismatched)):
        if keys:
            lines += [f'{title} ({len(keys)}):'] + [f'  {k}' for k in keys[:20]]
            if len(keys) > 20:
                lines.append(f'  ... and {len(keys) - 20} more')
    raise CheckpointError('\n'.join(lines))


def _drop_alias(sd: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Remove the official ``residual.*`` alias, checking that it equals ``layer_5.0.*``."""
    for key in [k for k in sd if k.startswith(ALIAS)]:
        target = ALIASED + key[len(ALIAS):]
        if target not in sd or not torch.equal(sd[key], sd[target]):
            raise CheckpointError(f'{key!r} should be an alias of {target!r} (the official model '
                                  'stores layer_5.0 twice) but it is missing or differs')
        del sd[key]
    return sd


def edgeformer_official_to_mmpretrain(checkpoint: dict, backbone_only: bool = False
                                      ) -> 'OrderedDict[str, torch.Tensor]':
    """Convert an official EdgeFormer checkpoint to the emo_mm classifier layout.

    Idempotent: an emo_mm state dict (``backbone.*`` keys) is checked and returned as it is.
    Official detection / segmentation files (``encoder.*``) convert with ``backbone_only=True``
    (their heads do not exist in mmdet / mmseg).

    Args:
        checkpoint (dict): The loaded file (flat, or wrapped in ``state_dict`` / ``model`` / ...;
            ``module.`` prefixes are removed).
        backbone_only (bool): Keep only the ``backbone.*`` keys without the classification
            expansion conv (what det / seg ``init_cfg`` Pretrained loads). Defaults to False.

    Returns:
        OrderedDict: ``backbone.*`` (and ``head.fc.*``) tensors.

    Raises:
        CheckpointError: not an EdgeFormer file, unknown variant, or missing / unexpected /
            mis-shaped keys (each named).

    Example:
        >>> from emo_mm.io import load_checkpoint_file
        >>> official = load_checkpoint_file('checkpoint_ema_avg.pt')  # doctest: +SKIP
        >>> sd = edgeformer_official_to_mmpretrain(official)  # doctest: +SKIP
        >>> sorted({k.split('.')[0] for k in sd})  # doctest: +SKIP
        ['backbone', 'head']
    """
    sd = OrderedDict(unwrap_state_dict(checkpoint))
    arch = detect_edgeformer_arch(sd)
    table = _table(arch)
    if any(k.startswith('backbone.') for k in sd):
        converted = sd
        mismatched = [f'{k}: {tuple(v.shape)} vs {tuple(table[k][1])}' for k, v in sd.items()
                      if k in table and not _same_shape(k, v.shape, table[k][1])]
        unexpected = [k for k in sd if k not in table]
        missing = [] if backbone_only else [k for k in table if k not in sd]
        _fail(f'Not a complete emo_mm EdgeFormer-{arch.upper()} state dict:', missing, unexpected,
              mismatched)
    else:
        if any(k.startswith('encoder.') for k in sd):
            heads = sorted({k.split('.')[0] for k in sd if not k.startswith('encoder.')})
            if not backbone_only:
                raise CheckpointError(
                    f'An official EdgeFormer detection / segmentation checkpoint (encoder.* plus '
                    f'{heads}): its heads have no mmdet / mmseg counterpart. Convert the backbone '
                    'with backbone_only=True (--backbone-only).')
            sd = OrderedDict((k[len('encoder.'):], v) for k, v in sd.items() if k.startswith('encoder.'))
        sd = _drop_alias(sd)
        official = {entry[0]: key for key, entry in table.items()}
        unexpected = [k for k in sd if k not in official]
        needed = [(key, entry) for key, entry in table.items() if not backbone_only
                  or not key.startswith(('head.', 'backbone.final_conv.'))]
        missing = [entry[0] for _, entry in needed if entry[0] not in sd]
        mismatched = [f'{entry[0]}: {tuple(sd[entry[0]].shape)} vs {tuple(entry[2])}'
                      for _, entry in needed
                      if entry[0] in sd and not _same_shape(entry[0], sd[entry[0]].shape, entry[2])]
        _fail(f'Official EdgeFormer-{arch.upper()} checkpoint does not convert:', missing,
              unexpected, mismatched)
        converted = OrderedDict(
            (key, sd[entry[0]].reshape(entry[1]) if key.startswith('backbone.') else sd[entry[0]])
            for key, entry in table.items() if entry[0] in sd)
    if backbone_only:
        converted = OrderedDict((k, v) for k, v in converted.items()
                                if k.startswith('backbone.') and not k.startswith('backbone.final_conv.'))
    return converted


def edgeformer_mmpretrain_to_official(state_dict: Dict[str, torch.Tensor]
                                      ) -> 'OrderedDict[str, torch.Tensor]':
    """Inverse of :func:`edgeformer_official_to_mmpretrain`: emo_mm -> the official layout, with
    the ``residual.*`` alias of ``layer_5.0`` that the official strict loader expects.

    A backbone-only state dict gives the official keys it has (no ``conv_1x1_exp`` /
    ``classifier``).
    """
    sd = unwrap_state_dict(state_dict)
    if not any(k.startswith('backbone.') for k in sd):
        raise CheckpointError('Expected an emo_mm EdgeFormer state dict with "backbone.*" keys '
                              f'(first keys: {list(sd)[:5]})')
    table = _table(detect_edgeformer_arch(sd))
    unexpected = [k for k in sd if k not in table]
    mismatched = [f'{k}: {tuple(v.shape)} vs {tuple(table[k][1])}' for k, v in sd.items()
                  if k in table and not _same_shape(k, v.shape, table[k][1])]
    _fail('Not an emo_mm EdgeFormer state dict:', [], unexpected, mismatched)
    converted, alias = OrderedDict(), OrderedDict()
    for key, (official, _, shape) in table.items():
        if key in sd:
            converted[official] = sd[key].reshape(shape) if key.startswith('backbone.') else sd[key]
            if official.startswith(ALIASED):
                alias[ALIAS + official[len(ALIASED):]] = converted[official]
    out = OrderedDict()  # official order: conv_1, layer_1, layer_2, residual, layer_3, ...
    for key, value in converted.items():
        if key.startswith('layer_3.'):
            out.update(alias)
            alias.clear()
        out[key] = value
    return out

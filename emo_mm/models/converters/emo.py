"""Official EMO / EMOv2 checkpoints <-> emo_mm (mmpretrain layout), and variant detection.

Official classification checkpoints are flat state dicts (``stage0..stage4``, ``norm.norm.*``,
``head.*``), possibly wrapped in ``net`` / ``net_E`` (EMA) / ``state_dict`` / ``model`` and
prefixed with ``module.``. emo_mm keeps the official block names, with these renames:

=============================================== =============================================
official                                        emo_mm (classifier)
=============================================== =============================================
``stageS.j.…`` (every backbone key)             ``backbone.stageS.j.…``
``….norm.norm.{weight,bias}`` (LayerNorm)       ``….norm.{weight,bias}``
``stage0.0.convs.0.0.`` / ``convs.0.1.`` (EMO)  ``stage0.0.conv.`` / ``stage0.0.norm.``
``stageS.j.qk.`` / ``v.`` (EMO attention)       ``stageS.j.mixer.qk.`` / ``mixer.v.``
``stageS.j.v.`` (EMO conv block)                ``stageS.j.mixer.``
``stageS.j.eops.0.net.`` / ``eops.0.`` (EMOv2)  ``stageS.j.mixer.``
``norm.norm.*`` (final LayerNorm)               ``backbone.norm.*``
``head.*``                                      ``head.fc.*``
=============================================== =============================================

The version and arch of a state dict are detected from its keys (:func:`detect_variant`) against
the arch zoos of :mod:`emo_mm.models.archs`.
"""
import re
from collections import OrderedDict
from typing import Dict, List, Tuple

import torch

from emo_mm.io import CheckpointError
from ..archs import EMO_ARCHS, EMOV2_ARCHS
from .common import unwrap_state_dict

__all__ = ['convert_official_to_mmpretrain', 'convert_mmpretrain_to_official', 'detect_variant']

ARCH_ZOOS = {'EMO': EMO_ARCHS, 'EMOv2': EMOV2_ARCHS}


def _block_ids(state_dict: Dict[str, torch.Tensor], stage: int) -> List[int]:
    pattern = re.compile(rf'^stage{stage}\.(\d+)\.')
    return sorted({int(m.group(1)) for k in state_dict for m in [pattern.match(k)] if m})


def detect_variant(state_dict: Dict[str, torch.Tensor]) -> Tuple[str, str]:
    """Return ``('EMO' | 'EMOv2', arch)`` of an official or emo_mm state dict, from its keys.

    The version comes from the key layout (EMOv2 has ``ls.gamma``), the arch from the depths and
    widths of the stages. Raises :class:`CheckpointError` naming what was found otherwise.
    """
    sd = {k[len('backbone.'):]: v for k, v in state_dict.items() if k.startswith('backbone.')} or state_dict
    if not any(k.startswith('stage1.0.') for k in sd):
        raise CheckpointError('Not an EMO / EMOv2 checkpoint: no "stage1.0.*" keys (first keys: '
                              f'{list(sd)[:5]})')
    version = 'EMOv2' if any(k.endswith('ls.gamma') for k in sd) else 'EMO'
    depths = [len(_block_ids(sd, s)) for s in range(1, 5)]
    dims = []
    for s in range(1, 5):
        proj = sd.get(f'stage{s}.0.proj.conv.weight')
        if proj is None:
            raise CheckpointError(f'Not an EMO / EMOv2 checkpoint: "stage{s}.0.proj.conv.weight" missing')
        dims.append(proj.shape[0])
    for arch, settings in ARCH_ZOOS[version].items():
        if settings['depths'] == depths and settings['embed_dims'] == dims:
            return version, arch
    known = {f'{version} {a}': (s['depths'], s['embed_dims']) for a, s in ARCH_ZOOS[version].items()}
    raise CheckpointError(f'Unknown {version} variant: depths {depths}, widths {dims}; known '
                          f'variants (depths, widths): {known}')


def _v1_attention_blocks(sd: Dict[str, torch.Tensor], prefix: str = '') -> set:
    return {m.group(1) for k in sd for m in [re.match(rf'^{prefix}(stage\d+\.\d+)\.(?:mixer\.)?qk\.', k)] if m}


def convert_official_to_mmpretrain(checkpoint: dict, backbone_only: bool = False,
                                   prefer_ema: bool = True) -> 'OrderedDict[str, torch.Tensor]':
    """Convert an official EMO / EMOv2 checkpoint to the emo_mm classifier layout.

    Idempotent: an already converted state dict (``backbone.*`` keys) is returned as it is
    (minus the head with ``backbone_only``). Raises :class:`CheckpointError` for a non-EMO
    checkpoint or an unknown variant.

    Args:
        checkpoint (dict): The loaded official file (flat or wrapped, see :func:`unwrap_state_dict`).
        backbone_only (bool): Drop the classification head and final LayerNorm, keeping the
            ``backbone.`` prefix (what det / seg ``init_cfg`` Pretrained loads). Defaults to False.
        prefer_ema (bool): Use ``net_E`` over ``net`` when both exist. Defaults to True.

    Returns:
        OrderedDict: The converted state dict.

    Example:
        >>> import torch
        >>> official = torch.load('EMOv2_1M_224.pth', weights_only=True)  # doctest: +SKIP
        >>> sd = convert_official_to_mmpretrain(official)  # doctest: +SKIP
        >>> sorted({k.split('.')[0] for k in sd})  # doctest: +SKIP
        ['backbone', 'head']
        >>> backbone = convert_official_to_mmpretrain(official, backbone_only=True)  # doctest: +SKIP
    """
    sd = unwrap_state_dict(checkpoint, prefer_ema)
    if any(k.startswith('backbone.') for k in sd):
        detect_variant(sd)  # still validate that it is an EMO checkpoint
        converted = OrderedDict(sd)
    else:
        version, _ = detect_variant(sd)
        attention = _v1_attention_blocks(sd)
        converted = OrderedDict()
        for key, value in sd.items():
            new = key.replace('.norm.norm.', '.norm.')
            if new.startswith('norm.norm.'):
                new = 'backbone.norm.' + new[len('norm.norm.'):]
            elif new.startswith('head.'):
                new = 'head.fc.' + new[len('head.'):]
            else:
                new = new.replace('stage0.0.convs.0.0.', 'stage0.0.conv.')
                new = new.replace('stage0.0.convs.0.1.', 'stage0.0.norm.')
                if version == 'EMOv2':
                    new = new.replace('.eops.0.net.', '.mixer.').replace('.eops.0.', '.mixer.')
                else:
                    block = '.'.join(new.split('.')[:2])
                    rest = new[len(block) + 1:]
                    if block in attention and rest.startswith(('qk.', 'v.')):
                        new = f'{block}.mixer.{rest}'
                    elif rest.startswith('v.'):
                        new = f'{block}.mixer.{rest[2:]}'
                new = 'backbone.' + new
            converted[new] = value
    if backbone_only:
        converted = OrderedDict((k, v) for k, v in converted.items()
                                if not k.startswith(('head.', 'backbone.norm.')))
    return converted


def convert_mmpretrain_to_official(state_dict: Dict[str, torch.Tensor]) -> 'OrderedDict[str, torch.Tensor]':
    """Inverse of :func:`convert_official_to_mmpretrain` (train-form models only)."""
    sd = unwrap_state_dict(state_dict)
    if not any(k.startswith('backbone.') for k in sd):
        raise CheckpointError('Expected an emo_mm checkpoint with "backbone.*" keys')
    if any(k.endswith('conv_local.conv.bias') for k in sd):
        raise CheckpointError('Deploy-mode (BN-folded) checkpoints have no official equivalent')
    version, _ = detect_variant(sd)
    attention = _v1_attention_blocks(sd, 'backbone\\.')
    out = OrderedDict()
    for key, value in sd.items():
        if key.startswith('head.fc.'):
            out['head.' + key[len('head.fc.'):]] = value
            continue
        key = key[len('backbone.'):]
        if key.startswith('norm.'):
            out['norm.norm.' + key[len('norm.'):]] = value
            continue
        if version == 'EMO':
            key = key.replace('stage0.0.conv.', 'stage0.0.convs.0.0.').replace('stage0.0.norm.', 'stage0.0.convs.0.1.')
        block = '.'.join(key.split('.')[:2])
        rest = key[len(block) + 1:]
        if rest.startswith('norm.') and f'{block}.norm.running_mean' not in sd and \
                f'backbone.{block}.norm.running_mean' not in sd:
            rest = 'norm.' + rest  # a LayerNorm: official nests it as norm.norm
        if rest.startswith('mixer.'):
            inner = rest[len('mixer.'):]
            if version == 'EMOv2':
                rest = f'eops.0.{inner}' if inner.startswith(('qk.', 'v.')) else f'eops.0.net.{inner}'
            else:
                rest = inner if block in attention else f'v.{inner}'
        out[f'{block}.{rest}'] = value
    return out

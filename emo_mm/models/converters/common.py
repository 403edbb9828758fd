"""Helpers shared by the official-checkpoint converters."""
from collections import OrderedDict
from typing import Dict

import torch

from emo_mm.io import CheckpointError

__all__ = ['WRAPPER_KEYS', 'unwrap_state_dict']

#: Keys under which trainers wrap the state dict (``net_E``: the EMA weights of the official
#: EMO trainer).
WRAPPER_KEYS = ('state_dict', 'model', 'net_E', 'net')


def unwrap_state_dict(checkpoint: dict, prefer_ema: bool = True) -> Dict[str, torch.Tensor]:
    """Return the flat state dict of a checkpoint, without ``module.`` prefixes.

    Accepts flat dicts and dicts wrapping one in ``state_dict``, ``model``, ``net_E`` (the EMA
    weights of the official trainer) or ``net``. When both ``net_E`` and ``net`` exist, ``net_E`` is
    used unless ``prefer_ema=False`` (the released files and every official downstream run use the
    EMA weights).
    """
    if not isinstance(checkpoint, dict):
        raise CheckpointError(f'Expected a dict checkpoint, got {type(checkpoint).__name__}')
    order = WRAPPER_KEYS if prefer_ema else ('state_dict', 'model', 'net', 'net_E')
    for key in order:
        if isinstance(checkpoint.get(key), dict):
            checkpoint = checkpoint[key]
            break
    tensors = {k: v for k, v in checkpoint.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise CheckpointError('The checkpoint holds no tensors (expected a state dict, or one '
                              f'wrapped in one of {list(WRAPPER_KEYS)}); top-level keys: '
                              f'{list(checkpoint)[:10]}')
    return OrderedDict((k[len('module.'):] if k.startswith('module.') else k, v)
                       for k, v in tensors.items())

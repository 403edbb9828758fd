"""Checked loading of ImageNet weights into a backbone (``init_cfg`` Pretrained)."""
import os.path as osp
from typing import Optional

import torch

from emo_mm.io import CheckpointError, load_checkpoint_file
from .converters import unwrap_state_dict

__all__ = ['load_pretrained']


def load_pretrained(module: torch.nn.Module, checkpoint: str, prefix: Optional[str] = 'backbone.',
                    logger: Optional[object] = None) -> None:
    """Load ImageNet weights into one of our backbones, refusing to silently load nothing.

    Accepts emo_mm classifier checkpoints (``backbone.*``; e.g. trained with our cls configs),
    ``--backbone-only`` files, and the official files that the backbone's ``convert_official``
    converts on the fly (EMO / EMOv2). Every backbone parameter must be found with the right
    shape, except the layers the backbone adds for finetuning (its ``fresh_keys()``, e.g. EMO's
    ``out_norms``), which keep their initial values when the file lacks them; keys the backbone
    does not have (classification head, final norm) are ignored. Error
    messages name the backbone's converter tool (its ``converter`` attribute).

    Raises:
        FileNotFoundError: the file does not exist (with the command that produces it).
        CheckpointError: unreadable file, no matching keys, missing keys or shape mismatches
            (listed key by key).
    """
    from mmengine.logging import MMLogger
    logger = logger or MMLogger.get_current_instance()
    name = type(module).__name__
    family = getattr(module, 'family', '') or name
    converter = getattr(module, 'converter', '')
    hint = (f'Convert an official {family} ImageNet checkpoint with:\n'
            f'  python {converter} <official file> {checkpoint}' if converter else '')
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(
            f'Pretrained checkpoint {checkpoint!r} not found (init_cfg of {name}). '
            + (f'{hint}\nor set' if hint else 'Set') + ' init_cfg=None to train from scratch.')
    _load(module, checkpoint, prefix, logger, hint)


def _load(module: torch.nn.Module, checkpoint: str, prefix: Optional[str], logger,
          hint: str) -> None:
    from mmengine.logging import print_log
    hint = f'\n{hint}' if hint else ''
    sd = unwrap_state_dict(load_checkpoint_file(checkpoint))
    convert = getattr(module, 'convert_official', None)
    official = convert(sd) if convert is not None and prefix else None
    if official is not None:  # an official file used directly
        sd = official
    if prefix:
        matched = {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}
        if not matched:
            raise CheckpointError(f'No key of {checkpoint!r} starts with prefix {prefix!r} '
                                  f'(first keys: {list(sd)[:5]}){hint}')
        sd = matched
    own = module.state_dict()
    # layers the backbone adds for finetuning (e.g. EMO's out_norms) start as initialised when
    # the checkpoint lacks them
    fresh = [k for k in getattr(module, 'fresh_keys', tuple)() if k not in sd]
    missing = [k for k in own if k not in sd and k not in fresh]
    mismatched = [f'{k}: checkpoint {tuple(sd[k].shape)} vs model {tuple(own[k].shape)}'
                  for k in own if k in sd and sd[k].shape != own[k].shape]
    if missing or mismatched:
        lines = [f'Checkpoint {checkpoint!r} does not fit {type(module).__name__}:']
        if mismatched:
            lines += ['shape mismatches:'] + [f'  {m}' for m in mismatched]
        if missing:
            lines += [f'missing keys ({len(missing)}):'] + [f'  {k}' for k in missing[:20]]
            if len(missing) > 20:
                lines.append(f'  ... and {len(missing) - 20} more')
        raise CheckpointError('\n'.join(lines) + hint)
    module.load_state_dict({k: sd[k] for k in own if k not in fresh}, strict=not fresh)
    ignored = sorted(set(sd) - set(own))
    print_log(f'Loaded {len(own) - len(fresh)} tensors of {type(module).__name__} from {checkpoint}'
              + (f' (ignored {len(ignored)} keys not in the backbone: {ignored[:4]}...)' if ignored else '')
              + (f' (kept {len(fresh)} new tensors as initialised: {fresh[:4]})' if fresh else ''),
              logger=logger)

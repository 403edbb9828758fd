"""Checked loading of ImageNet weights into a backbone (``init_cfg`` Pretrained)."""
import os.path as osp
from typing import Optional

import torch

from emo_mm.io import CheckpointError, load_checkpoint_file
from .converters import convert_official_to_mmpretrain, unwrap_state_dict

__all__ = ['load_pretrained']

CONVERTER = 'tools/model_converters/emo_to_mmpretrain.py'


def load_pretrained(module: torch.nn.Module, checkpoint: str, prefix: Optional[str] = 'backbone.',
                    logger: Optional[object] = None) -> None:
    """Load ImageNet weights into an EMO / EMOv2 backbone, refusing to silently load nothing.

    Accepts emo_mm classifier checkpoints (``backbone.*``; e.g. trained with our cls configs),
    ``--backbone-only`` files, and official EMO / EMOv2 files (converted on the fly). Every
    backbone parameter must be found with the right shape; keys the backbone does not have
    (classification head, final norm) are ignored.

    Raises:
        FileNotFoundError: the file does not exist (with the command that produces it).
        CheckpointError: unreadable file, no matching keys, missing keys or shape mismatches
            (listed key by key).
    """
    from mmengine.logging import MMLogger, print_log
    logger = logger or MMLogger.get_current_instance()
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(
            f'Pretrained checkpoint {checkpoint!r} not found (init_cfg of {type(module).__name__}). '
            f'Convert an official EMO / EMOv2 ImageNet checkpoint with:\n'
            f'  python {CONVERTER} <official .pth> {checkpoint}\n'
            f'or set init_cfg=None to train from scratch.')
    raw = load_checkpoint_file(checkpoint)
    sd = unwrap_state_dict(raw)
    if any(k.startswith('stage1.0.') for k in sd) and not any(k.startswith('backbone.') for k in sd) \
            and prefix:
        sd = convert_official_to_mmpretrain(sd)  # an official file used directly
    if prefix:
        matched = {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}
        if not matched:
            raise CheckpointError(f'No key of {checkpoint!r} starts with prefix {prefix!r} '
                                  f'(first keys: {list(sd)[:5]})')
        sd = matched
    own = module.state_dict()
    missing = [k for k in own if k not in sd]
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
        raise CheckpointError('\n'.join(lines))
    module.load_state_dict({k: sd[k] for k in own}, strict=True)
    ignored = sorted(set(sd) - set(own))
    print_log(f'Loaded {len(own)} tensors of {type(module).__name__} from {checkpoint}'
              + (f' (ignored {len(ignored)} keys not in the backbone: {ignored[:4]}...)' if ignored else ''),
              logger=logger)

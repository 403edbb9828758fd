"""Official EMO / EMOv2 checkpoints -> emo_mm (mmpretrain layout), and checked pretrained loading.

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
"""
import os.path as osp
import re
from collections import OrderedDict
from typing import Dict, List, Optional, Tuple

import torch

CONVERTER = 'tools/model_converters/emo_to_mmpretrain.py'
WRAPPER_KEYS = ('state_dict', 'model', 'net_E', 'net')
HEAD_KEYS = ('norm.', 'head.')


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used, with the reason (and the file) in the message."""


def _arch_table() -> Dict[str, Dict[str, dict]]:
    from .models.backbones import EMO, EMOv2
    return {'EMO': EMO.arch_zoo, 'EMOv2': EMOv2.arch_zoo}


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
    for arch, settings in _arch_table()[version].items():
        if settings['depths'] == depths and settings['embed_dims'] == dims:
            return version, arch
    known = {f'{version} {a}': (s['depths'], s['embed_dims']) for a, s in _arch_table()[version].items()}
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


def load_checkpoint_file(path: str, map_location: str = 'cpu') -> dict:
    """Load a local checkpoint safely (``weights_only``), naming the file in every error."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'Checkpoint file not found: {path!r}')
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # truncated, corrupt or unsafe pickles
        raise CheckpointError(f'Cannot load checkpoint {path!r}: {type(err).__name__}: '
                              f'{str(err).splitlines()[0] if str(err) else ""}') from err


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


def save_checkpoint_atomic(obj: dict, path: str) -> None:
    """``torch.save`` to a temporary file in the same folder, fsync, then rename over ``path``.

    A crash mid-write never leaves a partial file at ``path`` (nor replaces a good one).
    """
    import os
    import tempfile
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix='.' + osp.basename(path) + '.', suffix='.tmp', dir=folder)
    try:
        with os.fdopen(fd, 'wb') as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise

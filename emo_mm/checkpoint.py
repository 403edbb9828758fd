"""Official EMO / EMOv2 checkpoints -> emo_mm (mmpretrain layout), checked pretrained loading,
safe loading and atomic writes.

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

Safe loading: every checkpoint is unpickled with ``torch.load(weights_only=True)`` and the
allow-list of :mod:`emo_mm.compat` (:func:`checkpoint_loading`; mmengine's loader is routed
through it by :func:`install_safe_loading`), so a crafted file cannot run code. Trusted legacy
files are opted out explicitly (:data:`TRUST_ENV`, :func:`trust_checkpoints`) or converted once
(:func:`sanitize_checkpoint`). Writes go to a temporary file that is fsynced and renamed
(:func:`atomic_path`), so a killed process never leaves a partial file under the final name.
"""
import contextlib
import functools
import logging
import os
import os.path as osp
import pickle
import re
import secrets
from collections import OrderedDict
from typing import Dict, List, Optional, Tuple

import torch

from .compat import CHECKPOINT_SAFE_GLOBALS, allow_listed

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


# --------------------------------------------------------------------------------------------
# Safe loading
# --------------------------------------------------------------------------------------------
#: Environment variable naming the checkpoints trusted to be unpickled *without*
#: ``weights_only``: files, or folders (every file below them), separated by ``os.pathsep``.
TRUST_ENV = 'EMO_MM_TRUSTED_CHECKPOINTS'
_TORCH_FORCE = 'TORCH_FORCE_WEIGHTS_ONLY_LOAD'
_TORCH_FORCE_NO = 'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'
_trusted_in_code: List[str] = []  # entries of the active trust_checkpoints() blocks


class UnsafeCheckpointError(CheckpointError, pickle.UnpicklingError):
    """A checkpoint refused by weights-only loading: it references a callable or class that is
    not on the allow-list, or holds pickle content other than tensors and plain data.

    Also a :class:`pickle.UnpicklingError`, what ``torch.load`` itself raises in that case.
    """


def _trusted_entries() -> List[str]:
    # split like PATH, but not at the ':' of a URL scheme ('https://...')
    listed = re.split(re.escape(os.pathsep) + '(?!//)', os.environ.get(TRUST_ENV, ''))
    return [entry for entry in listed if entry] + _trusted_in_code


def is_trusted(filename: str) -> bool:
    """Whether ``filename`` was explicitly trusted, by :data:`TRUST_ENV` or
    :func:`trust_checkpoints` (as that file, or as a file below a trusted folder)."""
    filename = str(filename)
    for entry in _trusted_entries():
        if '://' in entry or '://' in filename:  # URLs: exact matches only
            if entry == filename:
                return True
            continue
        entry = osp.realpath(osp.expanduser(entry))
        path = osp.realpath(osp.expanduser(filename))
        if path == entry or path.startswith(entry.rstrip(os.sep) + os.sep):
            return True
    return False


@contextlib.contextmanager
def trust_checkpoints(*paths: str):
    """Opt out of weights-only loading for the given trusted files or folders, within the block.

    The explicit escape hatch for legacy checkpoints that pickle other objects (use only for
    files from a trusted source: unpickling them can run arbitrary code)::

        with trust_checkpoints('work_dirs/old/epoch_12.pth'):
            model = init_detector(config, 'work_dirs/old/epoch_12.pth', device='cpu')

    From the command line, list them in the environment variable :data:`TRUST_ENV` instead.
    """
    paths = [str(p) for p in paths]
    _trusted_in_code.extend(paths)
    try:
        yield
    finally:
        for path in paths:
            _trusted_in_code.remove(path)


@contextlib.contextmanager
def _torch_load_forced(weights_only: bool):
    """Force ``weights_only`` on (or off) for every ``torch.load`` in the block, through torch's
    own environment switches (they also override a caller that passes ``weights_only=False``,
    and a ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` set by the user). The switches are
    process-wide while the block runs."""
    saved = {key: os.environ.pop(key, None) for key in (_TORCH_FORCE, _TORCH_FORCE_NO)}
    os.environ[_TORCH_FORCE if weights_only else _TORCH_FORCE_NO] = '1'
    try:
        yield
    finally:
        for key, value in saved.items():
            os.environ.pop(key, None)
            if value is not None:
                os.environ[key] = value


def _first_line(err: BaseException) -> str:
    lines = [line for line in str(err).splitlines() if line.strip()]
    return lines[0] if lines else ''


def _raised_in_torch_load(err: BaseException) -> bool:
    tb = err.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code is torch.serialization.load.__code__:
            return True
        tb = tb.tb_next
    return False


def _load_error(filename: str, err: Exception) -> Optional[CheckpointError]:
    """Our error for what ``torch.load`` raised on ``filename``; None for other exceptions."""
    if isinstance(err, CheckpointError) or not _raised_in_torch_load(err):
        return None
    if isinstance(err, pickle.UnpicklingError):
        found = re.search(r'GLOBAL ([\w.]+(?:\(.*?\))?)', str(err))
        if found:
            why = (f'it references `{found.group(1)}`, a callable or class outside the allow-list '
                   '(unpickling it could run arbitrary code)')
        else:
            detail = next((line.strip() for line in str(err).splitlines()[1:] if line.strip()
                           and not line.startswith(('Please file', 'Check the doc'))), '')
            why = (f'weights-only unpickling failed ({detail or _first_line(err)}): the file is '
                   'corrupt or holds objects other than tensors and plain data')
        return UnsafeCheckpointError(
            f'Weights only load failed: refusing checkpoint {filename!r}: {why}.\n'
            'Checkpoints load with torch.load(weights_only=True): tensors, containers, numbers, '
            'strings and the allow-list emo_mm.compat.CHECKPOINT_SAFE_GLOBALS (mmengine '
            'HistoryBuffer, numeric numpy arrays) only.\n'
            'If the file comes from a trusted source (e.g. a legacy checkpoint of your own), opt '
            f'out for it explicitly:\n  {TRUST_ENV}={filename} python tools/...\n'
            f'or once convert it into a safe file: emo_mm.checkpoint.sanitize_checkpoint('
            f'{filename!r}, <new .pth>).')
    return CheckpointError(f'Cannot load checkpoint {filename!r}: the file is truncated, corrupt '
                           f'or not a PyTorch checkpoint ({type(err).__name__}: {_first_line(err)})')


@contextlib.contextmanager
def checkpoint_loading(filename: str):
    """Load ``filename`` safely with every ``torch.load`` made inside the block (also those of
    mmengine): ``weights_only=True`` with the allow-list, unless the file is trusted
    (:func:`is_trusted`); refusals and corrupt files raise errors that name the file.

    Yields:
        bool: Whether the file is trusted (loaded without ``weights_only``).
    """
    trusted = is_trusted(filename)
    if trusted:
        from mmengine.logging import print_log
        print_log(f'Loading trusted checkpoint {filename} without weights_only (listed in '
                  f'{TRUST_ENV} or trust_checkpoints()).', logger='current', level=logging.WARNING)
    with _torch_load_forced(not trusted), allow_listed(CHECKPOINT_SAFE_GLOBALS):
        try:
            yield trusted
        except Exception as err:
            ours = _load_error(str(filename), err)
            if ours is None:
                raise
            raise ours from err


def load_checkpoint_file(path: str, map_location: str = 'cpu') -> dict:
    """Load a local checkpoint safely (see :func:`checkpoint_loading`); every error names the
    file."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'Checkpoint file not found: {path!r}')
    with checkpoint_loading(path) as trusted:
        return torch.load(path, map_location=map_location, weights_only=not trusted)


def install_safe_loading() -> bool:
    """Route every checkpoint that mmengine loads through :func:`checkpoint_loading`.

    mmengine loads all checkpoints with ``CheckpointLoader.load_checkpoint`` (local files, URLs,
    ``open-mmlab://`` ...): ``load_from``, ``--resume``, ``load_checkpoint``, ``init_cfg``
    Pretrained of non-EMO modules, the frameworks' ``init_model`` / ``init_detector``. This
    wraps that one classmethod. Idempotent; undone by :func:`uninstall_safe_loading`.

    Returns:
        bool: Whether it was installed by this call.
    """
    from mmengine.runner.checkpoint import CheckpointLoader
    original = CheckpointLoader.__dict__['load_checkpoint'].__func__
    if hasattr(original, '_emo_mm_original'):
        return False

    @functools.wraps(original)
    def load_checkpoint(cls, filename, map_location=None, logger='current'):
        with checkpoint_loading(filename):
            return original(cls, filename, map_location, logger)

    load_checkpoint._emo_mm_original = original
    CheckpointLoader.load_checkpoint = classmethod(load_checkpoint)
    return True


def uninstall_safe_loading() -> None:
    """Undo :func:`install_safe_loading`."""
    from mmengine.runner.checkpoint import CheckpointLoader
    current = CheckpointLoader.__dict__['load_checkpoint'].__func__
    if hasattr(current, '_emo_mm_original'):
        CheckpointLoader.load_checkpoint = classmethod(current._emo_mm_original)


def sanitize_checkpoint(trusted_src: str, dst: str) -> List[str]:
    """Rewrite a *trusted* legacy checkpoint into one that loads with ``weights_only=True``.

    Loads ``trusted_src`` without ``weights_only`` (do this only for files from a trusted
    source), keeps tensors, containers, numbers, strings, numeric numpy arrays / scalars and
    mmengine ``HistoryBuffer`` objects, drops everything else, checks that the result loads
    safely and writes it atomically to ``dst``.

    Returns:
        list[str]: The paths (``meta.env_info`` style) of the dropped entries.
    """
    import numpy as np
    from mmengine.logging import HistoryBuffer
    with trust_checkpoints(trusted_src):
        checkpoint = load_checkpoint_file(trusted_src)
    dropped: List[str] = []
    drop = object()

    def clean(value, where):
        if value is None or isinstance(value, (torch.Tensor, str, bytes, bool, int, float,
                                               torch.dtype, torch.device, torch.Size,
                                               HistoryBuffer)):
            return value
        if isinstance(value, (np.ndarray, np.generic)) and value.dtype.kind in 'biufc':
            return value.item() if isinstance(value, np.generic) else value
        if isinstance(value, dict):
            items = ((k, clean(v, f'{where}.{k}' if where else str(k))) for k, v in value.items())
            kept = [(k, v) for k, v in items if v is not drop and isinstance(k, (str, int))]
            return OrderedDict(kept) if isinstance(value, OrderedDict) else dict(kept)
        if isinstance(value, (list, tuple)):
            kept = [v for v in (clean(v, f'{where}[{i}]') for i, v in enumerate(value))
                    if v is not drop]
            return tuple(kept) if isinstance(value, tuple) else kept
        dropped.append(f'{where} ({type(value).__module__}.{type(value).__qualname__})')
        return drop

    cleaned = clean(checkpoint, '')
    save_checkpoint_atomic(cleaned, dst)
    load_checkpoint_file(dst)  # refuses (and names dst) if anything unsafe is left
    return dropped


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


# --------------------------------------------------------------------------------------------
# Atomic writes
# --------------------------------------------------------------------------------------------
#: Temporary files of :func:`atomic_path`: ``.<name>.<pid>.<8 hex>.tmp`` next to the target.
TEMPORARY_FILE = re.compile(r'^\.(?P<name>.+)\.(?P<pid>\d+)\.[0-9a-f]{8}\.tmp$')


def _fsync_folder(folder: str) -> None:
    """Make a rename in ``folder`` durable (where the platform allows opening folders)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str):
    """Yield a temporary path next to ``path`` to write; then fsync it and rename it over ``path``.

    Readers of ``path`` see the old file or the complete new one, never a partial file, even
    when the process is killed mid-write; a write that raises leaves ``path`` untouched and
    removes the temporary file. A killed process leaves its temporary file behind (see
    :func:`remove_stale_temporaries`). The new file gets the usual (umask) permissions.
    """
    path = osp.abspath(path)
    folder = osp.dirname(path)
    os.makedirs(folder, exist_ok=True)
    tmp = osp.join(folder, f'.{osp.basename(path)}.{os.getpid()}.{secrets.token_hex(4)}.tmp')
    try:
        yield tmp
        with open(tmp, 'rb') as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_folder(folder)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


def save_checkpoint_atomic(obj: dict, path: str) -> None:
    """``torch.save`` to ``path`` atomically (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def write_text_atomic(path: str, text: str) -> None:
    """Write a text file atomically (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp:
        with open(tmp, 'w') as f:
            f.write(text)


def remove_stale_temporaries(folder: str) -> List[str]:
    """Delete the temporary files that killed processes left in ``folder`` (those of
    :func:`atomic_path` whose process no longer runs on this machine); returns their paths."""
    removed = []
    names = os.listdir(folder) if osp.isdir(folder) else []
    for name in names:
        match = TEMPORARY_FILE.match(name)
        if match is None or _process_alive(int(match.group('pid'))):
            continue
        try:
            os.remove(osp.join(folder, name))
            removed.append(osp.join(folder, name))
        except OSError:
            pass
    return removed


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. EPERM: it exists
        return True
    return True

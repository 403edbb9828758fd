"""Safe checkpoint loading: ``torch.load(weights_only=True)`` with a minimal allow-list.

Every checkpoint emo_mm loads (tools, ``--resume``, ``load_from``, ``init_cfg`` Pretrained,
converters, inference helpers) is unpickled by :func:`load_checkpoint_file` or inside
:func:`checkpoint_loading`: tensors, containers, numbers and strings, plus exactly the globals of
:data:`CHECKPOINT_SAFE_GLOBALS` (what mmengine checkpoints pickle: ``HistoryBuffer``, numeric
numpy arrays). A crafted file that references any other callable is refused with
:class:`UnsafeCheckpointError`, a truncated or corrupt one with :class:`CheckpointError`; both
name the file. Trusted legacy files are opted out explicitly (:data:`TRUST_ENV`,
:func:`trust_checkpoints`) or converted once (:func:`sanitize_checkpoint`).

mmengine's own loader is routed through :func:`checkpoint_loading` by the ``safe_loading`` shim
of :mod:`emo_mm.compat`. See ``docs/failure_modes.md``. This module imports nothing of emo_mm.
"""
import contextlib
import logging
import os
import os.path as osp
import pickle
import re
from collections import OrderedDict
from typing import List, Optional

import numpy as np
import torch

from .atomic import save_checkpoint_atomic

__all__ = [
    'CHECKPOINT_SAFE_GLOBALS', 'TRUST_ENV', 'CheckpointError', 'UnsafeCheckpointError',
    'allow_listed', 'checkpoint_loading', 'is_trusted', 'load_checkpoint_file',
    'remove_safe_globals', 'sanitize_checkpoint', 'trust_checkpoints'
]


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used, with the reason (and the file) in the message."""


# --------------------------------------------------------------------------------------------
# The allow-list
# --------------------------------------------------------------------------------------------
# The statistics methods that ``HistoryBuffer`` registers by default (and pickles by name).
_HISTORY_BUFFER_STATISTICS = ('min', 'max', 'current', 'mean')


def _history_buffer_statistic(obj, name: str):
    """Stands in for ``builtins.getattr`` in weights-only loading, limited to
    ``getattr(HistoryBuffer, <statistic>)``.

    A ``HistoryBuffer`` keeps ``{'min': HistoryBuffer.min, ...}`` in its state, which pickle
    writes as ``getattr(HistoryBuffer, 'min')``. Allow-listing the real ``getattr`` would let a
    crafted file read any attribute of anything it builds; this resolves those four methods only.
    """
    from mmengine.logging import HistoryBuffer
    if obj is HistoryBuffer and name in _HISTORY_BUFFER_STATISTICS:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'getattr({obj!r}, {name!r}) is not allowed in weights-only loading; emo_mm allows '
        f'only getattr(HistoryBuffer, name) for name in {_HISTORY_BUFFER_STATISTICS}.')


def _checkpoint_safe_globals() -> list:
    """The globals that mmengine checkpoints of mmpretrain / mmdet / mmseg runs pickle.

    Found by loading real checkpoints of mmpretrain (DDP, resumed, best), mmdet and mmseg runs
    with one more global allowed after each refusal
    (``tests/test_tools.py::test_checkpoints_of_all_frameworks_need_only_the_allow_list``). All
    of them need the same eight:

    * ``mmengine.logging.HistoryBuffer``: the message hub's logged scalars (``meta.message_hub``);
    * ``numpy.ndarray``, ``_reconstruct``, ``numpy.dtype``, ``numpy.dtypes.Float64DType`` and
      ``Int64DType``: the buffers' value / count arrays (the dtype *class* is checked when the
      dtype's state is set);
    * ``scalar``: numpy scalars (e.g. an ``np.float64`` metric in the runtime info);
    * ``builtins.getattr``, but only as :func:`_history_buffer_statistic`: a ``HistoryBuffer``
      pickles its statistics methods as ``getattr(HistoryBuffer, 'min')`` etc.

    The other numeric and bool dtype classes are listed too (a float32 metric, an int32 count
    load alike); object, void, string and datetime dtypes are not. numpy 2 moved
    ``_reconstruct`` and ``scalar`` from ``numpy.core.multiarray`` to ``numpy._core.multiarray``;
    both names are listed so that checkpoints pickled under numpy 1.x (e.g. published
    OpenMMLab ones) load too.
    """
    from mmengine.logging import HistoryBuffer
    safe = [HistoryBuffer, np.ndarray, np.dtype, (_history_buffer_statistic, 'builtins.getattr')]
    reconstruct = np.zeros(0).__reduce__()[0]
    scalar = np.float64(0).__reduce__()[0]
    for func in (reconstruct, scalar):
        for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
            safe.append((func, f'{module}.{func.__name__}'))
    dtype_classes = {
        type(np.dtype(t))
        for t in np.sctypeDict.values() if issubclass(t, (np.bool_, np.number))
    }
    safe.extend(sorted(dtype_classes, key=lambda cls: cls.__name__))
    return safe


#: The allow-list of weights-only loading (entries as taken by ``add_safe_globals``).
CHECKPOINT_SAFE_GLOBALS: List = _checkpoint_safe_globals()


def remove_safe_globals(entries: list) -> None:
    """Remove ``entries`` from torch's allow-list, keeping every other entry."""
    drop = set(map(_global_key, entries))
    others = [g for g in torch.serialization.get_safe_globals() if _global_key(g) not in drop]
    torch.serialization.clear_safe_globals()
    torch.serialization.add_safe_globals(others)


@contextlib.contextmanager
def allow_listed(entries: list):
    """Like ``torch.serialization.safe_globals``, but on exit removes only the entries that
    it added. (torch's context manager removes all of its entries on exit, including those
    that were allow-listed before it, e.g. by the ``checkpoint`` shim.)"""
    present = set(map(_global_key, torch.serialization.get_safe_globals()))
    added = [entry for entry in entries if _global_key(entry) not in present]
    torch.serialization.add_safe_globals(added)
    try:
        yield
    finally:
        remove_safe_globals(added)


def _global_key(entry) -> tuple:
    return (id(entry[0]), entry[1]) if isinstance(entry, tuple) else (id(entry), None)


# --------------------------------------------------------------------------------------------
# Loading
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
            'strings and the allow-list emo_mm.io.CHECKPOINT_SAFE_GLOBALS (mmengine '
            'HistoryBuffer, numeric numpy arrays) only.\n'
            'If the file comes from a trusted source (e.g. a legacy checkpoint of your own), opt '
            f'out for it explicitly:\n  {TRUST_ENV}={filename} python tools/...\n'
            f'or once convert it into a safe file: emo_mm.io.sanitize_checkpoint('
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


def sanitize_checkpoint(trusted_src: str, dst: str) -> List[str]:
    """Rewrite a *trusted* legacy checkpoint into one that loads with ``weights_only=True``.

    Loads ``trusted_src`` without ``weights_only`` (do this only for files from a trusted
    source), keeps tensors, containers, numbers, strings, numeric numpy arrays / scalars and
    mmengine ``HistoryBuffer`` objects, drops everything else, checks that the result loads
    safely and writes it atomically to ``dst``.

    Returns:
        list[str]: The paths (``meta.env_info`` style) of the dropped entries.
    """
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

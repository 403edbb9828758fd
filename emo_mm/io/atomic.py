"""Atomic file writes: a killed process never leaves a partial file under the final name.

A write goes to a temporary file next to the target (``.<name>.<pid>.<8 hex>.tmp``), which is
fsynced and renamed over the target (:func:`atomic_path`). Used for every checkpoint and
``last_checkpoint`` file that emo_mm writes (:mod:`emo_mm.engine.hooks`, the converters).
This module needs only the standard library and torch.
"""
import contextlib
import os
import os.path as osp
import re
import secrets
from typing import List

import torch

__all__ = ['TEMPORARY_FILE', 'atomic_path', 'save_checkpoint_atomic', 'write_text_atomic',
           'remove_stale_temporaries']

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

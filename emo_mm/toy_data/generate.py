"""Generate (or reuse) the toy shapes datasets: argument checks, the recorded settings of a
generation and the reuse / regeneration decision.

A task folder that is complete for the same settings is skipped (``make demo`` asks for the data
unconditionally); a folder generated with other settings (options, generator version or the
per-task scene settings :data:`~emo_mm.toy_data.scene.SCENES`), or left incomplete, is
regenerated; ``force=True`` always regenerates. A folder that this code did not write is never
removed without ``force``. Generations into the same ``out_dir`` take turns (a ``flock`` on
that folder, no file is added):
two ``make demo`` runs started together in one checkout share ``data/toy``, and the second one
then finds the first one's data complete instead of writing into it at the same time.
"""
import contextlib
import fcntl
import json
import os
import os.path as osp
import shutil
import time

import numpy as np

from .ade20k import write_seg
from .coco import write_det
from .files import write_json
from .imagenet import write_cls
from .scene import GENERATOR_VERSION, SCENES
from .shapes import SHAPES

TASKS = ('cls', 'det', 'seg')
MASK_FORMATS = ('mixed', 'rle')
MARKER = '.toy_complete.json'
MIN_IMAGE_SIZE = 32

DEFAULTS = dict(
    cls_size=64, cls_train_per_class=200, cls_val_per_class=40,
    det_size=128, det_train=800, det_val=150, det_max_objects=4,
    seg_size=128, seg_train=1500, seg_val=100, seg_max_objects=5)
EXTRA_DEFAULTS = dict(clutter=1.0, mask_format='mixed')

_WRITERS = dict(cls=write_cls, det=write_det, seg=write_seg)
_TASK_KEYS = dict(cls=('cls_size', 'cls_train_per_class', 'cls_val_per_class', 'clutter'),
                  det=('det_size', 'det_train', 'det_val', 'det_max_objects', 'mask_format',
                       'clutter'),
                  seg=('seg_size', 'seg_train', 'seg_val', 'seg_max_objects', 'clutter'))


def _count_files(root):
    return sum(len([f for f in files if f != MARKER]) for _, _, files in os.walk(root))


def _check_args(seed, tasks, classes, params):
    """Check the arguments of :func:`make_toy_data` (``params`` in place: ``clutter`` becomes a
    float); returns ``(seed, tasks, classes)`` with the classes in alphabetical order."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f'seed must be a non-negative integer, got {seed!r}')
    if isinstance(tasks, str):
        tasks = (tasks, )
    tasks = tuple(tasks)
    bad = [t for t in tasks if t not in TASKS]
    if bad or not tasks:
        raise ValueError(f'tasks must be a non-empty subset of {TASKS}, got {tasks!r}')
    if isinstance(classes, str):
        classes = (classes, )
    classes = tuple(classes)
    bad = [c for c in classes if c not in SHAPES]
    if bad:
        raise ValueError(f'unknown classes {bad}; available: {SHAPES}')
    if len(set(classes)) != len(classes) or len(classes) < 2:
        raise ValueError(f'classes must be at least 2 distinct names, got {classes!r}')
    classes = tuple(sorted(classes))  # alphabetical = ImageNet folder-mode label order
    for key, value in params.items():
        if key == 'mask_format':
            if value not in MASK_FORMATS:
                raise ValueError(f'mask_format must be one of {MASK_FORMATS}, got {value!r}')
            continue
        if key == 'clutter':
            if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or \
                    not 0 <= value <= 1:
                raise ValueError(f'clutter must be a number in [0, 1], got {value!r}')
            params[key] = float(value)
            continue
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ValueError(f'{key} must be an integer, got {value!r}')
        if key.endswith('_size') and value < MIN_IMAGE_SIZE:
            raise ValueError(f'{key} must be >= {MIN_IMAGE_SIZE} pixels, got {value}')
        if value < 1:
            raise ValueError(f'{key} must be >= 1, got {value}')
    return int(seed), tasks, classes


def is_complete(task_dir, settings):
    """True when ``task_dir`` holds a finished generation with exactly these ``settings``."""
    marker = osp.join(task_dir, MARKER)
    if not osp.isfile(marker):
        return False
    try:
        with open(marker) as f:
            info = json.load(f)
    except (OSError, ValueError):
        return False
    return info.get('settings') == settings and info.get('num_files') == _count_files(task_dir)


def make_toy_data(out_dir='data/toy', seed=0, tasks=TASKS, classes=SHAPES, force=False,
                  verbose=True, **kwargs):
    """Generate (or reuse) the toy shapes datasets under ``out_dir`` (see :mod:`emo_mm.toy_data`
    for the layouts and the scenes).

    Args:
        out_dir (str): output root; tasks go to ``<out_dir>/{cls,det,seg}``.
        seed (int): random seed; same seed + settings -> byte-identical files.
        tasks (Sequence[str]): subset of ``('cls', 'det', 'seg')``.
        classes (Sequence[str]): subset (>= 2) of ``SHAPES``; always used in alphabetical order.
        force (bool): regenerate even when a complete matching generation exists.
        verbose (bool): print progress.
        **kwargs: sizes and counts, see ``DEFAULTS`` (``cls_size``, ``cls_train_per_class``,
            ``cls_val_per_class``, ``det_size``, ``det_train``, ``det_val``, ``det_max_objects``,
            ``seg_size``, ``seg_train``, ``seg_val``, ``seg_max_objects``), ``clutter`` (0..1,
            amount of background clutter and noise) and ``mask_format`` (``'mixed'`` |
            ``'rle'``, detection instance masks).

    Returns:
        dict: ``{task: {'path': str, 'generated': bool, 'seconds': float}}``.

    Raises:
        ValueError: A bad seed, task, class or option value (nothing is written then).
        TypeError: An unknown option.
        FileExistsError: A task folder exists that this code did not write (without ``force``).
    """
    unknown = sorted(set(kwargs) - set(DEFAULTS) - set(EXTRA_DEFAULTS))
    if unknown:
        raise TypeError(f'unknown options {unknown}; known: {sorted(DEFAULTS)} + '
                        f'{sorted(EXTRA_DEFAULTS)}')
    params = dict(DEFAULTS, **EXTRA_DEFAULTS)
    params.update(kwargs)
    seed, tasks, classes = _check_args(seed, tasks, classes, params)
    log = print if verbose else (lambda *a, **k: None)

    results = {}
    with _exclusive(out_dir, log):
        for task in tasks:
            results[task] = _make_task(out_dir, task, seed, classes, params, force, log)
    return results


@contextlib.contextmanager
def _exclusive(out_dir, log):
    """Hold an exclusive ``flock`` on the folder ``out_dir`` (created if needed): one
    generation at a time there."""
    os.makedirs(out_dir, exist_ok=True)
    fd = os.open(out_dir, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f'[toy-data] {out_dir}: another process is generating here; waiting for it')
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # (releases the lock)


def _make_task(out_dir, task, seed, classes, params, force, log):
    """Generate (or reuse) one task folder; returns its entry of :func:`make_toy_data`."""
    task_dir = osp.join(out_dir, task)
    settings = _settings(task, seed, classes, params)
    if not force and is_complete(task_dir, settings):
        log(f'[toy-data] {task_dir}: complete, skipping (use --force to regenerate)')
        return dict(path=task_dir, generated=False, seconds=0.0)
    _clear(task_dir, force, log)
    os.makedirs(task_dir)
    partial = osp.join(task_dir, MARKER + '.partial')
    write_json(partial, settings)
    t0 = time.time()
    log(f'[toy-data] generating {task_dir} (seed={seed}, classes={list(classes)})')
    _WRITERS[task](task_dir, seed, list(classes), params, SCENES[task], log)
    os.remove(partial)
    num_files = _count_files(task_dir)
    write_json(osp.join(task_dir, MARKER), dict(settings=settings, num_files=num_files))
    dt = time.time() - t0
    log(f'[toy-data] {task_dir}: {num_files} files in {dt:.1f}s')
    return dict(path=task_dir, generated=True, seconds=dt)


def _settings(task, seed, classes, params):
    """What a generation of ``task`` is recorded with in its marker. The scene settings are part
    of it: data from other object sizes or clutter settings is regenerated (JSON round trip:
    tuples compare as the lists read back)."""
    return json.loads(json.dumps(dict(
        generator='emo_mm toy shapes', version=GENERATOR_VERSION, task=task, seed=seed,
        classes=list(classes), scene=SCENES[task],
        **{k: params[k] for k in _TASK_KEYS[task]})))


def _clear(task_dir, force, log):
    """Remove an earlier (complete, stale or incomplete) generation in ``task_dir``; a folder
    this code did not write only with ``force``."""
    if not osp.lexists(task_dir):
        return
    ours = osp.exists(osp.join(task_dir, MARKER)) or osp.exists(
        osp.join(task_dir, MARKER + '.partial'))
    if not osp.isdir(task_dir) or osp.islink(task_dir):
        raise FileExistsError(f'{task_dir} exists and is not a directory')
    if not (ours or force or not os.listdir(task_dir)):
        raise FileExistsError(
            f'{task_dir} exists, is not empty and was not written by this tool; '
            'remove it or pass --force to overwrite it')
    log(f'[toy-data] {task_dir}: removing previous/incomplete data')
    shutil.rmtree(task_dir)

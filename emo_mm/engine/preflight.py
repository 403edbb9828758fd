"""Config changes and checks applied before a runner is built (by ``tools/train.py`` and
``tools/test.py``, or by anyone building a runner from a config)."""
import os.path as osp
from typing import List, Optional, Sequence, Tuple

from mmengine.config import Config, ConfigDict
from mmengine.hooks import CheckpointHook
from mmengine.logging import print_log

from ..io.inputs import check_json_file

__all__ = ['make_crash_safe', 'crash_safety_gaps', 'check_dataset_files', 'dataset_paths']

_STOCK_CHECKPOINT_HOOKS = ('CheckpointHook', 'mmengine.CheckpointHook', CheckpointHook)


_EPOCH_LOOPS = ('EpochBasedTrainLoop', 'mmengine.EpochBasedTrainLoop')
_ITER_LOOPS = ('IterBasedTrainLoop', 'mmengine.IterBasedTrainLoop')
_OUR_LOOPS = {'epoch': 'ResumableEpochBasedTrainLoop', 'iter': 'ResumableIterBasedTrainLoop'}
_SAFETY_HOOKS = ('StepSeedHook', 'FiniteLossHook')


def _loop_kind(train_cfg) -> Optional[str]:
    """'epoch' / 'iter' for mmengine's and our loops (as mmengine picks them), else None."""
    if not isinstance(train_cfg, dict):
        return None
    kind = train_cfg.get('type')
    if kind is None:
        return 'epoch' if train_cfg.get('by_epoch', 'max_epochs' in train_cfg) else 'iter'
    kind = str(kind).split('.')[-1]
    for name, ours in _OUR_LOOPS.items():
        if kind in (ours, (_EPOCH_LOOPS if name == 'epoch' else _ITER_LOOPS)[0]):
            return name
    return None


def crash_safety_gaps(cfg: Config) -> List[str]:
    """What a training config leaves out of crash safety and exact resumption.

    This repository's training configs turn on all of it (docs/failure_modes.md):
    ``CrashSafeCheckpointHook`` as ``default_hooks.checkpoint``, ``StepSeedHook`` and
    ``FiniteLossHook`` in ``custom_hooks``, and ``ResumableEpochBasedTrainLoop`` /
    ``ResumableIterBasedTrainLoop`` as ``train_cfg.type``. ``tools/train.py`` names the gaps of
    other configs in its log and runs them as they are.

    Returns:
        list[str]: One entry per missing piece, e.g. ``'custom_hooks: no StepSeedHook'``;
        empty for a config that has everything.
    """
    gaps = []
    checkpoint = (cfg.get('default_hooks') or {}).get('checkpoint')
    if checkpoint is not None and checkpoint.get('type') != 'CrashSafeCheckpointHook':
        gaps.append(f'default_hooks.checkpoint is {checkpoint.get("type")!r}, not '
                    'CrashSafeCheckpointHook')
    present = {hook.get('type') for hook in cfg.get('custom_hooks') or []}
    gaps += [f'custom_hooks: no {name}' for name in _SAFETY_HOOKS if name not in present]
    train_cfg = cfg.get('train_cfg')
    kind = _loop_kind(train_cfg)
    if kind is not None and str(train_cfg.get('type')).split('.')[-1] != _OUR_LOOPS[kind]:
        gaps.append(f'train_cfg: mmengine\'s {kind}-based loop, not {_OUR_LOOPS[kind]} '
                    + ('(a run resumed mid-epoch repeats that epoch)' if kind == 'epoch' else
                       '(a resumed run loads every trained batch again)'))
    return gaps


def make_crash_safe(cfg: Config) -> Config:
    """Turn on crash safety and exact resumption in a training config of your own (in place).

    What this repository's configs set explicitly (:func:`crash_safety_gaps`); no tool calls
    it, so that a run does what its config says, whichever tool starts it. Use it to write a
    crash-safe version of another config (``cfg.dump(...)``).

    * ``default_hooks.checkpoint``: mmengine's ``CheckpointHook`` becomes
      :class:`~emo_mm.engine.CrashSafeCheckpointHook` with the same arguments. A config without
      it gets the runner's default (``interval=1``) in the crash-safe form; other checkpoint
      hook types and a hook disabled with ``None`` are left as they are.
    * ``custom_hooks``: :class:`~emo_mm.engine.StepSeedHook` and
      :class:`~emo_mm.engine.FiniteLossHook` are added unless present.
    * ``train_cfg``: mmengine's epoch- / iteration-based loop becomes
      :class:`~emo_mm.engine.ResumableEpochBasedTrainLoop` /
      :class:`~emo_mm.engine.ResumableIterBasedTrainLoop`.

    Idempotent. Returns ``cfg``.
    """
    if cfg.get('default_hooks') is None:
        cfg.default_hooks = ConfigDict()
    hooks = cfg.default_hooks
    if 'checkpoint' not in hooks:
        hooks['checkpoint'] = ConfigDict(type='CrashSafeCheckpointHook', interval=1)
    elif hooks['checkpoint'] is not None:
        if hooks['checkpoint'].get('type') in _STOCK_CHECKPOINT_HOOKS:
            hooks['checkpoint']['type'] = 'CrashSafeCheckpointHook'
        elif hooks['checkpoint'].get('type') != 'CrashSafeCheckpointHook':
            print_log(f'default_hooks.checkpoint is {hooks["checkpoint"].get("type")!r}: left '
                      'as it is (checkpoints are not written atomically).', logger='current')
    custom = list(cfg.get('custom_hooks') or [])
    present = {hook.get('type') for hook in custom}
    custom += [ConfigDict(type=name) for name in _SAFETY_HOOKS if name not in present]
    cfg.custom_hooks = custom
    train_cfg = cfg.get('train_cfg')
    kind = _loop_kind(train_cfg)
    if kind is not None and train_cfg.get('type') in (None, ) + _EPOCH_LOOPS + _ITER_LOOPS:
        train_cfg['type'] = _OUR_LOOPS[kind]
        train_cfg.pop('by_epoch', None)
    return cfg


def _join(root: str, path: str) -> str:
    return path if not root or osp.isabs(path) else osp.join(root, path)


def _leaf_datasets(dataset: dict, key: str):
    """``(config key, dataset config)`` of every dataset inside dataset wrappers."""
    if not isinstance(dataset, dict):
        return
    if isinstance(dataset.get('dataset'), dict):  # RepeatDataset, ClassBalancedDataset ...
        yield from _leaf_datasets(dataset['dataset'], f'{key}.dataset')
    elif isinstance(dataset.get('datasets'), (list, tuple)):  # ConcatDataset
        for i, child in enumerate(dataset['datasets']):
            yield from _leaf_datasets(child, f'{key}.datasets[{i}]')
    else:
        yield key, dataset


def dataset_paths(dataset: dict, key: str) -> List[Tuple[str, str]]:
    """The local ``(config key, path)`` pairs a dataset config reads, as mmengine's
    ``BaseDataset`` joins them: ``data_root``, ``ann_file`` and each ``data_prefix`` entry
    (relative ones below ``data_root``); mmpretrain's ``ImageNet(split=...)`` reads the folder
    ``data_root/split``. Remote paths (``s3://`` ...) are not listed."""
    root = dataset.get('data_root') or ''
    pairs = [(f'{key}.data_root', root)] if root else []
    if dataset.get('ann_file'):
        pairs.append((f'{key}.ann_file', _join(root, dataset['ann_file'])))
    prefix = dataset.get('data_prefix') or {}
    if isinstance(prefix, str):  # mmpretrain accepts a str for data_prefix=dict(img_path=...)
        prefix = {'img_path': prefix}
    for name, path in prefix.items():
        if isinstance(path, str) and path:
            pairs.append((f'{key}.data_prefix.{name}', _join(root, path)))
    if 'ImageNet' in str(dataset.get('type')) and dataset.get('split') and not prefix:
        pairs.append((f'{key}.split', _join(root, dataset['split'])))
    return [(k, p) for k, p in pairs if '://' not in p and '://' not in root]


def check_dataset_files(cfg: Config,
                        dataloaders: Sequence[str] = ('train_dataloader',
                                                      'val_dataloader')) -> None:
    """Fail early, naming the config key and the file, when a dataset path is missing.

    Without this check a missing file surfaces only once the dataloader is built, as an error
    from deep inside a dataset class. Dataloaders that are absent or ``None`` are skipped.

    Args:
        cfg (Config): A run config.
        dataloaders (Sequence[str]): The dataloader keys to check; ``tools/train.py`` checks
            ``train_dataloader`` and ``val_dataloader``, ``tools/test.py`` ``test_dataloader``.

    An annotation file in JSON is also checked to start and end like a JSON document (an empty
    or cut-off download), reading only its first and last bytes.

    Raises:
        FileNotFoundError: Listing every missing ``config key: path`` (its ``one_line``
            attribute names the first).
        DamagedInputError: An empty or cut-off JSON annotation file.
    """
    missing, damaged = [], []
    for name in dataloaders:
        loader = cfg.get(name)
        if not isinstance(loader, dict) or not isinstance(loader.get('dataset'), dict):
            continue
        for key, dataset in _leaf_datasets(loader['dataset'], f'{name}.dataset'):
            for entry, path in dataset_paths(dataset, key):
                if not osp.exists(path):
                    missing.append(f'  {entry}: {path!r} does not exist')
                    if entry.endswith('.data_root'):
                        break  # everything below it is missing too
                elif entry.endswith('.ann_file') and path.endswith('.json'):
                    damaged.append((entry, path))
    if missing:
        first = missing[0].split(':')[0].strip()
        error = FileNotFoundError(
            'Dataset files named in the config are missing (checked before the run starts):\n'
            + '\n'.join(missing) + '\nPrepare the dataset there, or point the config at it, '
            f'e.g. --cfg-options {first}=/path/to/it')
        more = f' (and {len(missing) - 1} more, listed above)' if len(missing) > 1 else ''
        error.one_line = f'{missing[0].strip()}{more}'
        raise error
    for entry, path in damaged:
        check_json_file(path)  # raises DamagedInputError naming the file

"""Config changes and checks applied before a runner is built (by ``tools/train.py`` and
``tools/test.py``, or by anyone building a runner from a config)."""
import os.path as osp
from typing import List, Sequence, Tuple

from mmengine.config import Config, ConfigDict
from mmengine.hooks import CheckpointHook
from mmengine.logging import print_log

__all__ = ['make_crash_safe', 'check_dataset_files', 'dataset_paths']

_STOCK_CHECKPOINT_HOOKS = ('CheckpointHook', 'mmengine.CheckpointHook', CheckpointHook)


def make_crash_safe(cfg: Config) -> Config:
    """Turn on crash-safe checkpoints and exact resumption in a training config (in place).

    * ``default_hooks.checkpoint``: mmengine's ``CheckpointHook`` becomes
      :class:`~emo_mm.engine.CrashSafeCheckpointHook` with the same arguments (atomic writes,
      saves and exits on SIGTERM). A config without it gets the runner's default
      (``interval=1``) in the crash-safe form; other checkpoint hook types and a hook
      disabled with ``None`` are left as they are.
    * ``custom_hooks``: :class:`~emo_mm.engine.StepSeedHook` is added unless present.

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
    if not any(hook.get('type') == 'StepSeedHook' for hook in custom):
        custom.append(ConfigDict(type='StepSeedHook'))
    cfg.custom_hooks = custom
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

    Raises:
        FileNotFoundError: Listing every missing ``config key: path``.
    """
    missing = []
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
    if missing:
        first = missing[0].split(':')[0].strip()
        raise FileNotFoundError(
            'Dataset files named in the config are missing (checked before the run starts):\n'
            + '\n'.join(missing) + '\nPrepare the dataset there, or point the config at it, '
            f'e.g. --cfg-options {first}=/path/to/it')

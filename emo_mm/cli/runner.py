"""The logic behind ``tools/train.py`` and ``tools/test.py``, for mmpretrain, mmdet and mmseg.

The command-line flags are those of the three upstream tools; the framework-specific parts
(visualization hook, test-time augmentation, result dumping, dataloader defaults) come from the
framework's adapter (:mod:`emo_mm.frameworks`). Two things are added for machines without CUDA
(:func:`adapt_cfg_to_machine`): a distributed run on CPU gets a ``gloo`` process group and a
DDP without ``device_ids`` (:func:`emo_mm.compat.adapt_cfg_for_cpu_distributed`), and SyncBN
layers, which need CUDA and a process group, become BN in single-process or CPU runs.

Nothing here imports mmdet, mmseg or mmpretrain before a run needs it.
"""
import argparse
from typing import List, Optional

import torch
from mmengine.config import Config
from mmengine.logging import print_log

from .. import compat
from ..engine import crash_safety_gaps
from ..frameworks import get_adapter

__all__ = [
    'add_result_dumper', 'adapt_cfg_to_machine', 'apply_test_args', 'apply_train_args',
    'build_runner', 'finish_distributed', 'revert_sync_bn'
]

# Norm layer types that synchronise over a process group (mmengine's ``SyncBN`` is
# ``torch.nn.SyncBatchNorm``, ``MMSyncBN`` is mmcv's) and the arguments only they take.
SYNC_BN_TYPES = ('SyncBN', 'MMSyncBN')
_SYNC_BN_ONLY_ARGS = ('process_group', 'group', 'stats_mode')


def revert_sync_bn(cfg: Config) -> List[str]:
    """Turn every SyncBN norm config inside ``cfg.model`` into plain ``BN``, in place.

    Args:
        cfg (Config): A run config.

    Returns:
        list[str]: The config paths that were changed, e.g. ``['model.backbone.norm_cfg']``.
    """
    changed = []

    def visit(node, path):
        if isinstance(node, dict):
            if node.get('type') in SYNC_BN_TYPES:
                node['type'] = 'BN'
                for key in _SYNC_BN_ONLY_ARGS:
                    node.pop(key, None)
                changed.append(path)
            for key, value in node.items():
                visit(value, f'{path}.{key}')
        elif isinstance(node, (list, tuple)):
            for i, value in enumerate(node):
                visit(value, f'{path}[{i}]')

    if cfg.get('model') is not None:
        visit(cfg.model, 'model')
    return changed


def adapt_cfg_to_machine(cfg: Config) -> None:
    """Make ``cfg`` runnable on this machine: CPU-distributed settings and SyncBN -> BN.

    * launched distributed without CUDA: ``gloo`` + DDP without ``device_ids``
      (:func:`emo_mm.compat.adapt_cfg_for_cpu_distributed`) in the form whose gradient buckets
      match the channels_last gradients (:class:`emo_mm.engine.CPUDistributedDataParallel`),
      and ``cfg.sync_bn`` (mmengine's BN -> SyncBN conversion) is dropped;
    * single process, or no CUDA: SyncBN / MMSyncBN norm layers become BN (SyncBN needs a
      process group and, to synchronise, CUDA tensors). A log line names how many and where.
    """
    distributed = cfg.get('launcher', 'none') != 'none'
    cuda = torch.cuda.is_available()
    if distributed and not cuda:
        compat.adapt_cfg_for_cpu_distributed(cfg)
        if cfg.model_wrapper_cfg.get('type') == 'MMDistributedDataParallel':
            # gradient buckets in the layout of the channels_last gradients (emo_mm.engine.ddp)
            cfg.model_wrapper_cfg['type'] = 'CPUDistributedDataParallel'
        if cfg.pop('sync_bn', None) is not None:
            print_log('CUDA is not available: ignoring `sync_bn` (SyncBN needs CUDA).',
                      logger='current')
    if not distributed or not cuda:
        changed = revert_sync_bn(cfg)
        if changed:
            why = 'single-process run' if not distributed else 'no CUDA'
            print_log(
                f'{why}: reverted {len(changed)} SyncBN norm config(s) to BN: '
                f'{", ".join(changed)}',
                logger='current')


def apply_train_args(cfg: Config, args: argparse.Namespace) -> Config:
    """Apply ``tools/train.py``'s flags to ``cfg`` (in place) and return it.

    Adds nothing else: the run is the config's, as with the framework's own ``tools/train.py``
    (crash safety is in the config; a config without it is named in the log,
    :func:`emo_mm.engine.crash_safety_gaps`).

    Raises:
        RuntimeError: ``--auto-scale-lr`` with no ``auto_scale_lr.base_batch_size`` in the
            config.
        ValueError: ``--amp`` with an optimizer wrapper other than ``OptimWrapper``.
    """
    adapter = get_adapter(cfg)
    if args.no_validate:
        cfg.val_cfg = None
        cfg.val_dataloader = None
        cfg.val_evaluator = None

    if args.amp:
        wrapper_type = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if wrapper_type == 'AmpOptimWrapper':
            print_log('AMP training is already enabled in the config.', logger='current')
        elif wrapper_type != 'OptimWrapper':
            raise ValueError('--amp works only when optim_wrapper.type is "OptimWrapper", '
                             f'got {wrapper_type!r}.')
        else:
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')

    if args.auto_scale_lr:
        if 'base_batch_size' not in cfg.get('auto_scale_lr', {}):
            raise RuntimeError('--auto-scale-lr needs `auto_scale_lr = dict(enable=False, '
                               'base_batch_size=...)` in the config; it has none.')
        cfg.auto_scale_lr.enable = True

    # An explicit checkpoint beats auto-resume from the latest one in work_dir.
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume

    if getattr(args, 'compile', False):  # mmengine's Runner compiles the model (torch.compile)
        cfg.compile = True

    adapter.apply_train_defaults(cfg)
    gaps = crash_safety_gaps(cfg)
    if gaps:
        print_log('This config does not turn on all of crash safety and exact resumption '
                  f'(docs/failure_modes.md): {"; ".join(gaps)}. Running it as it is.',
                  logger='current')
    return cfg


def apply_test_args(cfg: Config, args: argparse.Namespace) -> Config:
    """Apply ``tools/test.py``'s flags to ``cfg`` (in place) and return it.

    Raises:
        ValueError: ``--out`` for mmdet / mmpretrain that is not a ``.pkl`` / ``.pickle`` file.
        RuntimeError: ``--show``/``--show-dir`` without a VisualizationHook; ``--tta`` for mmseg
            without ``tta_model``/``tta_pipeline``.
    """
    adapter = get_adapter(cfg)
    cfg.load_from = args.checkpoint
    if args.show or args.show_dir:
        adapter.turn_on_visualization(cfg, args.show, args.show_dir, args.wait_time)
    if args.tta:
        adapter.turn_on_tta(cfg)
    if args.out is not None:
        adapter.set_output(cfg, args.out)
    adapter.apply_test_defaults(cfg)
    return cfg


def build_runner(cfg: Config):
    """Adapt ``cfg`` to this machine (:func:`adapt_cfg_to_machine`) and build the run's runner:
    mmengine's ``Runner`` or the config's ``runner_type``."""
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner
    adapt_cfg_to_machine(cfg)
    if 'runner_type' not in cfg:
        return Runner.from_cfg(cfg)
    return RUNNERS.build(cfg)


def finish_distributed() -> None:
    """End a distributed run cleanly: wait for every process, then destroy the process group.

    Without this, a gloo process can abort at interpreter exit ("terminate called without an
    active exception", exit code -6) while its communication threads are still alive, and the
    launcher reports the whole, finished run as failed.
    """
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def add_result_dumper(runner, out: Optional[str]) -> None:
    """Dump test predictions to ``out`` (a pickle) for mmdet and mmpretrain.

    mmseg writes its predictions to the ``--out`` directory itself (see
    :func:`apply_test_args`).
    """
    if out is None:
        return
    dumper = get_adapter(runner.cfg).result_dumper(out)
    if dumper is not None:
        runner.test_evaluator.metrics.append(dumper)

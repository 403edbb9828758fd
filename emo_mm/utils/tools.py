"""The logic behind ``tools/train.py`` and ``tools/test.py``, for mmpretrain, mmdet and mmseg.

The framework of a run is read from its config's ``default_scope`` (:func:`detect_framework`);
the command-line flags are those of the three upstream tools, and the framework-specific parts
(visualization hook, test-time augmentation, result dumping, dataloader defaults) follow the
upstream ``tools/{train,test}.py`` of that framework. Two things are added for machines without
CUDA (:func:`adapt_cfg_to_machine`): a distributed run on CPU gets a ``gloo`` process group and a
DDP without ``device_ids`` (:func:`emo_mm.compat.adapt_cfg_for_cpu_distributed`), and SyncBN
layers, which need CUDA and a process group, become BN in single-process or CPU runs.

Nothing here imports mmdet, mmseg or mmpretrain before a run needs it.
"""
import argparse
import os
import os.path as osp
import warnings
from copy import deepcopy
from typing import List, Optional, Sequence

import torch
from mmengine.config import Config, ConfigDict, DictAction
from mmengine.logging import print_log

from .. import compat
from ..engine import make_crash_safe

FRAMEWORKS = ('mmpretrain', 'mmdet', 'mmseg')
LAUNCHERS = ('none', 'pytorch', 'slurm', 'mpi')
# Norm layer types that synchronise over a process group (mmengine's ``SyncBN`` is
# ``torch.nn.SyncBatchNorm``, ``MMSyncBN`` is mmcv's) and the arguments only they take.
SYNC_BN_TYPES = ('SyncBN', 'MMSyncBN')
_SYNC_BN_ONLY_ARGS = ('process_group', 'group', 'stats_mode')


def detect_framework(cfg: Config) -> str:
    """The framework that runs ``cfg``, from its ``default_scope``.

    Args:
        cfg (Config): A run config.

    Returns:
        str: One of :data:`FRAMEWORKS`.

    Raises:
        ValueError: If ``default_scope`` is missing or names no supported framework.
    """
    scope = cfg.get('default_scope')
    if scope not in FRAMEWORKS:
        raise ValueError(f'Cannot tell which framework runs this config: default_scope={scope!r}. '
                         f'Valid scopes are {", ".join(map(repr, FRAMEWORKS))}; set e.g. '
                         "default_scope = 'mmdet' in the config.")
    return scope


def base_parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the positional ``config`` and the flags that both tools share.

    Further positionals (``checkpoint``) and flags are added by the tools.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('config', help='config file path')
    parser.add_argument('--work-dir', help='the directory to save logs, checkpoints and metrics')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override some settings in the used config, the key-value pair '
        'in xxx=yyy format will be merged into config file. If the value to '
        'be overwritten is a list, it should be like key="[a,b]" or key=a,b '
        'It also allows nested list/tuple values, e.g. key="[(a,b),(c,d)]" '
        'Note that the quotation marks are necessary and that no white space '
        'is allowed.')
    parser.add_argument('--launcher', choices=LAUNCHERS, default='none', help='job launcher')
    # torch >= 2.0 distributed launchers pass `--local-rank` instead of `--local_rank`.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    return parser


def parse_args(parser: argparse.ArgumentParser,
               argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse ``argv`` and export ``LOCAL_RANK`` as the upstream tools do."""
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def load_config(args: argparse.Namespace) -> Config:
    """Load ``args.config`` and apply the shared flags.

    ``--cfg-options`` are merged first; ``work_dir`` is taken from the CLI, else from the
    config, else ``./work_dirs/<config name>``.

    Raises:
        ValueError: If the config's ``default_scope`` names no supported framework.
    """
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    detect_framework(cfg)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    return cfg


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
      (:func:`emo_mm.compat.adapt_cfg_for_cpu_distributed`), and ``cfg.sync_bn`` (mmengine's
      BN -> SyncBN conversion) is dropped;
    * single process, or no CUDA: SyncBN / MMSyncBN norm layers become BN (SyncBN needs a
      process group and, to synchronise, CUDA tensors). A log line names how many and where.
    """
    distributed = cfg.get('launcher', 'none') != 'none'
    cuda = torch.cuda.is_available()
    if distributed and not cuda:
        compat.adapt_cfg_for_cpu_distributed(cfg)
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


def _set_dataloader_defaults(cfg: Config, fields: Sequence[str], **defaults) -> None:
    """Fill in dataloader arguments that the config leaves unset (mmpretrain's tools do)."""
    for field in fields:
        if cfg.get(field) is None:
            continue
        dataloader_cfg = ConfigDict(deepcopy(defaults))
        dataloader_cfg.update(cfg[field])
        if dataloader_cfg.get('num_workers', 0) == 0:
            dataloader_cfg.pop('persistent_workers', None)
        cfg[field] = dataloader_cfg


def _dataloader_defaults() -> dict:
    return dict(
        pin_memory=torch.cuda.is_available(),
        persistent_workers=True,
        collate_fn=dict(type='default_collate'))


def apply_train_args(cfg: Config, args: argparse.Namespace) -> Config:
    """Apply ``tools/train.py``'s flags to ``cfg`` (in place) and return it, and make the run
    crash-safe (:func:`emo_mm.engine.make_crash_safe`).

    Raises:
        RuntimeError: ``--auto-scale-lr`` with no ``auto_scale_lr.base_batch_size`` in the
            config.
        ValueError: ``--amp`` with an optimizer wrapper other than ``OptimWrapper``.
    """
    framework = detect_framework(cfg)
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

    if framework == 'mmpretrain':
        _set_dataloader_defaults(cfg, ('train_dataloader', 'val_dataloader', 'test_dataloader'),
                                 **_dataloader_defaults())
    # atomic checkpoints, a checkpoint on SIGTERM, exact resumption (docs/failure_modes.md)
    make_crash_safe(cfg)
    return cfg


def _turn_on_visualization(cfg: Config, args: argparse.Namespace, framework: str) -> None:
    """``--show`` / ``--show-dir`` as each framework's ``tools/test.py`` handles them."""
    hooks = cfg.get('default_hooks', {})
    if 'visualization' not in hooks:
        raise RuntimeError('--show/--show-dir need a VisualizationHook in the config: add '
                           "default_hooks = dict(visualization=dict(type='VisualizationHook')).")
    hook = hooks['visualization']
    if framework == 'mmpretrain':
        hook.update(
            enable=True, show=args.show, wait_time=args.wait_time, out_dir=args.show_dir)
        return
    hook['draw'] = True
    if args.show:
        hook.update(show=True, wait_time=args.wait_time)
    if args.show_dir:
        if framework == 'mmdet':
            hook['test_out_dir'] = args.show_dir
        else:  # mmseg: the visualizer saves the painted images
            cfg.visualizer['save_dir'] = args.show_dir


def _flip_tta_pipeline(test_pipeline: list, pack_transform: dict) -> list:
    """The test pipeline with its last (packing) step replaced by a flip / no-flip TTA."""
    tta_pipeline = deepcopy(test_pipeline)
    tta_pipeline[-1] = dict(
        type='TestTimeAug',
        transforms=[[dict(type='RandomFlip', prob=1.),
                     dict(type='RandomFlip', prob=0.)], [pack_transform]])
    return tta_pipeline


def _turn_on_tta(cfg: Config, framework: str) -> None:
    """``--tta`` as each framework's ``tools/test.py`` handles it.

    mmpretrain and mmdet fall back to a flip TTA when the config has no ``tta_model`` /
    ``tta_pipeline``; mmseg has no such default and needs both in the config.
    """
    test_dataset = cfg.test_dataloader.dataset
    while 'dataset' in test_dataset:  # dataset wrappers
        test_dataset = test_dataset['dataset']
    if framework == 'mmseg':
        missing = [key for key in ('tta_model', 'tta_pipeline') if key not in cfg]
        if missing:
            raise RuntimeError(f'--tta for mmseg needs {" and ".join(missing)} in the config '
                               '(mmseg has no default test-time augmentation).')
    elif framework == 'mmdet':
        if 'tta_model' not in cfg:
            warnings.warn('Cannot find ``tta_model`` in config, using DetTTAModel.')
            cfg.tta_model = dict(
                type='DetTTAModel',
                tta_cfg=dict(nms=dict(type='nms', iou_threshold=0.5), max_per_img=100))
        if 'tta_pipeline' not in cfg:
            warnings.warn('Cannot find ``tta_pipeline`` in config, using a flip TTA.')
            cfg.tta_pipeline = _flip_tta_pipeline(
                test_dataset.pipeline,
                dict(
                    type='PackDetInputs',
                    meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor',
                               'flip', 'flip_direction')))
    else:  # mmpretrain
        if 'tta_model' not in cfg:
            cfg.tta_model = dict(type='mmpretrain.AverageClsScoreTTA')
        if 'tta_pipeline' not in cfg:
            cfg.tta_pipeline = _flip_tta_pipeline(test_dataset.pipeline,
                                                  test_dataset.pipeline[-1])
    cfg.model = ConfigDict(**cfg.tta_model, module=cfg.model)
    test_dataset.pipeline = cfg.tta_pipeline


def apply_test_args(cfg: Config, args: argparse.Namespace) -> Config:
    """Apply ``tools/test.py``'s flags to ``cfg`` (in place) and return it.

    Raises:
        ValueError: ``--out`` for mmdet / mmpretrain that is not a ``.pkl`` / ``.pickle`` file.
        RuntimeError: ``--show``/``--show-dir`` without a VisualizationHook; ``--tta`` for mmseg
            without ``tta_model``/``tta_pipeline``.
    """
    framework = detect_framework(cfg)
    cfg.load_from = args.checkpoint
    if args.show or args.show_dir:
        _turn_on_visualization(cfg, args, framework)
    if args.tta:
        _turn_on_tta(cfg, framework)
    if args.out is not None:
        if framework == 'mmseg':  # a directory of predicted segmentation maps
            cfg.test_evaluator['output_dir'] = args.out
            cfg.test_evaluator['keep_results'] = True
        elif not args.out.endswith(('.pkl', '.pickle')):
            raise ValueError(f'--out must be a .pkl or .pickle file for {framework}, '
                             f'got {args.out!r}.')
    if framework == 'mmpretrain':
        defaults = _dataloader_defaults()
        defaults.pop('persistent_workers')
        _set_dataloader_defaults(cfg, ('test_dataloader', ), **defaults)
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
    framework = detect_framework(runner.cfg)
    if out is None or framework == 'mmseg':
        return
    if framework == 'mmdet':
        from mmdet.evaluation import DumpDetResults as Dumper
    else:
        from mmengine.evaluator import DumpResults as Dumper
    runner.test_evaluator.metrics.append(Dumper(out_file_path=out))

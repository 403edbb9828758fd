"""Helpers shared by the test suite (kept in the package: tests/ is not importable, see compat)."""
import contextlib
from typing import Iterator, List, Optional

import torch


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """Run torch on one intra-op thread, restoring the previous count afterwards.

    Tiny test inputs gain nothing from intra-op threads, while OpenMP threads competing with other
    processes for 2 cores slow tiny steps down by up to 10x.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def lr_curve(cfg, iters_per_epoch: Optional[int] = None) -> List[float]:
    """Learning rate at every training iteration of ``cfg``, stepping its schedulers as mmengine's
    ``ParamSchedulerHook`` does: iteration-based ones after each iteration, epoch-based ones after
    each epoch. ``iters_per_epoch`` is needed for epoch-based training (``train_cfg.max_epochs``).
    """
    from mmengine.registry import PARAM_SCHEDULERS
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.AdamW([param], lr=cfg.optim_wrapper.optimizer.lr)
    default_args = dict(optimizer=optimizer)
    if iters_per_epoch is not None:
        default_args['epoch_length'] = iters_per_epoch
    schedulers = [PARAM_SCHEDULERS.build(dict(s), default_args=default_args) for s in cfg.param_scheduler]
    if 'max_iters' in cfg.train_cfg:
        epochs, per_epoch = 1, cfg.train_cfg.max_iters
    else:
        epochs, per_epoch = cfg.train_cfg.max_epochs, iters_per_epoch
    lrs = []
    for _ in range(epochs):
        for _ in range(per_epoch):
            lrs.append(optimizer.param_groups[0]['lr'])
            for s in schedulers:
                if not s.by_epoch:
                    s.step()
        for s in schedulers:
            if s.by_epoch:
                s.step()
    return lrs


def load_script(path: str):
    """Import a script of the repository (e.g. ``'tools/analysis_tools/benchmark.py'``, relative
    to the repository root, or an absolute path) as a module."""
    import importlib.util
    import os.path as osp
    root = osp.dirname(osp.dirname(osp.abspath(__file__)))
    path = osp.join(root, str(path))
    name = osp.splitext(osp.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def official_param_names(model) -> dict:
    """``{name: official full name}`` for each parameter of a det / seg ``model``: backbone names
    go through the inverse checkpoint conversion (the official runs' names, e.g. for which
    parameters the ``norm`` no-decay key matched); the necks and heads are the same
    mmdet / mmseg modules and keep their names."""
    from .models.converters import convert_mmpretrain_to_official
    ours = {f'backbone.{k}': v for k, v in model.backbone.state_dict().items()}
    renamed = dict(zip(ours, convert_mmpretrain_to_official(ours)))
    return {n: f'backbone.{renamed[n]}' if n in renamed else n
            for n, _ in model.named_parameters()}


@contextlib.contextmanager
def isolated_default_scope() -> Iterator[None]:
    """Run the block with no mmengine default scope set, and restore the scopes of before on
    exit (also dropping those created inside).

    mmengine's default scope is process-wide and every framework tool sets it; mmpretrain's
    inferencer builds its pipeline in the current scope, so a test that follows an mmseg test
    would otherwise look up ``ResizeEdge`` in mmseg's registry.
    """
    from .compat.default_scope import no_default_scope
    with no_default_scope():
        yield

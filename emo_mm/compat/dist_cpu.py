"""Break 3 (``docs/upstream_issues.md``): distributed runs on machines without CUDA
(mmengine <= 0.10.7): the launcher side (``dist_cpu`` shim) and the config side
(:func:`adapt_cfg_for_cpu_distributed`, applied by the tools)."""
import contextlib
import functools
from typing import Callable, Dict

import torch
from mmengine.logging import print_log

from .shim import Shim, version_le

__all__ = ['DIST_CPU', 'adapt_cfg_for_cpu_distributed']

_LAUNCHERS = ('_init_dist_pytorch', '_init_dist_slurm', '_init_dist_mpi')
_original_launchers: Dict[str, Callable] = {}


@contextlib.contextmanager
def _cuda_set_device_skipped():
    """Make ``torch.cuda.set_device`` a no-op for the duration of the block."""
    set_device = torch.cuda.set_device
    torch.cuda.set_device = lambda device: None
    try:
        yield
    finally:
        torch.cuda.set_device = set_device


def _skip_set_device_without_cuda(launcher: Callable) -> Callable:
    """Wrap an mmengine launcher so that it skips ``torch.cuda.set_device`` when there is no
    CUDA (the process group backend then has to be ``gloo``, see
    :func:`adapt_cfg_for_cpu_distributed`)."""

    @functools.wraps(launcher)
    def wrapper(*args, **kwargs):
        if torch.cuda.is_available():
            return launcher(*args, **kwargs)
        with _cuda_set_device_skipped():
            return launcher(*args, **kwargs)

    return wrapper


def _apply_dist_cpu_shim() -> None:
    from mmengine.dist import utils as dist_utils
    for name in _LAUNCHERS:
        _original_launchers[name] = getattr(dist_utils, name)
        setattr(dist_utils, name, _skip_set_device_without_cuda(_original_launchers[name]))


def _revert_dist_cpu_shim() -> None:
    from mmengine.dist import utils as dist_utils
    for name, launcher in _original_launchers.items():
        setattr(dist_utils, name, launcher)
    _original_launchers.clear()


def adapt_cfg_for_cpu_distributed(cfg) -> bool:
    """Adapt a distributed run's config to a machine without CUDA (Break 3, config side).

    Does nothing (and returns False) when CUDA is available or ``cfg.launcher`` is ``'none'``.
    Otherwise sets the process group backend to ``gloo`` (NCCL needs GPUs) and makes the
    DistributedDataParallel wrapper use ``device_ids=None``: mmengine passes
    ``device_ids=[LOCAL_RANK]``, which DDP refuses for CPU modules.

    Args:
        cfg (mmengine.Config): The run's config, changed in place.

    Returns:
        bool: Whether the config was adapted.
    """
    from mmengine.registry import MODEL_WRAPPERS
    from torch.nn.parallel import DistributedDataParallel
    if cfg.get('launcher', 'none') == 'none' or torch.cuda.is_available():
        return False
    env_cfg = cfg.setdefault('env_cfg', dict())
    dist_cfg = env_cfg.setdefault('dist_cfg', dict())
    dist_cfg['backend'] = 'gloo'
    wrapper_cfg = cfg.get('model_wrapper_cfg') or dict(type='MMDistributedDataParallel')
    wrapper_type = wrapper_cfg.get('type', 'MMDistributedDataParallel')
    wrapper_cls = MODEL_WRAPPERS.get(wrapper_type) if isinstance(wrapper_type, str) \
        else wrapper_type
    if isinstance(wrapper_cls, type) and issubclass(wrapper_cls, DistributedDataParallel):
        wrapper_cfg['device_ids'] = None
    else:
        print_log(
            f'Running distributed without CUDA: left model_wrapper_cfg type={wrapper_type!r} '
            'as it is (not a DistributedDataParallel).',
            logger='current')
    cfg.model_wrapper_cfg = wrapper_cfg
    print_log(
        'CUDA is not available: distributed run on CPU with backend "gloo" and '
        f'{wrapper_type}(device_ids=None).',
        logger='current')
    return True


DIST_CPU = Shim('dist_cpu', lambda: version_le('mmengine', '0.10.7'), _apply_dist_cpu_shim,
                _revert_dist_cpu_shim)

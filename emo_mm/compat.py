"""Compatibility shims for upstream breaks of the pinned OpenMMLab stack.

Every shim fixes one break listed (with the failure it shows) in ``docs/upstream_issues.md`` and
carries a *version guard*: :func:`apply` installs it only while the installed upstream still needs
it, so bumping a pin past the fix turns the shim off by itself. ``tests/test_compat.py``
reproduces each failure with the shim disabled (:func:`disabled`) and checks that it is gone with
the shim on. Every global patch emo_mm makes lives here.

===================  ======================================================================
shim                 upstream break (number in ``docs/upstream_issues.md``)
===================  ======================================================================
``checkpoint``       1: torch >= 2.6 loads with ``weights_only=True``; mmengine
                     checkpoints hold ``HistoryBuffer`` and numpy objects. Exactly those
                     globals (:data:`emo_mm.io.safe_load.CHECKPOINT_SAFE_GLOBALS`) are
                     allow-listed, every other global (``os.system`` ...) is still refused.
``ssd_head``         2: mmdet <= 3.3.0 ``BaseDenseHead._predict_by_feat_single`` reads
                     ``self.loss_cls``, which ``SSDHead`` never sets. Patched when (or as
                     soon as) ``mmdet.models.dense_heads.ssd_head`` is imported.
``dist_cpu``         3 (launcher side): mmengine <= 0.10.7 calls
                     ``torch.cuda.set_device`` in its pytorch / slurm / mpi launchers
                     even when there is no CUDA. Skipped when CUDA is absent. The config
                     side is :func:`adapt_cfg_for_cpu_distributed`.
``safe_loading``     7: mmengine <= 0.10.7's ``CheckpointLoader`` calls ``torch.load``
                     without ``weights_only``; routed through
                     :func:`emo_mm.io.safe_load.checkpoint_loading`.
===================  ======================================================================

Break 5 (the mmsegmentation wheel's top-level ``tests`` package) needs no patch: the project's
``tests/`` has no ``__init__.py`` and is collected with ``--import-mode=importlib``;
:func:`upstream_tests_package` tells whether the installed wheel ships that package.

This module imports neither mmdet nor mmseg nor mmpretrain.
"""
import contextlib
import functools
import importlib.abc
import importlib.metadata
import os.path as osp
import sys
from typing import Callable, Dict, List, Optional

import torch
from mmengine.logging import print_log
from mmengine.utils import digit_version

from .io.safe_load import CHECKPOINT_SAFE_GLOBALS, checkpoint_loading, remove_safe_globals

__all__ = [
    'apply', 'active_shims', 'disabled', 'adapt_cfg_for_cpu_distributed',
    'upstream_tests_package'
]


def _dist_version(name: str) -> Optional[str]:
    """Installed version of the distribution ``name`` (``None`` if absent), without importing it."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _version_le(name: str, last_broken: str) -> bool:
    """Whether distribution ``name`` is installed at a version <= ``last_broken``."""
    version = _dist_version(name)
    return version is not None and digit_version(version) <= digit_version(last_broken)


class _Shim:
    """One removable patch: ``needed()`` is its version guard, ``apply``/``revert`` undo each
    other."""

    def __init__(self, name: str, needed: Callable[[], bool], apply: Callable[[], None],
                 revert: Callable[[], None]):
        self.name = name
        self.needed = needed
        self._apply = apply
        self._revert = revert
        self.active = False

    def apply(self) -> None:
        if not self.active and self.needed():
            self._apply()
            self.active = True

    def revert(self) -> None:
        if self.active:
            self._revert()
            self.active = False


# --------------------------------------------------------------------------------------------
# Break 1: weights-only checkpoint loading (torch >= 2.6).
# --------------------------------------------------------------------------------------------
def _apply_checkpoint_shim() -> None:
    torch.serialization.add_safe_globals(CHECKPOINT_SAFE_GLOBALS)


def _revert_checkpoint_shim() -> None:
    remove_safe_globals(CHECKPOINT_SAFE_GLOBALS)


def _checkpoint_shim_needed() -> bool:
    # torch 2.6 made weights_only=True the default of torch.load, which mmengine 0.10.x calls
    # without the argument.
    return digit_version(torch.__version__) >= digit_version('2.6.0') and hasattr(
        torch.serialization, 'add_safe_globals')


# --------------------------------------------------------------------------------------------
# Break 7: mmengine's checkpoint loader unpickles without ``weights_only`` when asked to.
# --------------------------------------------------------------------------------------------
def _apply_safe_loading_shim() -> None:
    """Route every checkpoint that mmengine loads through
    :func:`emo_mm.io.safe_load.checkpoint_loading`.

    mmengine loads all checkpoints with ``CheckpointLoader.load_checkpoint`` (local files, URLs,
    ``open-mmlab://`` ...): ``load_from``, ``--resume``, ``load_checkpoint``, ``init_cfg``
    Pretrained of non-EMO modules, the frameworks' ``init_model`` / ``init_detector``. It calls
    ``torch.load`` without ``weights_only``, so ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` (which some
    guides recommend for torch >= 2.6) makes it unpickle anything, and its refusals do not name
    the file. The wrapper forces weights-only loading with the allow-list, honours the explicit
    trust list and names the file in every error.
    """
    from mmengine.runner.checkpoint import CheckpointLoader
    original = CheckpointLoader.__dict__['load_checkpoint'].__func__
    if hasattr(original, '_emo_mm_original'):
        return

    @functools.wraps(original)
    def load_checkpoint(cls, filename, map_location=None, logger='current'):
        with checkpoint_loading(filename):
            return original(cls, filename, map_location, logger)

    load_checkpoint._emo_mm_original = original
    CheckpointLoader.load_checkpoint = classmethod(load_checkpoint)


def _revert_safe_loading_shim() -> None:
    from mmengine.runner.checkpoint import CheckpointLoader
    current = CheckpointLoader.__dict__['load_checkpoint'].__func__
    if hasattr(current, '_emo_mm_original'):
        CheckpointLoader.load_checkpoint = classmethod(current._emo_mm_original)


# --------------------------------------------------------------------------------------------
# Post-import hook: patch a module right after it is imported, without importing it ourselves.
# --------------------------------------------------------------------------------------------
class _PostImportFinder(importlib.abc.MetaPathFinder):
    """A ``sys.meta_path`` finder that runs callbacks right after a named module executes.

    It finds nothing itself: it asks the other finders for the spec and wraps its loader so that
    the callbacks run on the module once its code has run (also after a reload).
    """

    def __init__(self):
        self.callbacks: Dict[str, List[Callable]] = {}

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in self.callbacks:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, 'find_spec'):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, 'exec_module'):
                    spec.loader = _CallbackLoader(spec.loader, self.callbacks[fullname])
                return spec
        return None


class _CallbackLoader(importlib.abc.Loader):
    """Delegates to ``loader`` and runs ``callbacks`` on the module after ``exec_module``."""

    def __init__(self, loader, callbacks: List[Callable]):
        self._loader = loader
        self._callbacks = callbacks

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        for callback in list(self._callbacks):
            callback(module)

    def __getattr__(self, name):
        return getattr(self._loader, name)


_post_import_finder = _PostImportFinder()


def _on_import(module_name: str, callback: Callable) -> None:
    """Run ``callback(module)`` now if ``module_name`` is imported, else right after its
    import."""
    _post_import_finder.callbacks.setdefault(module_name, [])
    if callback not in _post_import_finder.callbacks[module_name]:
        _post_import_finder.callbacks[module_name].append(callback)
    if _post_import_finder not in sys.meta_path:
        sys.meta_path.insert(0, _post_import_finder)
    if module_name in sys.modules:
        callback(sys.modules[module_name])


def _cancel_on_import(module_name: str, callback: Callable) -> None:
    callbacks = _post_import_finder.callbacks.get(module_name, [])
    if callback in callbacks:
        callbacks.remove(callback)
    if not callbacks:
        _post_import_finder.callbacks.pop(module_name, None)
    if not _post_import_finder.callbacks and _post_import_finder in sys.meta_path:
        sys.meta_path.remove(_post_import_finder)


# --------------------------------------------------------------------------------------------
# Break 2: SSDHead has no ``loss_cls`` (mmdet <= 3.3.0).
# --------------------------------------------------------------------------------------------
_SSD_MODULE = 'mmdet.models.dense_heads.ssd_head'


def _patch_ssd_head(module) -> None:
    """Give ``SSDHead`` the ``loss_cls = None`` that ``_predict_by_feat_single`` reads.

    ``getattr(None, 'custom_cls_channels', False)`` is False, so prediction then takes the
    softmax branch that ``SSDHead`` (``use_sigmoid_cls = False``) was written for. An instance
    attribute set by a later mmdet takes precedence over this class attribute.
    """
    if not hasattr(module.SSDHead, 'loss_cls'):
        module.SSDHead.loss_cls = None
        module.SSDHead._emo_mm_loss_cls_shim = True


def _unpatch_ssd_head() -> None:
    module = sys.modules.get(_SSD_MODULE)
    if module is not None and vars(module.SSDHead).get('_emo_mm_loss_cls_shim'):
        del module.SSDHead.loss_cls
        del module.SSDHead._emo_mm_loss_cls_shim


def _apply_ssd_shim() -> None:
    _on_import(_SSD_MODULE, _patch_ssd_head)


def _revert_ssd_shim() -> None:
    _cancel_on_import(_SSD_MODULE, _patch_ssd_head)
    _unpatch_ssd_head()


# --------------------------------------------------------------------------------------------
# Break 3 (launcher side): torch.cuda.set_device without CUDA (mmengine <= 0.10.7).
# --------------------------------------------------------------------------------------------
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


# --------------------------------------------------------------------------------------------
# Break 5: the mmsegmentation wheel's top-level ``tests`` package.
# --------------------------------------------------------------------------------------------
def upstream_tests_package() -> Optional[str]:
    """Directory of the top-level ``tests`` package that the installed mmsegmentation wheel
    ships, or ``None`` when it ships none (or mmsegmentation is not installed).

    That package can shadow a project's ``tests`` package; emo_mm's ``tests/`` therefore has no
    ``__init__.py`` and is collected with ``--import-mode=importlib``.
    """
    try:
        files = importlib.metadata.distribution('mmsegmentation').files or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for file in files:
        if file.parts[:2] == ('tests', '__init__.py'):
            return osp.dirname(osp.abspath(file.locate()))
    return None


# --------------------------------------------------------------------------------------------
_SHIMS = {
    shim.name: shim
    for shim in (
        _Shim('checkpoint', _checkpoint_shim_needed, _apply_checkpoint_shim,
              _revert_checkpoint_shim),
        _Shim('ssd_head', lambda: _version_le('mmdet', '3.3.0'), _apply_ssd_shim,
              _revert_ssd_shim),
        _Shim('dist_cpu', lambda: _version_le('mmengine', '0.10.7'), _apply_dist_cpu_shim,
              _revert_dist_cpu_shim),
        _Shim('safe_loading', lambda: _version_le('mmengine', '0.10.7'), _apply_safe_loading_shim,
              _revert_safe_loading_shim),
    )
}


def apply() -> List[str]:
    """Apply every shim whose version guard says the installed upstream still needs it.

    Idempotent; called by ``import emo_mm``.

    Returns:
        list[str]: Names of the active shims.
    """
    for shim in _SHIMS.values():
        shim.apply()
    return active_shims()


def active_shims() -> List[str]:
    """Names of the shims currently applied."""
    return [name for name, shim in _SHIMS.items() if shim.active]


@contextlib.contextmanager
def disabled(*names: str):
    """Temporarily revert the named shims (all when none is named), e.g. to reproduce an
    upstream break. The shims that were active are re-applied on exit.

    Args:
        *names (str): Shim names, from ``'checkpoint'``, ``'ssd_head'``, ``'dist_cpu'``,
            ``'safe_loading'``.
    """
    unknown = [name for name in names if name not in _SHIMS]
    if unknown:
        raise ValueError(f'Unknown shim(s) {unknown}; valid names are {list(_SHIMS)}')
    shims = [_SHIMS[name] for name in (names or _SHIMS)]
    reverted = [shim for shim in shims if shim.active]
    for shim in reverted:
        shim.revert()
    try:
        yield
    finally:
        for shim in reverted:
            shim.apply()

"""Compatibility shims for upstream breaks of the pinned OpenMMLab stack: one module per break.

Every shim fixes one break listed (with the failure it shows) in ``docs/upstream_issues.md`` and
carries a *version guard*: :func:`apply` installs it only while the installed upstream still needs
it, so bumping a pin past the fix turns the shim off by itself. ``tests/test_compat.py``
reproduces each failure with the shim disabled (:func:`disabled`) and checks that it is gone with
the shim on. Every upstream workaround emo_mm makes lives here, and so does every patch of an
upstream private name.

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
``mmdeploy_export``  8: mmdeploy <= 1.3.1 exports with torch >= 2.9's default (dynamo)
                     exporter, which fails on its custom ops; forced to the TorchScript
                     exporter inside mmdeploy's export only (when mmdeploy is installed).
``inferencer_names`` 11: mmengine <= 0.10.7's ``BaseInferencer`` finds only the names of
                     its scope's own model index; falls back to the lookups of
                     :func:`add_name_lookup` (emo_mm's detectors and segmentors).
===================  ======================================================================

:mod:`.default_scope` uses a private name of mmengine without patching it (unsetting the
default scope, which has no public API), behind a check that the name is still there.

Break 5 (the mmsegmentation wheel's top-level ``tests`` package) needs no patch: the project's
``tests/`` has no ``__init__.py`` and is collected with ``--import-mode=importlib``
(``tests/test_compat.py`` checks that the wheel's package would shadow it otherwise).

This module imports neither mmdet nor mmseg nor mmpretrain.
"""
import contextlib
from typing import List

from .checkpoint import CHECKPOINT, SAFE_LOADING
from .dist_cpu import DIST_CPU, adapt_cfg_for_cpu_distributed
from .import_hook import cancel_on_import, on_import
from .inferencer_names import INFERENCER_NAMES, add_name_lookup
from .mmdeploy_export import MMDEPLOY_EXPORT
from .mmdet_ssd import SSD_HEAD

__all__ = [
    'apply', 'active_shims', 'disabled', 'adapt_cfg_for_cpu_distributed', 'add_name_lookup',
    'cancel_on_import', 'on_import'
]

_SHIMS = {
    shim.name: shim
    for shim in (CHECKPOINT, SSD_HEAD, DIST_CPU, SAFE_LOADING, MMDEPLOY_EXPORT, INFERENCER_NAMES)
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
            ``'safe_loading'``, ``'mmdeploy_export'``, ``'inferencer_names'``.
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

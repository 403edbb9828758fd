"""Breaks 1 and 7 (``docs/upstream_issues.md``): weights-only loading of mmengine checkpoints.

* ``checkpoint``: torch >= 2.6 loads with ``weights_only=True``; mmengine checkpoints hold
  ``HistoryBuffer`` and numpy objects. Exactly those globals
  (:data:`emo_mm.io.safe_load.CHECKPOINT_SAFE_GLOBALS`) are allow-listed.
* ``safe_loading``: mmengine's ``CheckpointLoader`` calls ``torch.load`` without
  ``weights_only``; it is routed through :func:`emo_mm.io.safe_load.checkpoint_loading`.
"""
import functools

import torch
from mmengine.utils import digit_version

from ..io.safe_load import CHECKPOINT_SAFE_GLOBALS, checkpoint_loading, remove_safe_globals
from .shim import Shim, version_le

__all__ = ['CHECKPOINT', 'SAFE_LOADING']


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


CHECKPOINT = Shim('checkpoint', _checkpoint_shim_needed, _apply_checkpoint_shim,
                  _revert_checkpoint_shim)
SAFE_LOADING = Shim('safe_loading', lambda: version_le('mmengine', '0.10.7'),
                    _apply_safe_loading_shim, _revert_safe_loading_shim)

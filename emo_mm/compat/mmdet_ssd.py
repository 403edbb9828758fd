"""Break 2 (``docs/upstream_issues.md``): mmdet <= 3.3.0 ``SSDHead`` has no ``loss_cls``."""
import sys

from .import_hook import cancel_on_import, on_import
from .shim import Shim, version_le

__all__ = ['SSD_HEAD']

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
    on_import(_SSD_MODULE, _patch_ssd_head)


def _revert_ssd_shim() -> None:
    cancel_on_import(_SSD_MODULE, _patch_ssd_head)
    _unpatch_ssd_head()


SSD_HEAD = Shim('ssd_head', lambda: version_le('mmdet', '3.3.0'), _apply_ssd_shim, _revert_ssd_shim)

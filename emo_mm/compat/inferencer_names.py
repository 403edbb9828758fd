"""Break 11 (``docs/upstream_issues.md``): mmengine <= 0.10.7's ``BaseInferencer`` looks a model
name up only in the model index of the config scope's own package (``mmdet``, ``mmseg``) and
offers no way to add the names of another package: ``DetInferencer('ssdlite_emo2-1m_...')``
raises ``ValueError: Cannot find model``. The shim makes ``_load_model_from_metafile`` (a private
method) fall back to the lookups registered with :func:`add_name_lookup` (:mod:`emo_mm.hub`
registers emo_mm's detectors and segmentors), patched right after ``mmengine.infer.infer`` is
imported."""
from typing import Callable, List, Optional

from .import_hook import cancel_on_import, on_import
from .shim import Shim, version_le

__all__ = ['INFERENCER_NAMES', 'add_name_lookup']

#: ``lookup(name, scope) -> config path or None``, tried in order.
_lookups: List[Callable[[str, str], Optional[str]]] = []
_original = {}


def add_name_lookup(lookup: Callable[[str, str], Optional[str]]) -> None:
    """Let mmengine's inferencers find a name that their scope's model index lacks through
    ``lookup(name, scope)`` (a config path, or None). Idempotent."""
    if lookup not in _lookups:
        _lookups.append(lookup)


def _with_registered_names(load_from_metafile):

    def load(self, model: str):
        try:
            return load_from_metafile(self, model)
        except ValueError:
            for lookup in _lookups:
                config = lookup(model, self.scope)
                if config is not None:
                    from mmengine.config import Config
                    return Config.fromfile(config), None
            raise

    return load


def _patch(infer_module) -> None:
    base = infer_module.BaseInferencer
    if 'load' not in _original:
        _original['load'] = (base, base._load_model_from_metafile)
        base._load_model_from_metafile = _with_registered_names(base._load_model_from_metafile)


def _apply() -> None:
    on_import('mmengine.infer.infer', _patch)


def _revert() -> None:
    cancel_on_import('mmengine.infer.infer', _patch)
    if 'load' in _original:
        base, load = _original.pop('load')
        base._load_model_from_metafile = load


INFERENCER_NAMES = Shim('inferencer_names', lambda: version_le('mmengine', '0.10.7'), _apply,
                        _revert)

"""emo_mm's model names in the OpenMMLab model indexes (``model-index.yml``).

``import emo_mm`` registers, lazily (right after the upstream module is imported, so that
``import emo_mm`` itself imports neither mmpretrain nor mmengine's inferencers):

* every **classifier** of ``configs/cls/*/metafile.yml`` in mmpretrain's ``ModelHub``, so that
  ``mmpretrain.list_models('*emo*')``, ``get_model(name, pretrained=...)``, ``init_model``,
  ``inference_model`` and ``ImageClassificationInferencer(name, pretrained=...)`` know the names
  (e.g. ``emo2-5m_8xb128_in1k``, the names of the config files);
* every **detector / segmentor** of ``configs/{det,seg}/*/metafile.yml`` as a fallback of
  mmengine's ``BaseInferencer`` name lookup, which mmdet's ``DetInferencer`` and mmseg's
  ``MMSegInferencer`` use for names that are not in their own model index (e.g.
  ``DetInferencer('ssdlite_emo2-1m_8xb24-600e_coco', weights=...)``); mmengine has no API for
  that, so the ``inferencer_names`` shim of :mod:`emo_mm.compat` provides the fallback.

No name carries download links: weights are local files given by the caller
(``pretrained=`` / ``weights=``). Without them the frameworks build the model with random
weights and warn (mmpretrain: ``Unable to find pre-defined checkpoint of the model``; mmdet /
mmseg: ``Checkpoint is not loaded, and the inference result is calculated by the randomly
initialized model!``).

Example:
    >>> import emo_mm  # noqa: F401  (registers the names)
    >>> from mmpretrain import get_model, list_models
    >>> 'emo2-1m_8xb128_in1k' in list_models('*emo*')
    True
    >>> model = get_model('emo2-1m_8xb128_in1k', pretrained=False)
"""
import functools
import os.path as osp
from typing import Dict, List, Optional, Tuple

from .compat import add_name_lookup, on_import
from .frameworks import FRAMEWORKS, get_adapter

__all__ = ['index_root', 'model_names', 'find_model', 'register']

INDEX_FILE = 'model-index.yml'
#: Config folder (relative to :func:`index_root`) of each framework's models.
TASK_FOLDERS = {framework: get_adapter(framework).config_folder for framework in FRAMEWORKS}


def index_root() -> str:
    """The folder holding ``model-index.yml`` and ``configs/``: the source checkout when emo_mm
    is imported from one (editable install, ``PYTHONPATH``), else the installed package's
    ``emo_mm/.mim`` (a wheel ships configs, tools and the index there, as OpenMMLab packages do).

    Raises:
        FileNotFoundError: Neither place has both (a broken installation).
    """
    package = osp.dirname(osp.abspath(__file__))
    candidates = (osp.dirname(package), osp.join(package, '.mim'))
    for root in candidates:
        if osp.isfile(osp.join(root, INDEX_FILE)) and osp.isdir(osp.join(root, 'configs')):
            return root
    raise FileNotFoundError(f'emo_mm: no {INDEX_FILE} with a configs/ folder next to it in '
                            f'{" or ".join(candidates)}; reinstall emo_mm (pip install .)')


def _metafiles(framework: str) -> List[str]:
    """Absolute paths of the metafiles that ``model-index.yml`` imports for ``framework``."""
    from mmengine.fileio import load
    root = index_root()
    folder = TASK_FOLDERS[framework]
    return [osp.join(root, path) for path in load(osp.join(root, INDEX_FILE))['Import']
            if path.startswith(folder)]


@functools.lru_cache(maxsize=None)
def _models(framework: str) -> Tuple[dict, ...]:
    from mmengine.fileio import load
    return tuple(model for path in _metafiles(framework) for model in load(path)['Models'])


def model_names(framework: str = 'mmpretrain') -> List[str]:
    """The registered names of ``framework``'s models (``'mmpretrain'``, ``'mmdet'`` or
    ``'mmseg'``), sorted.

    Example:
        >>> model_names('mmdet')[:2]
        ['mask-rcnn_emo2-1m_fpn_4xb4-1x_coco', 'mask-rcnn_emo2-20m_fpn_4xb4-1x_coco']
    """
    if framework not in TASK_FOLDERS:
        raise ValueError(f'framework must be one of {tuple(TASK_FOLDERS)}, got {framework!r}')
    return sorted(m['Name'].lower() for m in _models(framework))


def find_model(name: str, framework: str) -> Optional[str]:
    """The absolute config path of model ``name`` of ``framework`` (case-insensitive), or
    ``None`` when emo_mm has no such model."""
    for model in _models(framework):
        if model['Name'].lower() == name.lower():
            return osp.join(index_root(), model['Config'])
    return None


# -------------------------------------------------------------------------------- mmpretrain
_registered: Dict[str, type] = {}  # framework -> the ModelHub class our names are in


def _register_in_mmpretrain(model_module) -> None:
    """Add our classifiers to ``mmpretrain.apis.model.ModelHub`` (once per ModelHub class)."""
    hub = model_module.ModelHub
    if _registered.get('mmpretrain') is hub:
        return
    for path in _metafiles('mmpretrain'):
        hub.register_model_index(path, config_prefix=index_root())
    _registered['mmpretrain'] = hub


# ------------------------------------------------------------------------- mmdet / mmseg names
def _find_for_inferencer(name: str, scope: str) -> Optional[str]:
    """The config of emo_mm model ``name`` of framework ``scope`` (mmengine's inferencers ask
    when their own model index lacks the name; the ``inferencer_names`` shim of
    :mod:`emo_mm.compat`)."""
    return find_model(name, scope) if scope in TASK_FOLDERS else None


def register() -> None:
    """Register the names now if the upstream modules are imported, else right after their
    import (runs when this module is imported, i.e. by ``import emo_mm``)."""
    on_import('mmpretrain.apis.model', _register_in_mmpretrain)
    add_name_lookup(_find_for_inferencer)


register()

"""The ``emo_mm`` registry scope.

Every emo_mm model is registered once, in :data:`MODELS`, a child of mmengine's root ``MODELS``
registry. That makes it reachable from all three frameworks:

* ``type='emo_mm.EMOv2'`` works from mmpretrain, mmdet and mmseg configs alike: mmengine
  imports ``emo_mm.registry`` on demand when it meets the ``emo_mm.`` scope prefix, and
  ``locations`` then imports the modules that register the models;
* ``type='EMOv2'`` (no scope, as in the official configs) works once the config has
  ``custom_imports=dict(imports=['emo_mm'], allow_failed_imports=False)``: importing the package
  also registers the backbones in mmengine's *root* registry, which every framework's registry
  falls back to (see :func:`emo_mm.models.register_in_root`).

Importing this module imports neither mmdet nor mmseg nor mmpretrain.
"""
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import Registry

MODELS = Registry('model', parent=MMENGINE_MODELS, scope='emo_mm', locations=['emo_mm.models'])

__all__ = ['MODELS']

"""emo_mm: the EMO, EMOv2 and EdgeFormer backbones registered once for mmpretrain, mmdet and
mmseg.

``import emo_mm`` (or ``custom_imports=dict(imports=['emo_mm'], allow_failed_imports=False)`` in a
config) applies the upstream compatibility shims that the installed versions need
(:mod:`emo_mm.compat`) and registers the backbones, both in the ``emo_mm`` scope and under their
plain names, and the training hooks and loops of :mod:`emo_mm.engine`. It does not import mmdet,
mmseg or mmpretrain.
"""
from . import compat
from .version import __version__

compat.apply()

from .models import *  # noqa: E402,F401,F403  (registers the models)
from . import engine  # noqa: E402,F401  (crash-safe training hooks and loops)
from . import hub  # noqa: E402,F401  (model names for mmpretrain's get_model and the inferencers)

__all__ = ['__version__', 'compat']

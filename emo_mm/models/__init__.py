"""emo_mm models. Importing this module registers them (see :mod:`emo_mm.registry`)."""
from .backbones import EMO, EMOv2
from .registration import register_in_root

register_in_root(['EMO', 'EMOv2'])

__all__ = ['EMO', 'EMOv2']

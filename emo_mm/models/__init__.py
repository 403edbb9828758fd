"""emo_mm models. Importing this module registers them (see :mod:`emo_mm.registry`)."""
from .backbones import EMO, EdgeFormer, EMOv2, emo_mm_backbones, is_emo_mm_backbone
from .registration import register_in_root

register_in_root(['EMO', 'EMOv2', 'EdgeFormer'])

__all__ = ['EMO', 'EMOv2', 'EdgeFormer', 'emo_mm_backbones', 'is_emo_mm_backbone']

from .base import StagedBackbone, emo_mm_backbones, is_emo_mm_backbone
from .edgeformer import EdgeFormer
from .emo import EMO
from .emo2 import EMOv2

__all__ = ['EMO', 'EMOv2', 'EdgeFormer', 'StagedBackbone', 'emo_mm_backbones',
           'is_emo_mm_backbone']

"""Official checkpoints <-> emo_mm key layouts (one module per backbone family)."""
from .common import WRAPPER_KEYS, unwrap_state_dict
from .edgeformer import (detect_edgeformer_arch, edgeformer_mmpretrain_to_official,
                         edgeformer_official_to_mmpretrain)
from .emo import convert_mmpretrain_to_official, convert_official_to_mmpretrain, detect_variant

__all__ = [
    'WRAPPER_KEYS', 'convert_mmpretrain_to_official', 'convert_official_to_mmpretrain',
    'detect_variant', 'unwrap_state_dict', 'detect_edgeformer_arch',
    'edgeformer_mmpretrain_to_official', 'edgeformer_official_to_mmpretrain'
]

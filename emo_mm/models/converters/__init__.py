"""Official checkpoints <-> emo_mm key layouts (one module per backbone family)."""
from .edgeformer import (detect_edgeformer_arch, edgeformer_mmpretrain_to_official,
                         edgeformer_official_to_mmpretrain)

__all__ = ['detect_edgeformer_arch', 'edgeformer_mmpretrain_to_official',
           'edgeformer_official_to_mmpretrain']

from .attention import GridWindowAttention, HybridWindowAttention
from .blocks import InvertedResidualMobileBlock
from .norm_act import (ConvNormAct, DropPath, LayerNorm2d, LayerScale2d, SqueezeExcite, build_act,
                       build_norm)

__all__ = [
    'ConvNormAct', 'DropPath', 'LayerNorm2d', 'LayerScale2d', 'SqueezeExcite', 'build_act',
    'build_norm', 'GridWindowAttention', 'HybridWindowAttention', 'InvertedResidualMobileBlock'
]

from .attention import (GridWindowAttention, HybridWindowAttention, grid_partition, grid_reverse,
                        local_partition, local_reverse)
from .blocks import InvertedResidualMobileBlock
from .norm_act import (ConvNormAct, DropPath, LayerNorm2d, LayerScale2d, SqueezeExcite, build_act,
                       build_norm, set_fused_kernels, use_fused_kernels)

__all__ = [
    'ConvNormAct', 'DropPath', 'LayerNorm2d', 'LayerScale2d', 'SqueezeExcite', 'build_act',
    'build_norm', 'GridWindowAttention', 'HybridWindowAttention', 'grid_partition', 'grid_reverse',
    'local_partition', 'local_reverse', 'InvertedResidualMobileBlock', 'set_fused_kernels',
    'use_fused_kernels'
]

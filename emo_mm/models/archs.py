"""The published EMO / EMOv2 / EdgeFormer variants, as data (the ``arch_zoo`` of
:class:`~emo_mm.models.EMO`, :class:`~emo_mm.models.EMOv2` and :class:`~emo_mm.models.EdgeFormer`).

Kept apart from the model classes so that checkpoint conversion (which detects the variant of a
state dict from its depths and widths) needs no model import. Values: ``docs/official_recipes.md``
(architectures).
"""
__all__ = ['select_arch', 'EMO_ARCHS', 'EMOV2_ARCHS', 'EDGEFORMER_ARCHS']


def select_arch(model: type, arch) -> dict:
    """The settings of ``arch`` for the backbone class ``model``, as a new dict.

    ``arch`` is a name of ``model.arch_zoo`` (case-insensitive) or a dict with exactly the keys
    ``model.arch_keys``; list values must have the lengths of ``model.arch_lengths``.

    Raises:
        ValueError: An unknown name (the valid ones listed), missing / unexpected keys, or a
            list of the wrong length.
        TypeError: ``arch`` is neither a str nor a dict.
    """
    import copy
    name = model.__name__
    if isinstance(arch, str):
        if arch.lower() not in model.arch_zoo:
            raise ValueError(f'Unknown {name} arch {arch!r}; valid choices: '
                             f'{sorted(model.arch_zoo)} (or a dict with keys {list(model.arch_keys)})')
        return copy.deepcopy(model.arch_zoo[arch.lower()])
    if not isinstance(arch, dict):
        raise TypeError(f'arch must be a str or a dict, got {type(arch).__name__}')
    missing = [k for k in model.arch_keys if k not in arch]
    extra = [k for k in arch if k not in model.arch_keys]
    if missing or extra:
        raise ValueError(f'Custom {name} arch must have exactly the keys '
                         f'{list(model.arch_keys)}; missing: {missing}, unexpected: {extra}')
    for key, length in model.arch_lengths.items():
        if len(arch[key]) != length:
            raise ValueError(f'arch[{key!r}] must have {length} values, got {arch[key]}')
    return copy.deepcopy(dict(arch))

EMO_ARCHS = {
    '1m': dict(depths=[2, 2, 8, 3], embed_dims=[32, 48, 80, 168], exp_ratios=[2., 2.5, 3., 3.5],
               head_dims=[16, 16, 20, 21], drop_path_rate=0.04036, stem_channels=24,
               dw_kernel_sizes=[3, 3, 5, 5]),
    '2m': dict(depths=[3, 3, 9, 3], embed_dims=[32, 48, 120, 200], exp_ratios=[2., 2.5, 3., 3.5],
               head_dims=[16, 16, 20, 20], drop_path_rate=0.05, stem_channels=24,
               dw_kernel_sizes=[3, 3, 5, 5]),
    '5m': dict(depths=[3, 3, 9, 3], embed_dims=[48, 72, 160, 288], exp_ratios=[2., 3., 4., 4.],
               head_dims=[24, 24, 32, 32], drop_path_rate=0.05, stem_channels=24,
               dw_kernel_sizes=[3, 3, 5, 5]),
    '6m': dict(depths=[3, 3, 9, 3], embed_dims=[48, 72, 160, 320], exp_ratios=[2., 3., 4., 5.],
               head_dims=[16, 24, 20, 32], drop_path_rate=0.05, stem_channels=24,
               dw_kernel_sizes=[3, 3, 5, 5]),
}

EMOV2_ARCHS = {
    '1m': dict(depths=[2, 2, 8, 3], embed_dims=[32, 48, 80, 180], exp_ratios=[2., 2.5, 3., 3.5],
               head_dims=[16, 16, 20, 20], dw_kernel_sizes=[5, 5, 5, 5],
               drop_path_rate=0.04036),
    '2m': dict(depths=[3, 3, 9, 3], embed_dims=[32, 48, 120, 200], exp_ratios=[2., 2.5, 3., 3.5],
               head_dims=[16, 16, 20, 20], dw_kernel_sizes=[5, 5, 5, 5],
               drop_path_rate=0.05),
    '5m': dict(depths=[3, 3, 9, 3], embed_dims=[48, 72, 160, 288], exp_ratios=[2., 3., 4., 4.],
               head_dims=[16, 24, 32, 32], dw_kernel_sizes=[5, 5, 5, 5],
               drop_path_rate=0.05),
    '20m': dict(depths=[3, 3, 13, 3], embed_dims=[64, 128, 320, 448], exp_ratios=[2., 3., 4., 4.],
                head_dims=[16, 32, 32, 32], dw_kernel_sizes=[5, 5, 5, 5],
                drop_path_rate=0.1),
}

# EdgeFormer / ParC-Net (docs/edgeformer.md): stem, the two MobileNetV2 stages, and per ParC stage
# (3-5) its width C, ParC width S, FFN width F, number of ParC blocks and meta-kernel length K
EDGEFORMER_ARCHS = {
    'xs': dict(stem_channels=16, stem_kernel_size=3, mv2_channels=[32, 64], mv2_depths=[1, 3],
               stage_channels=[96, 128, 160], parc_channels=[96, 128, 160],
               ffn_channels=[192, 256, 320], parc_depths=[2, 3, 2],
               meta_kernel_sizes=[32, 16, 8], fusion='add', final_channels=640),
    's': dict(stem_channels=16, stem_kernel_size=3, mv2_channels=[32, 64], mv2_depths=[1, 3],
              stage_channels=[96, 128, 160], parc_channels=[192, 256, 320],
              ffn_channels=[384, 512, 640], parc_depths=[2, 4, 3],
              meta_kernel_sizes=[32, 16, 8], fusion='concat', final_channels=640),
    'h': dict(stem_channels=48, stem_kernel_size=5, mv2_channels=[96, 144], mv2_depths=[1, 3],
              stage_channels=[216, 288, 432], parc_channels=[324, 432, 432],
              ffn_channels=[648, 864, 864], parc_depths=[3, 9, 3],
              meta_kernel_sizes=[32, 16, 8], fusion='concat', final_channels=960),
}

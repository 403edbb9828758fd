"""The published EMO / EMOv2 variants, as data (the ``arch_zoo`` of :class:`~emo_mm.models.EMO` and
:class:`~emo_mm.models.EMOv2`).

Kept apart from the model classes so that checkpoint conversion (which detects the variant of a
state dict from its depths and widths) needs no model import. Values: ``docs/official_recipes.md``
(architectures).
"""
__all__ = ['EMO_ARCHS', 'EMOV2_ARCHS']

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
               head_dims=[16, 16, 20, 20], drop_path_rate=0.04036),
    '2m': dict(depths=[3, 3, 9, 3], embed_dims=[32, 48, 120, 200], exp_ratios=[2., 2.5, 3., 3.5],
               head_dims=[16, 16, 20, 20], drop_path_rate=0.05),
    '5m': dict(depths=[3, 3, 9, 3], embed_dims=[48, 72, 160, 288], exp_ratios=[2., 3., 4., 4.],
               head_dims=[16, 24, 32, 32], drop_path_rate=0.05),
    '20m': dict(depths=[3, 3, 13, 3], embed_dims=[64, 128, 320, 448], exp_ratios=[2., 3., 4., 4.],
                head_dims=[16, 32, 32, 32], drop_path_rate=0.1),
}

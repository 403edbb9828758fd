# The EMOv2 ADE20K recipe for Semantic FPN / SegFormer (docs/official_recipes.md §4.2): as the
# 80k one, but 160k iterations, heads at 10x LR, no grad clip, and a 1500-iteration warm-up from
# LR x 1e-6.
_base_ = [
    './emo2_4xb8-80k_ade20k-512x512.py',
]

# ``head`` matches ``decode_head.*`` (the FPN neck keeps the base LR, as in the official runs)
optim_wrapper = dict(
    clip_grad=None,
    paramwise_cfg=dict(custom_keys={'head': dict(lr_mult=10.)}))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='CosineAnnealingLR', eta_min=0.0, by_epoch=False, begin=80000, end=160000),
]
train_cfg = dict(max_iters=160000, val_interval=16000)
default_hooks = dict(checkpoint=dict(interval=16000))

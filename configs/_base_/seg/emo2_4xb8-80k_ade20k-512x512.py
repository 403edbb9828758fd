# The EMOv2 ADE20K recipe for DeepLabv3 / PSPNet (docs/official_recipes.md §4.2): 4 GPUs x 8
# images, AdamW wd 0.05, grad clip 0.1, 80k iterations: linear warm-up (500 iterations from
# LR x 1e-5), constant LR until half-way, then cosine to 0.
_base_ = './emo_ade20k-512x512.py'

emo_model = dict(
    backbone=dict(
        type='emo_mm.EMOv2',
        window_size=10,
        init_cfg=dict(
            type='Pretrained', checkpoint='checkpoints/emo2_1m_in1k.pth', prefix='backbone.')))

train_dataloader = dict(batch_size=8)
optim_wrapper = dict(
    optimizer=dict(weight_decay=0.05),
    clip_grad=dict(_delete_=True, max_norm=0.1))  # the stock base has clip_grad=None
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-5, by_epoch=False, begin=0, end=500),
    dict(type='CosineAnnealingLR', eta_min=0.0, by_epoch=False, begin=40000, end=80000),
]

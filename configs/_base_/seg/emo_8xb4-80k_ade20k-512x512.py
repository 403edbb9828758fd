# The EMO (v1) ADE20K recipe for DeepLabv3 / PSPNet (docs/official_recipes.md §4.1): 8 GPUs x 4
# images, AdamW wd 0.01, 80k iterations of poly decay (power 0.9, to 0) without warm-up, no grad
# clip.
_base_ = './emo_ade20k-512x512.py'

# window size 7 for 1M / 2M (the 5M configs use 16)
emo_model = dict(
    backbone=dict(
        type='emo_mm.EMO',
        window_size=7,
        init_cfg=dict(
            type='Pretrained', checkpoint='checkpoints/emo_1m_in1k.pth', prefix='backbone.')))

# The v1 backbone ran with sync_bn=True: convert every BN to SyncBN when distributed.
sync_bn = 'torch'

train_dataloader = dict(batch_size=4)
# The official v1 stem BN was named ``stage0.0.convs.0.1``, which the ``norm`` no-decay key does
# not match, so it kept its weight decay in the official runs; ours is ``stage0.0.norm``: the
# longer key (it wins) restores the official setting.
optim_wrapper = dict(
    optimizer=dict(weight_decay=0.01),
    paramwise_cfg=dict(custom_keys={'backbone.stage0.0.norm': dict(decay_mult=1.)}))
param_scheduler = [
    dict(type='PolyLR', eta_min=0.0, power=0.9, begin=0, end=80000, by_epoch=False),
]

# SSDLite 320x320 on COCO with an EMO-1M backbone (EMO, ICCV'23; docs/official_recipes.md §1.1,
# §4.1).
# The stock mmdet SSDLite-MobileNetV2 config with only the backbone and the optimizer replaced:
# same SSDNeck/SSDHead (depthwise, BN 1e-3/0.03, ReLU6), anchors, augmentation, test cfg,
# batch 24 x 8 GPUs, RepeatDataset x5 for 120 epochs (600 effective), linear warm-up of 500 iters
# (ratio 0.001) and per-epoch cosine annealing to 0.
_base_ = 'mmdet::ssd/ssdlite_mobilenetv2-scratch_8xb24-600e_coco.py'

custom_imports = dict(imports=['emo_mm'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type='emo_mm.EMO',
        arch='1m',
        out_indices=(3, 4),  # strides 16 and 32
        window_size=7,
        drop_path_rate=0.04036,
        frozen_stages=-1,
        # BN statistics stay frozen, which also makes the official sync_bn=True moot
        norm_eval=True,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/emo_1m_in1k.pth',
            prefix='backbone.')),
    neck=dict(
        in_channels=(80, 168), out_channels=(80, 168, 512, 256, 256, 128)),
    bbox_head=dict(in_channels=(80, 168, 512, 256, 256, 128)))

# AdamW lr 1.2e-3 (= 2e-4 x 6), wd 0.05, `norm` params without weight decay, no grad clip.
# `norm` matches (as a substring of the full parameter name) every BN/LN of our backbone. The
# official EMO code named the stem BN `stage0.0.convs.0.1`, which `norm` does not match, so that
# layer kept its weight decay in the official runs: the second key reproduces this (the longer
# key wins). In the RetinaNet configs the stem is frozen, so the question does not arise there.
optim_wrapper = dict(
    optimizer=dict(
        _delete_=True,
        type='AdamW',
        lr=1.2e-3,
        betas=(0.9, 0.999),
        weight_decay=0.05),
    paramwise_cfg=dict(
        custom_keys={
            'norm': dict(decay_mult=0.),
            'backbone.stage0.0.norm': dict(decay_mult=1.),
        }))

# base_batch_size = (8 GPUs) x (24 samples per GPU)
auto_scale_lr = dict(enable=False, base_batch_size=192)

# Crash safety and exact resumption (docs/failure_modes.md): atomic checkpoints with a save on
# SIGTERM, per-iteration seeds, a stop at the first NaN / Inf loss (in place of mmdet's
# CheckInvalidLossHook, which checks every 50 iterations, after the checkpoint), and a
# mid-epoch resume that continues with the next batch.
# evaluation (stock `val_interval`) and checkpoints every 5 epochs, as in the official runs
default_hooks = dict(checkpoint=dict(type='CrashSafeCheckpointHook', interval=5))
custom_hooks = [
    dict(type='NumClassCheckHook'),
    dict(type='StepSeedHook'),
    dict(type='FiniteLossHook'),
]
train_cfg = dict(type='ResumableEpochBasedTrainLoop')

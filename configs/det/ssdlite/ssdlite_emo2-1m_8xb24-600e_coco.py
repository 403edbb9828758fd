# SSDLite 320x320 on COCO with an EMOv2-1M backbone (docs/official_recipes.md §1.2, §4.2). The
# official runs are named "300" but use this 320 input. The stock mmdet SSDLite-MobileNetV2
# config (neck, head, anchors, augmentation, test cfg, batch 24 x 8 GPUs, RepeatDataset x5 for 120
# epochs = 600 effective) with the backbone, the optimizer and the schedule replaced.
_base_ = 'mmdet::ssd/ssdlite_mobilenetv2-scratch_8xb24-600e_coco.py'

custom_imports = dict(imports=['emo_mm'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type='emo_mm.EMOv2',
        arch='1m',
        out_indices=(3, 4),  # strides 16 and 32
        window_size=10,
        drop_path_rate=0.04036,
        frozen_stages=-1,
        norm_eval=True,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/emo2_1m_in1k.pth',
            prefix='backbone.')),
    neck=dict(
        in_channels=(80, 180), out_channels=(80, 180, 512, 256, 256, 128)),
    bbox_head=dict(in_channels=(80, 180, 512, 256, 256, 128)))

# EMOv2 schedule: LinearLR (factor 1e-5) for 500 iters, the base LR held constant up to epoch
# 60, then cosine to 0 over epochs 60-120
max_epochs = 120
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-5, by_epoch=False, begin=0, end=500),
    dict(
        type='CosineAnnealingLR',
        eta_min=0.0,
        begin=max_epochs // 2,
        end=max_epochs,
        T_max=max_epochs // 2,
        by_epoch=True,
        convert_to_iter_based=True),
]

# AdamW lr 2.4e-3 (= 2e-4 x 6 x 2), wd 0.05, `norm` params without weight decay, grad clip 0.1
optim_wrapper = dict(
    optimizer=dict(
        _delete_=True,
        type='AdamW',
        lr=2.4e-3,
        betas=(0.9, 0.999),
        weight_decay=0.05),
    clip_grad=dict(max_norm=0.1, norm_type=2),
    paramwise_cfg=dict(custom_keys={'norm': dict(decay_mult=0.)}))

# base_batch_size = (8 GPUs) x (24 samples per GPU)
auto_scale_lr = dict(enable=False, base_batch_size=192)

# Crash safety and exact resumption (docs/failure_modes.md): atomic checkpoints with a save on
# SIGTERM, per-iteration seeds, a stop at the first NaN / Inf loss (in place of mmdet's
# CheckInvalidLossHook, which checks every 50 iterations, after the checkpoint), and a
# mid-epoch resume that continues with the next batch.
default_hooks = dict(checkpoint=dict(type='CrashSafeCheckpointHook'))
custom_hooks = [
    dict(type='NumClassCheckHook'),
    dict(type='StepSeedHook'),
    dict(type='FiniteLossHook'),
]
train_cfg = dict(type='ResumableEpochBasedTrainLoop')

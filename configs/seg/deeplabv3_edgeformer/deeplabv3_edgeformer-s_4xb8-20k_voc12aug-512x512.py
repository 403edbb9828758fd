# DeepLabv3 on PASCAL VOC 2012 + SBD (train_aug) with an EdgeFormer-S (ParC-Net-S) backbone at
# output stride 16, the official segmentation setting (docs/edgeformer.md): the last stage runs
# at stride 16 without dilation and feeds an ASPP head (rates 6 / 12 / 18) without auxiliary
# head; 4 GPUs x 8 images of 512x512; AdamW lr 9e-4, wd 0.01, head LR x 10, 500-iteration
# warm-up from lr / 10, cosine to 1e-6; EMA. The head is mmseg's ASPPHead (3x3 bottleneck; the
# official head projects with a 1x1 conv), and the official run added COCO images relabelled
# to the VOC classes, which mmseg has no dataset for.
_base_ = [
    'mmseg::_base_/models/deeplabv3_r50-d8.py',
    'mmseg::_base_/datasets/pascal_voc12_aug.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_20k.py',
]
custom_imports = dict(imports=['emo_mm'], allow_failed_imports=False)
crop_size = (512, 512)

model = dict(
    pretrained=None,  # the stock model base names an ImageNet ResNet here
    # the backbone's ImageNet convention: BGR in [0, 1] (no mean / std)
    data_preprocessor=dict(
        size=crop_size, mean=[0., 0., 0.], std=[255., 255., 255.], bgr_to_rgb=False),
    backbone=dict(
        _delete_=True,
        type='emo_mm.EdgeFormer',
        arch='s',
        out_indices=(4, ),
        output_stride=16,
        init_cfg=dict(
            type='Pretrained', checkpoint='checkpoints/edgeformer_s_in1k.pth', prefix='backbone.')),
    decode_head=dict(
        in_channels=160, in_index=0, channels=256, dilations=(1, 6, 12, 18), num_classes=21),
    auxiliary_head=None)

# official augmentation: random resize of the short side to 384-768 (0.75-1.5 x 512), random
# 512x512 crop and flip; no photometric distortion
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=(2048, 512), ratio_range=(0.75, 1.5), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='Pad', size=crop_size),
    dict(type='PackSegInputs')
]
train_dataloader = dict(
    batch_size=8,
    dataset=dict(datasets=[
        dict(_base_.dataset_train, pipeline=train_pipeline),
        dict(_base_.dataset_aug, pipeline=train_pipeline),
    ]))

# 20k iterations x 32 images = about 60 epochs of train_aug (official: 50 epochs of VOC + COCO)
optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='AdamW', lr=9e-4, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(custom_keys={'decode_head': dict(lr_mult=10.)}))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=500),
    dict(type='CosineAnnealingLR', eta_min=1e-6, T_max=20000, by_epoch=False, begin=0, end=20000),
]
# Crash safety and exact resumption (docs/failure_modes.md): atomic checkpoints with a save on
# SIGTERM, per-iteration seeds, a stop at the first NaN / Inf loss.
custom_hooks = [
    dict(type='EMAHook', momentum=5e-4, update_buffers=True, priority='ABOVE_NORMAL'),
    dict(type='StepSeedHook'),
    dict(type='FiniteLossHook'),
]
default_hooks = dict(checkpoint=dict(type='CrashSafeCheckpointHook'))
train_cfg = dict(type='ResumableIterBasedTrainLoop')  # resumes without re-reading the data
# the official BN layers of the backbone were SyncBN (those inside the ParC blocks were not)
sync_bn = 'torch'

# base_batch_size = (4 GPUs) x (8 samples per GPU)
auto_scale_lr = dict(enable=False, base_batch_size=32)

# SSDLite 320x320 on COCO with an EdgeFormer-S (ParC-Net-S) backbone (docs/edgeformer.md).
# The stock mmdet SSDLite-MobileNetV2 model (depthwise SSD neck and head, BN 1e-3 / 0.03, ReLU6,
# the SSDLite-320 anchors), fed by the stride-16 and stride-32 features (levels 3 and 4), with
# the official EdgeFormer detection recipe: 4 GPUs x 32 images, 200 epochs, AdamW lr 9e-4 and
# wd 0.02, 500-iteration warm-up from lr / 10, cosine per epoch to 1e-6, EMA, SyncBN.
_base_ = 'mmdet::ssd/ssdlite_mobilenetv2-scratch_8xb24-600e_coco.py'

custom_imports = dict(imports=['emo_mm'], allow_failed_imports=False)

model = dict(
    # the backbone's ImageNet convention: BGR in [0, 1] (no mean / std)
    data_preprocessor=dict(mean=[0., 0., 0.], std=[255., 255., 255.], bgr_to_rgb=False),
    backbone=dict(
        _delete_=True,
        type='emo_mm.EdgeFormer',
        arch='s',
        out_indices=(3, 4),  # strides 16 and 32 (official: layer_4, layer_5)
        frozen_stages=-1,
        norm_eval=False,  # the official run trains the backbone BNs (SyncBN)
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/edgeformer_s_in1k.pth',
            prefix='backbone.')),
    neck=dict(in_channels=(128, 160), out_channels=(128, 160, 512, 256, 256, 128)),
    bbox_head=dict(in_channels=(128, 160, 512, 256, 256, 128)))
# every BN (backbone, neck, head) becomes SyncBN when training on several GPUs
sync_bn = 'torch'

# official augmentation: SSD random crop, photometric distortion, flip, resize to 320x320; no
# zoom-out (the stock SSDLite ``Expand`` step is left out)
input_size = 320
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='MinIoURandomCrop', min_ious=(0.1, 0.3, 0.5, 0.7, 0.9), min_crop_size=0.3),
    dict(type='Resize', scale=(input_size, input_size), keep_ratio=False),
    dict(type='RandomFlip', prob=0.5),
    dict(
        type='PhotoMetricDistortion',
        brightness_delta=32,
        contrast_range=(0.5, 1.5),
        saturation_range=(0.5, 1.5),
        hue_delta=18),
    dict(type='PackDetInputs')
]
# 200 epochs over COCO train2017 (the stock config repeats it 5 times for 120 epochs)
train_dataloader = dict(
    batch_size=32,
    dataset=dict(
        _delete_=True,
        type=_base_.dataset_type,
        data_root=_base_.data_root,
        ann_file='annotations/instances_train2017.json',
        data_prefix=dict(img='train2017/'),
        filter_cfg=dict(filter_empty_gt=True, min_size=32),
        pipeline=train_pipeline))

max_epochs = 200
train_cfg = dict(type='ResumableEpochBasedTrainLoop', max_epochs=max_epochs, val_interval=5)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=500),
    dict(type='CosineAnnealingLR', eta_min=1e-6, T_max=max_epochs, by_epoch=True, begin=0,
         end=max_epochs),
]
# weight decay on every parameter, as in the official classification recipe
optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='AdamW', lr=9e-4, betas=(0.9, 0.999), weight_decay=0.02))

# Crash safety and exact resumption (docs/failure_modes.md): atomic checkpoints with a save on
# SIGTERM, per-iteration seeds, a stop at the first NaN / Inf loss (in place of mmdet's
# CheckInvalidLossHook, which checks every 50 iterations, after the checkpoint), and a
# mid-epoch resume that continues with the next batch.
custom_hooks = [
    dict(type='NumClassCheckHook'),
    dict(type='EMAHook', momentum=5e-4, update_buffers=True, priority='ABOVE_NORMAL'),
    dict(type='StepSeedHook'),
    dict(type='FiniteLossHook'),
]
default_hooks = dict(checkpoint=dict(type='CrashSafeCheckpointHook', interval=5))

# base_batch_size = (4 GPUs) x (32 samples per GPU)
auto_scale_lr = dict(enable=False, base_batch_size=128)

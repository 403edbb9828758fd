# RetinaNet (FPN, 1x) on COCO with an EMO-1M backbone (EMO, ICCV'23; docs/official_recipes.md
# §1.1, §4.1).
# The stock mmdet RetinaNet-R50-FPN model and data (1333x800) with the backbone replaced, FPN
# fed stride 4-32 features (start_level=1, so P3-P7 as stock), and the EMO v1 recipe: AdamW
# lr 2e-4, cosine, batch 4 x 8 GPUs. Unlike the official EMO-1M config (`pretrained=None`, a bug:
# its log trained from ImageNet weights), the backbone loads its ImageNet checkpoint.
_base_ = [
    'mmdet::_base_/models/retinanet_r50_fpn.py',
    'mmdet::_base_/datasets/coco_detection.py',
    '../../_base_/det/schedules/emo_adamw-cosine_1x.py',
    'mmdet::_base_/default_runtime.py',
    'mmdet::retinanet/retinanet_tta.py',
]

custom_imports = dict(imports=['emo_mm'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type='emo_mm.EMO',
        arch='1m',
        out_indices=(1, 2, 3, 4),  # strides 4, 8, 16, 32
        window_size=7,
        drop_path_rate=0.04036,
        frozen_stages=1,  # stem and stage 1
        # BN statistics stay frozen, which also makes the official sync_bn=True moot
        norm_eval=True,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/emo_1m_in1k.pth',
            prefix='backbone.')),
    neck=dict(in_channels=[32, 48, 80, 168]))

train_dataloader = dict(batch_size=4)

# Crash safety and exact resumption (docs/failure_modes.md): atomic checkpoints with a save on
# SIGTERM, per-iteration seeds, a stop at the first NaN / Inf loss (the schedule's train loop
# resumes mid-epoch with the next batch).
default_hooks = dict(checkpoint=dict(type='CrashSafeCheckpointHook'))
custom_hooks = [dict(type='StepSeedHook'), dict(type='FiniteLossHook')]

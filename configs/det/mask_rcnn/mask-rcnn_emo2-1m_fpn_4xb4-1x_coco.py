# Mask R-CNN (FPN, 1x) on COCO with an EMOv2-1M backbone (docs/official_recipes.md §1.2, §4.2).
# The stock mmdet Mask R-CNN-R50-FPN model (RPN, RoIAlign 7/14, Shared2FC box head, 4-conv mask
# head) and instance data (1333x800) with the backbone replaced, FPN over all four stride 4-32
# levels (start_level=0, as stock), and the EMOv2 recipe: AdamW lr 2e-4, grad clip 0.1,
# half-constant/half-cosine schedule, batch 4 x 4 GPUs.
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py',
    'mmdet::_base_/datasets/coco_instance.py',
    '../../_base_/det/schedules/emo2_adamw-half-cosine_1x.py',
    'mmdet::_base_/default_runtime.py',
]

custom_imports = dict(imports=['emo_mm'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type='emo_mm.EMOv2',
        arch='1m',
        out_indices=(1, 2, 3, 4),  # strides 4, 8, 16, 32
        window_size=10,
        drop_path_rate=0.04036,
        frozen_stages=1,  # stem and stage 1
        norm_eval=True,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/emo2_1m_in1k.pth',
            prefix='backbone.')),
    neck=dict(in_channels=[32, 48, 80, 180]))

train_dataloader = dict(batch_size=4)

# Crash safety and exact resumption (docs/failure_modes.md): atomic checkpoints with a save on
# SIGTERM, per-iteration seeds, a stop at the first NaN / Inf loss (the schedule's train loop
# resumes mid-epoch with the next batch).
default_hooks = dict(checkpoint=dict(type='CrashSafeCheckpointHook'))
custom_hooks = [dict(type='StepSeedHook'), dict(type='FiniteLossHook')]

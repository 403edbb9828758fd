# A tiny ImageNet-style classification run for the tool tests: 2 classes of 32x32 images, a few
# iterations with validation, checkpoints every 2 iterations. The tests generate the toy shapes
# ImageNet layout (train/<class>/*.png, val/<class>/*.png) with
# tools/dataset_converters/make_toy_data.py and point the environment variable EMO_MM_TEST_DATA
# at it.
default_scope = 'mmpretrain'
data_root = '{{$EMO_MM_TEST_DATA:data/toy/cls}}'
custom_imports = dict(imports=['emo_mm'], allow_failed_imports=False)

# The backbone under test and its output channels: the one line to change to try another one,
# e.g. dict(type='mmpretrain.MobileNetV2', widen_factor=0.25, out_indices=(7, )), 1280
backbone, channels = dict(type='emo_mm.EMOv2', arch='1m', out_indices=(4, ), final_norm=True), 180

model = dict(
    type='ImageClassifier',
    data_preprocessor=dict(
        num_classes=2, mean=[127.5, 127.5, 127.5], std=[57.4, 57.4, 57.4], to_rgb=True),
    backbone=backbone,
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=2,
        in_channels=channels,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    dataset=dict(type='CustomDataset', data_root=data_root, data_prefix='train',
                 pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True))
val_dataloader = dict(
    batch_size=4,
    num_workers=0,
    dataset=dict(type='CustomDataset', data_root=data_root, data_prefix='val',
                 pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False))
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_dataloader = val_dataloader
test_evaluator = val_evaluator

optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05))
param_scheduler = dict(type='LinearLR', start_factor=0.5, by_epoch=False, begin=0, end=4)
train_cfg = dict(type='ResumableIterBasedTrainLoop', max_iters=4, val_interval=2)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=8)

# crash safety, as this repository's configs turn it on (docs/failure_modes.md)
custom_hooks = [dict(type='StepSeedHook'), dict(type='FiniteLossHook')]
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=1),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CrashSafeCheckpointHook', interval=2, by_epoch=False, save_best='auto'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='VisualizationHook', enable=False),
)
env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),  # the stock setting; tools/train.py switches to gloo on CPU
)
visualizer = dict(type='UniversalVisualizer', vis_backends=[dict(type='LocalVisBackend')])
log_processor = dict(by_epoch=False)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0)

# A tiny semantic FPN with the EMOv2-1M backbone on the toy shapes ADE20K layout (background + 2
# classes, 64x64 images) for the single-process tool smoke test. Inherits the stock mmseg
# semantic FPN config (whose norm_cfg is SyncBN) and overrides only the backbone, the channel
# widths and the data. The test generates the data with
# tools/dataset_converters/make_toy_data.py and points the environment variable
# EMO_MM_TEST_DATA at it.
_base_ = 'mmseg::sem_fpn/fpn_r50_4xb4-160k_ade20k-512x512.py'
data_root = '{{$EMO_MM_TEST_DATA:data/toy/seg}}'
custom_imports = dict(imports=['emo_mm'], allow_failed_imports=False)
metainfo = dict(classes=('background', 'circle', 'square'))
crop_size = (64, 64)

model = dict(
    data_preprocessor=dict(size=crop_size),
    pretrained=None,
    backbone=dict(_delete_=True, type='emo_mm.EMOv2', arch='1m', out_indices=(1, 2, 3, 4)),
    neck=dict(in_channels=[32, 48, 80, 180], out_channels=32),
    decode_head=dict(in_channels=[32, 32, 32, 32], channels=32, num_classes=3))

# ADE20K convention: PNG 0 = "other" (ignored), so reduce_zero_label=True.
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs')
]
dataset = dict(
    _delete_=True,
    type='BaseSegDataset',
    data_root=data_root,
    metainfo=metainfo,
    img_suffix='.jpg',
    seg_map_suffix='.png',
    reduce_zero_label=True)
train_dataloader = dict(
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_prefix=dict(img_path='images/training', seg_map_path='annotations/training'),
        pipeline=train_pipeline,
        **dataset))
val_dataloader = dict(
    batch_size=1,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_prefix=dict(img_path='images/validation', seg_map_path='annotations/validation'),
        pipeline=test_pipeline,
        **dataset))
test_dataloader = val_dataloader

train_cfg = dict(type='ResumableIterBasedTrainLoop', max_iters=2, val_interval=2)
# crash safety, as this repository's configs turn it on (docs/failure_modes.md)
default_hooks = dict(logger=dict(interval=1),
                     checkpoint=dict(type='CrashSafeCheckpointHook', interval=2))
custom_hooks = [dict(type='StepSeedHook'), dict(type='FiniteLossHook')]

# A tiny SSDLite with the EMOv2-1M backbone on the toy shapes COCO layout (2 classes, 64x64
# images) for the single-process tool smoke test. Inherits the stock mmdet SSDLite config and
# overrides only the backbone, the channel widths and the data. The test generates the data with
# tools/dataset_converters/make_toy_data.py and points the environment variable
# EMO_MM_TEST_DATA at it.
_base_ = 'mmdet::ssd/ssdlite_mobilenetv2-scratch_8xb24-600e_coco.py'
data_root = '{{$EMO_MM_TEST_DATA:data/toy/det}}/'
custom_imports = dict(imports=['emo_mm'], allow_failed_imports=False)
metainfo = dict(classes=('circle', 'square'))
input_size = 64
levels = (80, 180, 64, 32, 32, 16)  # EMOv2-1M stages 3 and 4, then the neck's extra levels

model = dict(
    backbone=dict(_delete_=True, type='emo_mm.EMOv2', arch='1m', out_indices=(3, 4)),
    neck=dict(in_channels=levels[:2], out_channels=levels),
    bbox_head=dict(in_channels=levels, num_classes=2))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(input_size, input_size), keep_ratio=False),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(input_size, input_size), keep_ratio=False),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'))
]
dataset = dict(type='CocoDataset', data_root=data_root, metainfo=metainfo)
train_dataloader = dict(
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        _delete_=True,
        ann_file='annotations/instances_train2017.json',
        data_prefix=dict(img='train2017/'),
        pipeline=train_pipeline,
        **dataset))
val_dataloader = dict(
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        ann_file='annotations/instances_val2017.json',
        data_prefix=dict(img='val2017/'),
        test_mode=True,
        pipeline=test_pipeline,
        **dataset))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val2017.json')
test_evaluator = val_evaluator

train_cfg = dict(type='ResumableEpochBasedTrainLoop', max_epochs=1, val_interval=1)
# crash safety, as this repository's configs turn it on (docs/failure_modes.md)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(type='CrashSafeCheckpointHook'))
custom_hooks = [dict(type='StepSeedHook'), dict(type='FiniteLossHook')]

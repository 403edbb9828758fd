# SSDLite-EMOv2-1M on the toy "shapes" detection set (COCO layout, see
# tools/dataset_converters/make_toy_data.py): the COCO config with only the data path, the class
# count, the input size, the batch size and the schedule changed. The backbone starts from the
# toy classifier (configs/cls/toy/emo2-1m_toy-cls.py) converted with
# `tools/model_converters/emo_to_mmpretrain.py --backbone-only`, as `make demo` does.
_base_ = '../ssdlite/ssdlite_emo2-1m_8xb24-600e_coco.py'

# EMO_MM_TOY_DATA moves the toy data root (tools/demo.py --data-root); default data/toy
data_root = '{{$EMO_MM_TOY_DATA:data/toy}}/det/'
classes = ('circle', 'cross', 'square', 'star', 'triangle')
metainfo = dict(classes=classes, palette=[(220, 20, 60), (0, 130, 255), (255, 160, 0),
                                          (150, 0, 200), (0, 170, 80)])
input_size = 160  # stride-16 map 10x10 = one attention window (window_size 10)
# the stock 320-px anchors, scaled to the input: boxes 0.15..1.0 of the image side
anchor_scale = input_size / 320

# ------------------------------------------------- classes, input size, pretrained backbone
model = dict(
    backbone=dict(init_cfg=dict(checkpoint='work_dirs/demo/cls/emo2-1m_toy-cls_backbone.pth')),
    bbox_head=dict(
        num_classes=len(classes),
        anchor_generator=dict(
            # feature map sides 10, 5, 3, 2, 1, 1 -> strides = input / side
            strides=[input_size / s for s in (10, 5, 3, 2, 1, 1)],
            min_sizes=[round(s * anchor_scale) for s in (48, 100, 150, 202, 253, 304)],
            max_sizes=[round(s * anchor_scale) for s in (100, 150, 202, 253, 304, 320)])))

train_pipeline = [
    dict(t, scale=(input_size, input_size)) if t['type'] == 'Resize' else t
    for t in _base_.train_pipeline
]
test_pipeline = [
    dict(t, scale=(input_size, input_size)) if t['type'] == 'Resize' else t
    for t in _base_.test_pipeline
]

# ------------------------------------------------------------------ data path, batch size
train_dataloader = dict(
    batch_size=32,
    num_workers=2,
    dataset=dict(  # RepeatDataset
        times=1,
        dataset=dict(data_root=data_root, metainfo=metainfo, pipeline=train_pipeline)))
val_dataloader = dict(
    batch_size=25,
    num_workers=1,
    dataset=dict(data_root=data_root, metainfo=metainfo, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val2017.json')
test_evaluator = val_evaluator

# ------------------------------------------------------------------------------ schedule
# the EMOv2 schedule (warm-up, constant LR, cosine over the second half) on 25 epochs of
# 800 images; AdamW 2.4e-3 as on COCO (batch 192), here for batch 32
max_epochs = 25
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=50),
    dict(type='CosineAnnealingLR', eta_min=0.0, begin=max_epochs // 2, end=max_epochs,
         T_max=max_epochs - max_epochs // 2, by_epoch=True, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
auto_scale_lr = dict(base_batch_size=32)
default_hooks = dict(
    logger=dict(interval=5),
    checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))

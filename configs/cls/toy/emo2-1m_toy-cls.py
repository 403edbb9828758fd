# EMOv2-1M trained from scratch on the toy "shapes" classification set (ImageNet layout, see
# tools/dataset_converters/make_toy_data.py): the ImageNet-1k config with only the data path, the
# class count, the input size (64 px), the batch size and the schedule changed. `make demo`
# (tools/demo.py) trains it first; its backbone then initialises the toy detector.
_base_ = '../emo2/emo2-1m_8xb128_in1k.py'

# EMO_MM_TOY_DATA moves the toy data root (tools/demo.py --data-root); default data/toy
data_root = '{{$EMO_MM_TOY_DATA:data/toy}}/cls'
classes = ('circle', 'cross', 'square', 'star', 'triangle')  # = meta/classes.txt
input_size = 64

# ------------------------------------------------------------------------------- classes
model = dict(head=dict(num_classes=len(classes)))
data_preprocessor = dict(num_classes=len(classes))

# ---------------------------------------------------------------------------- input size
train_pipeline = [
    dict(t, scale=input_size) if t['type'] == 'RandomResizedCrop' else t
    for t in _base_.train_pipeline
]
test_pipeline = [  # the whole 64x64 image (ImageNet: short side 256, centre crop 224)
    dict(t, scale=input_size) if t['type'] == 'ResizeEdge' else
    dict(t, crop_size=input_size) if t['type'] == 'CenterCrop' else t
    for t in _base_.test_pipeline
]

# ------------------------------------------------------------------ data path, batch size
train_dataloader = dict(
    batch_size=64,
    num_workers=2,
    persistent_workers=True,
    dataset=dict(data_root=data_root, classes=classes, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=100,
    num_workers=1,
    persistent_workers=True,
    dataset=dict(data_root=data_root, classes=classes, pipeline=test_pipeline))
test_dataloader = val_dataloader

# ------------------------------------------------------------------------------ schedule
# 30 epochs of 1000 images: AdamW at 4e-3 for batch 64 (the recipe's 1.5e-3 x 64 / 512 = 1.9e-4
# is far too slow for a few hundred iterations), 2 warm-up epochs, cosine to LR / 6000.
max_epochs = 30
optim_wrapper = dict(optimizer=dict(lr=4e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=_base_.lr_floor_ratio, by_epoch=True, begin=0, end=2,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min_ratio=_base_.lr_floor_ratio, by_epoch=True, begin=2,
         end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs, val_interval=10)
auto_scale_lr = dict(base_batch_size=64)
# The EMA time constant follows the schedule: 1 / 2e-4 = 5000 iterations on ImageNet (6% of a
# 300-epoch run at batch 1024), 1 / 2e-2 = 50 iterations here (~10% of the ~470).
custom_hooks = [
    dict(type='EMAHook', momentum=2e-2, update_buffers=True, priority='ABOVE_NORMAL'),
]
default_hooks = dict(
    logger=dict(interval=5),
    checkpoint=dict(interval=10, max_keep_ckpts=1, save_best='auto'))

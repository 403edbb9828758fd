# EMOv2-1M trained from scratch on the toy "shapes" classification set (ImageNet layout, see
# tools/dataset_converters/make_toy_data.py): the ImageNet-1k config with the data path, the class
# count, the input size, the batch size and the schedule changed, and two parts of the recipe
# that only make sense for 300 ImageNet epochs switched off (see "recipe" below). `make demo`
# (tools/demo.py) trains it first; its backbone then initialises the toy detector and segmentor.
_base_ = '../emo2/emo2-1m_8xb128_in1k.py'

# EMO_MM_TOY_DATA moves the toy data root (tools/demo.py --data-root); default data/toy
data_root = '{{$EMO_MM_TOY_DATA:data/toy}}/cls'
classes = ('circle', 'cross', 'square', 'star', 'triangle')  # = meta/classes.txt

# ------------------------------------------------------------------------------- classes
data_preprocessor = dict(num_classes=len(classes))

# ---------------------------------------------------------------------------- input size
# The toy images' own 64 px: the shapes then have the size (in pixels) of the toy detector's and
# segmentor's objects at their 128-px input, so the pretrained backbone transfers without a
# change of scale. (Upsampled to 112 px the classifier learned faster, but the detector
# finetuned from it reached 0.29 instead of 0.44 mAP in the same schedule.) The attention windows
# follow the input size: one window per map (stride 16: 4x4, stride 32: 2x2; only stages 3-4
# attend), no zero padding.
input_size = 64
model = dict(
    backbone=dict(window_size=[input_size // 16] * 3 + [input_size // 32]),
    head=dict(num_classes=len(classes)))

# -------------------------------------------------------------------------------- recipe
# * RandAugment (magnitude 9) is left out and random-resized crops keep >= 35% of the image
#   (ImageNet: 8%): a small crop of a 64-px toy image can cut away the shape that defines the
#   class, and with both the model learns far slower in the few epochs here.
# * No EMA: its 5000-iteration time constant on ImageNet has no counterpart in a few hundred
#   iterations (and its BN-buffer averaging gave a far worse model on these short runs).
train_pipeline = [
    dict(t, scale=input_size, crop_ratio_range=(0.35, 1.0))
    if t['type'] == 'RandomResizedCrop' else t for t in _base_.train_pipeline
    if t['type'] != 'RandAugment'
]
test_pipeline = [  # the whole image (ImageNet: short side 256, centre crop 224)
    dict(t, scale=input_size) if t['type'] == 'ResizeEdge' else t
    for t in _base_.test_pipeline if t['type'] != 'CenterCrop'
]
custom_hooks = [dict(type='StepSeedHook'), dict(type='FiniteLossHook')]  # no EMA (above)

# ------------------------------------------------------------------ data path, batch size
train_dataloader = dict(
    batch_size=32,
    num_workers=2,
    persistent_workers=True,
    dataset=dict(data_root=data_root, classes=classes, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=50,
    num_workers=1,
    persistent_workers=True,
    dataset=dict(data_root=data_root, classes=classes, pipeline=test_pipeline))
test_dataloader = val_dataloader

# ------------------------------------------------------------------------------ schedule
# 36 epochs of 1000 images (1152 iterations): AdamW at 1e-3 for batch 32 (the recipe's
# 1.5e-3 x 32 / 512 = 9.4e-5 is far too slow for a few hundred iterations), three warm-up epochs,
# cosine to LR / 6000.
# Why three warm-up epochs at 1e-3 and not one at 2e-3 (our earlier recipe, which passed or
# failed by the seed and the machine): EMOv2 starts every block's LayerScale at 1e-6, so the
# gradients of these scales are huge at first (the global gradient norm is 30-275 in the first
# epochs, the scales' Adam second moments 100x those of any other weight) and the clipping at 5
# is active throughout the warm-up. With one warm-up epoch the LR peak of 2e-3 came while the
# net had not started to learn: at seed 42 the pooled features lost their dependence on the
# image (batch std 0.5 -> 0.02-0.08) at iterations 36-92 and the loss sat at chance (ln 5 = 1.61)
# until the cosine brought the LR below about 1e-3 (epoch 14 on a 2-core AMD EPYC: top-1 65.5).
# With this schedule the same seed keeps its features (batch std 0.22-0.45) and reaches top-1
# 92.50 in 24 epochs; 2e-3 with the same three warm-up epochs still sat near chance for 8 epochs
# (top-1 84.0). 36 epochs: top-1 97.00 in a single-thread probe, and the toy detector probe
# from it (backbone at a tenth of the LR, seed 0) reached 0.459 mAP against 0.446 from the
# 24-epoch classifier: a small gain, one seed. The demo's results are in the README
# ("The demo").
max_epochs = 36
warmup_epochs = 3
optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=_base_.lr_floor_ratio, by_epoch=True, begin=0,
         end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min_ratio=_base_.lr_floor_ratio, by_epoch=True,
         begin=warmup_epochs, end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
auto_scale_lr = dict(base_batch_size=32)
default_hooks = dict(
    logger=dict(interval=8),
    checkpoint=dict(interval=max_epochs, max_keep_ckpts=1, save_best=None))

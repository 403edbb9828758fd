# The quick run of the demo (`python tools/demo.py --quick`, the test suite's end-to-end run):
# the toy classifier (emo2-1m_toy-cls.py) on the quick toy set (24 train + 10 val images per
# class) for 16 epochs of batch 16 (128 iterations). It shows that the pipeline learns, not the
# quality bar of the full run.
_base_ = './emo2-1m_toy-cls.py'

max_epochs = 16
param_scheduler = [  # one warm-up epoch, cosine to LR / 6000 (as in the full run)
    dict(type='LinearLR', start_factor=_base_.lr_floor_ratio, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min_ratio=_base_.lr_floor_ratio, by_epoch=True, begin=1,
         end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
train_dataloader = dict(batch_size=16)
val_dataloader = dict(batch_size=10)
default_hooks = dict(logger=dict(interval=8), checkpoint=dict(interval=max_epochs))

# The quick run of the demo (`python tools/demo.py --quick`, the test suite's end-to-end run):
# the toy detector (ssdlite_emo2-1m_toy-det.py) on the quick toy set (64 train + 16 val images)
# for 6 epochs of batch 8 (48 iterations). It shows that the pipeline learns, not the quality bar
# of the full run.
_base_ = './ssdlite_emo2-1m_toy-det.py'

max_epochs = 6
param_scheduler = [  # the full run's shape: warm-up, constant LR, cosine over the second half
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=8),
    dict(type='CosineAnnealingLR', eta_min=0.0, begin=max_epochs // 2, end=max_epochs,
         T_max=max_epochs - max_epochs // 2, by_epoch=True, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
train_dataloader = dict(batch_size=8)
val_dataloader = dict(batch_size=8)
default_hooks = dict(logger=dict(interval=4), checkpoint=dict(interval=max_epochs))

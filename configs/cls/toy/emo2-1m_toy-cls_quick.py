# The quick run of the demo (`python tools/demo.py --quick`, the test suite's end-to-end run):
# the toy classifier (emo2-1m_toy-cls.py) on the quick toy set (24 train + 10 val images per
# class) for 16 epochs of batch 16 (128 iterations). It shows that the pipeline learns, not the
# quality bar of the full run.
_base_ = './emo2-1m_toy-cls.py'

max_epochs = 16
# the full run's warm-up epoch; the cosine ends with the shorter schedule
param_scheduler = [
    dict(s, end=max_epochs) if s['type'] == 'CosineAnnealingLR' else s
    for s in _base_.param_scheduler
]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
train_dataloader = dict(batch_size=16)
val_dataloader = dict(batch_size=10)
default_hooks = dict(logger=dict(interval=8), checkpoint=dict(interval=max_epochs))

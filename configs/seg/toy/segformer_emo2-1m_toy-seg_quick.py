# The quick run of the demo (`python tools/demo.py --quick`, the test suite's end-to-end run):
# the toy segmentor (segformer_emo2-1m_toy-seg.py) on the quick toy set (48 train + 12 val
# images) for 80 iterations of batch 8. It shows that the pipeline learns, not the quality bar
# of the full run.
_base_ = './segformer_emo2-1m_toy-seg.py'

max_iters = 80
param_scheduler = [  # the full run's shape: warm-up, constant LR, cosine over the second half
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=5),
    dict(type='CosineAnnealingLR', eta_min=0.0, by_epoch=False, begin=max_iters // 2,
         end=max_iters),
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(logger=dict(interval=5), checkpoint=dict(interval=max_iters))

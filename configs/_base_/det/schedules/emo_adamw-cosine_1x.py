# EMO (v1) RetinaNet recipe, 12 epochs (docs/official_recipes.md §4.1): AdamW lr 2e-4,
# betas (0.9, 0.999), wd 0.05, `norm` params without weight decay, no grad clip; linear warm-up
# of 500 iters (ratio 0.001), then cosine annealing (stepped per epoch, as mmdet 2.x did) to 0
# over 12 epochs.
# Batch 4 x 8 GPUs = 32 (set `train_dataloader.batch_size=4` in the detector config).
_base_ = 'mmdet::_base_/schedules/schedule_1x.py'

max_epochs = 12
# continues with the next batch when resumed mid-epoch (docs/failure_modes.md)
train_cfg = dict(type='ResumableEpochBasedTrainLoop', max_epochs=max_epochs)

param_scheduler = [
    dict(
        type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(
        type='CosineAnnealingLR',
        eta_min=0.0,
        begin=0,
        end=max_epochs,
        T_max=max_epochs,
        by_epoch=True),
]

# `norm` is a substring match on the full parameter name (mmengine's
# DefaultOptimWrapperConstructor): configs/det/README.md lists what it selects.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(
        _delete_=True,
        type='AdamW',
        lr=2e-4,
        betas=(0.9, 0.999),
        weight_decay=0.05),
    paramwise_cfg=dict(custom_keys={'norm': dict(decay_mult=0.)}))

# base_batch_size = (8 GPUs) x (4 samples per GPU)
auto_scale_lr = dict(enable=False, base_batch_size=32)

# EMOv2 detection recipe for the 12-epoch (1x) detectors, RetinaNet and Mask R-CNN
# (docs/official_recipes.md §4.2). Same optimizer as the EMO v1 recipe (AdamW lr 2e-4, wd 0.05,
# `norm` params without weight decay), plus grad clip max_norm 0.1, a 1e-5 warm-up start factor,
# and the EMOv2 schedule: base LR held constant up to epoch 6, then cosine to 0 over epochs 6-12.
# Batch 4 x 4 GPUs = 16 (set `train_dataloader.batch_size=4` in the detector config).
_base_ = './emo_adamw-cosine_1x.py'

max_epochs = 12

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-5, by_epoch=False, begin=0, end=500),
    # nothing is scheduled between iteration 500 and epoch 6: the LR stays at its base value
    dict(
        type='CosineAnnealingLR',
        eta_min=0.0,
        begin=max_epochs // 2,
        end=max_epochs,
        T_max=max_epochs // 2,
        by_epoch=True,
        convert_to_iter_based=True),
]

optim_wrapper = dict(clip_grad=dict(max_norm=0.1, norm_type=2))

# base_batch_size = (4 GPUs) x (4 samples per GPU)
auto_scale_lr = dict(base_batch_size=16)

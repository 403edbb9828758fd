# What every EMO / EMOv2 ADE20K config shares: stock ADE20K data (512x512 crops) and runtime,
# the emo_mm import, AdamW with LR 1.2e-4 and no weight decay on the backbone norms, and the
# backbone settings common to both versions (docs/official_recipes.md §1.1, §1.2, §4).
_base_ = [
    'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_80k.py',
]
custom_imports = dict(imports=['emo_mm'], allow_failed_imports=False)
crop_size = (512, 512)

# The model parts every ADE20K config shares, with the 1M backbone; the version bases add the
# backbone type, window size and ImageNet checkpoint. Leaf configs use it as
# ``model = dict(_base_.emo_model, decode_head=...)``, and those of larger models change ``arch``
# and ``init_cfg.checkpoint``. All four stages feed the heads; nothing is frozen.
emo_model = dict(
    pretrained=None,  # the stock model bases name an ImageNet ResNet here
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        _delete_=True,  # drop the stock backbone's arguments
        arch='1m',
        out_indices=(1, 2, 3, 4),
        frozen_stages=-1,
        norm_eval=False))

# The custom key ``norm`` is a substring match on the full parameter name (mmengine
# DefaultOptimWrapperConstructor). In our backbones it selects exactly the weights and biases of
# every BN / LN: the block pre-norms ``stageS.j.norm.*``, the depthwise-conv BNs
# ``stageS.j.conv_local.norm.*`` and the stem BNs (64 tensors in the 1M models, 92 in EMOv2-20M).
# It selects nothing in the heads (mmcv's ConvModule names its norms ``bn``) and not EMOv2's
# ``ls.gamma``: those keep weight decay, as in the official runs. One difference: the official v1
# stem BN was named ``stage0.0.convs.0.1`` and so kept weight decay; ours is ``stage0.0.norm``.
optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='AdamW', lr=1.2e-4, betas=(0.9, 0.999)),
    paramwise_cfg=dict(custom_keys={'norm': dict(decay_mult=0.)}))

# The official LRs were not scaled; this records the batch they were tuned for (32 images).
auto_scale_lr = dict(enable=False, base_batch_size=32)

# Crash safety and exact resumption (docs/failure_modes.md): atomic checkpoints with a save on
# SIGTERM, per-iteration seeds, a stop at the first NaN / Inf loss, a resume that skips the
# trained batches without loading them, and damaged images named with their dataset.
default_hooks = dict(checkpoint=dict(type='CrashSafeCheckpointHook'))
custom_hooks = [dict(type='StepSeedHook'), dict(type='FiniteLossHook')]
train_cfg = dict(type='ResumableIterBasedTrainLoop')

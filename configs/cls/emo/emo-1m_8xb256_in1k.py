# EMO-1M on ImageNet-1k: 8 GPUs x 256 images, LR 1.5e-3 x 2048 / 512 = 6e-3.
_base_ = '../../_base_/cls/emo_in1k_recipe.py'

model = dict(backbone=dict(type='emo_mm.EMO', arch='1m'), head=dict(in_channels=168))
train_dataloader = dict(batch_size=256)
optim_wrapper = dict(optimizer=dict(lr=6e-3))
auto_scale_lr = dict(base_batch_size=2048)

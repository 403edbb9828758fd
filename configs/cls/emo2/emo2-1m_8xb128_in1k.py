# EMOv2-1M on ImageNet-1k: 8 GPUs x 128 images, LR 1.5e-3 x 1024 / 512 = 3e-3.
_base_ = '../../_base_/cls/emo_in1k_recipe.py'

model = dict(backbone=dict(type='emo_mm.EMOv2', arch='1m'), head=dict(in_channels=180))
train_dataloader = dict(batch_size=128)
optim_wrapper = dict(optimizer=dict(lr=3e-3))
auto_scale_lr = dict(base_batch_size=1024)

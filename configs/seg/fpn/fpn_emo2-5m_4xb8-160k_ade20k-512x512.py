_base_ = './fpn_emo2-1m_4xb8-160k_ade20k-512x512.py'

model = dict(
    backbone=dict(arch='5m', init_cfg=dict(checkpoint='checkpoints/emo2_5m_in1k.pth')),
    neck=dict(in_channels=[48, 72, 160, 288]))

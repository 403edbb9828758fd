_base_ = './fpn_emo2-1m_4xb8-160k_ade20k-512x512.py'

model = dict(
    backbone=dict(arch='2m', init_cfg=dict(checkpoint='checkpoints/emo2_2m_in1k.pth')),
    neck=dict(in_channels=[32, 48, 120, 200]))

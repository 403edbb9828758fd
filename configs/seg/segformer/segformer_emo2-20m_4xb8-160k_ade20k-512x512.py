_base_ = './segformer_emo2-1m_4xb8-160k_ade20k-512x512.py'

model = dict(
    backbone=dict(arch='20m', init_cfg=dict(checkpoint='checkpoints/emo2_20m_in1k.pth')),
    decode_head=dict(in_channels=[64, 128, 320, 448], channels=288))

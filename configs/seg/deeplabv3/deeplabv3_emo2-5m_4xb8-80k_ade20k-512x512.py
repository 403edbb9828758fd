_base_ = './deeplabv3_emo2-1m_4xb8-80k_ade20k-512x512.py'

model = dict(
    backbone=dict(arch='5m', init_cfg=dict(checkpoint='checkpoints/emo2_5m_in1k.pth')),
    decode_head=dict(in_channels=288),
    auxiliary_head=dict(in_channels=160))

_base_ = './pspnet_emo2-1m_4xb8-80k_ade20k-512x512.py'

model = dict(
    backbone=dict(arch='2m', init_cfg=dict(checkpoint='checkpoints/emo2_2m_in1k.pth')),
    decode_head=dict(in_channels=200),
    auxiliary_head=dict(in_channels=120))

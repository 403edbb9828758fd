_base_ = './deeplabv3_emo-1m_8xb4-80k_ade20k-512x512.py'

model = dict(
    backbone=dict(arch='2m', init_cfg=dict(checkpoint='checkpoints/emo_2m_in1k.pth')),
    decode_head=dict(in_channels=200),
    auxiliary_head=dict(in_channels=120))

_base_ = './deeplabv3_emo-1m_8xb4-80k_ade20k-512x512.py'

model = dict(
    backbone=dict(
        arch='5m', window_size=16, init_cfg=dict(checkpoint='checkpoints/emo_5m_in1k.pth')),
    decode_head=dict(in_channels=288),
    auxiliary_head=dict(in_channels=160))

_base_ = './emo-1m_8xb256_in1k.py'

model = dict(backbone=dict(arch='5m'), head=dict(in_channels=288))

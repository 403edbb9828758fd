_base_ = './emo2-1m_8xb128_in1k.py'

model = dict(backbone=dict(arch='20m'), head=dict(in_channels=448))

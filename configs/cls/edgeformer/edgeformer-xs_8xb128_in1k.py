# EdgeFormer-XS on ImageNet-1k: the S recipe (weight decay 0.025).
_base_ = './edgeformer-s_8xb128_in1k.py'

model = dict(backbone=dict(arch='xs'), head=dict(in_channels=640))

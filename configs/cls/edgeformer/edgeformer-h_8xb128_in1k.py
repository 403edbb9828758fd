# EdgeFormer-H on ImageNet-1k: the S recipe with weight decay 0.05; expansion conv 432 -> 960.
_base_ = './edgeformer-s_8xb128_in1k.py'

model = dict(backbone=dict(arch='h'), head=dict(in_channels=960))
optim_wrapper = dict(optimizer=dict(weight_decay=0.05))

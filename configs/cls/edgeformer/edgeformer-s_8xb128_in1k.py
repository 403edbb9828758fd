# EdgeFormer-S (= ParC-Net-S) on ImageNet-1k: 8 GPUs x 128 images at 256x256, AdamW lr 4e-3.
_base_ = '../../_base_/cls/edgeformer_in1k_recipe.py'

model = dict(backbone=dict(arch='s'), head=dict(in_channels=640))

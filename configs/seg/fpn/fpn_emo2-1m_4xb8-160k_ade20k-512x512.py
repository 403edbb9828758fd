# Semantic FPN with an EMOv2-1M backbone on ADE20K (512x512 crops).
_base_ = [
    'mmseg::_base_/models/fpn_r50.py',
    '../../_base_/seg/emo2_4xb8-160k_ade20k-512x512.py',
]

model = dict(
    _base_.emo_model,
    neck=dict(in_channels=[32, 48, 80, 180]),
    decode_head=dict(num_classes=150))

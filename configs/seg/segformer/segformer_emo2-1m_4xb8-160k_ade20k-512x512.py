# SegFormer with an EMOv2-1M backbone on ADE20K (512x512 crops).
_base_ = [
    'mmseg::_base_/models/segformer_mit-b0.py',
    '../../_base_/seg/emo2_4xb8-160k_ade20k-512x512.py',
]

model = dict(
    _base_.emo_model,
    decode_head=dict(in_channels=[32, 48, 80, 180], channels=180, num_classes=150))

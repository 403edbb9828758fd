# DeepLabv3 with an EMOv2-1M backbone on ADE20K (512x512 crops).
_base_ = [
    'mmseg::_base_/models/deeplabv3_r50-d8.py',
    '../../_base_/seg/emo2_4xb8-80k_ade20k-512x512.py',
]

model = dict(
    _base_.emo_model,
    decode_head=dict(in_channels=180, channels=256, num_classes=150),
    auxiliary_head=dict(in_channels=80, num_classes=150))

# DeepLabv3 on ADE20K with an EdgeFormer-S (ParC-Net-S) backbone, trained exactly like the EMO
# DeepLabv3 models (configs/seg/deeplabv3) so that the two families compare one to one: the
# stride-32 features feed the ASPP head, stride 16 the auxiliary FCN head; 8 GPUs x 4 images of
# 512x512, AdamW lr 1.2e-4 and wd 0.01 without decay on the norms, 80k iterations of poly decay,
# SyncBN. There is no official EdgeFormer ADE20K result.
_base_ = [
    'mmseg::_base_/models/deeplabv3_r50-d8.py',
    '../../_base_/seg/emo_8xb4-80k_ade20k-512x512.py',
]

model = dict(
    _base_.emo_model,
    # the backbone's ImageNet convention: BGR in [0, 1] (no mean / std)
    data_preprocessor=dict(
        size=_base_.crop_size, mean=[0., 0., 0.], std=[255., 255., 255.], bgr_to_rgb=False),
    backbone=dict(
        _delete_=True,
        type='emo_mm.EdgeFormer',
        arch='s',
        out_indices=(1, 2, 3, 4),
        init_cfg=dict(
            type='Pretrained', checkpoint='checkpoints/edgeformer_s_in1k.pth', prefix='backbone.')),
    decode_head=dict(in_channels=160, channels=256, num_classes=150),
    auxiliary_head=dict(in_channels=128, num_classes=150))
# the EMO recipe's ``norm`` no-decay key; its EMO-only stem exception does not apply here
optim_wrapper = dict(paramwise_cfg=dict(_delete_=True, custom_keys={'norm': dict(decay_mult=0.)}))

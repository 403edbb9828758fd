# PSPNet with an EMO-1M backbone on ADE20K (512x512 crops): the DeepLabv3 config with the
# PSP head (pool scales 1/2/3/6) in place of ASPP, as in the official configs.
_base_ = '../deeplabv3/deeplabv3_emo-1m_8xb4-80k_ade20k-512x512.py'

model = dict(
    decode_head=dict(
        _delete_=True,
        type='PSPHead',
        pool_scales=(1, 2, 3, 6),
        **{k: v for k, v in _base_.model.decode_head.items() if k not in ('type', 'dilations')}))

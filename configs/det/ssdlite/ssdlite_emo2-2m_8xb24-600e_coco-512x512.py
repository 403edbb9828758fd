_base_ = './ssdlite_emo2-1m_8xb24-600e_coco-512x512.py'

model = dict(
    backbone=dict(
        arch='2m',
        drop_path_rate=0.05,
        init_cfg=dict(checkpoint='checkpoints/emo2_2m_in1k.pth')),
    neck=dict(
        in_channels=(120, 200), out_channels=(120, 200, 512, 256, 256, 128)),
    bbox_head=dict(in_channels=(120, 200, 512, 256, 256, 128)))

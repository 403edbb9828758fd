_base_ = './ssdlite_emo2-1m_8xb24-600e_coco-512x512.py'

model = dict(
    backbone=dict(
        arch='20m',
        drop_path_rate=0.1,
        init_cfg=dict(checkpoint='checkpoints/emo2_20m_in1k.pth')),
    neck=dict(
        in_channels=(320, 448), out_channels=(320, 448, 512, 256, 256, 128)),
    bbox_head=dict(in_channels=(320, 448, 512, 256, 256, 128)))

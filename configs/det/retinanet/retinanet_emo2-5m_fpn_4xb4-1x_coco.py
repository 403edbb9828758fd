_base_ = './retinanet_emo2-1m_fpn_4xb4-1x_coco.py'

model = dict(
    backbone=dict(
        arch='5m',
        drop_path_rate=0.05,
        init_cfg=dict(checkpoint='checkpoints/emo2_5m_in1k.pth')),
    neck=dict(in_channels=[48, 72, 160, 288]))

_base_ = './mask-rcnn_emo2-1m_fpn_4xb4-1x_coco.py'

model = dict(
    backbone=dict(
        arch='20m',
        drop_path_rate=0.1,
        init_cfg=dict(checkpoint='checkpoints/emo2_20m_in1k.pth')),
    neck=dict(in_channels=[64, 128, 320, 448]))

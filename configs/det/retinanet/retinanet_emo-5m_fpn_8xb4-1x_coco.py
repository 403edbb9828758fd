_base_ = './retinanet_emo-1m_fpn_8xb4-1x_coco.py'

model = dict(
    backbone=dict(
        arch='5m',
        window_size=10,  # the official EMO-5M RetinaNet run used 10 (1M/2M: 7)
        drop_path_rate=0.05,
        init_cfg=dict(checkpoint='checkpoints/emo_5m_in1k.pth')),
    neck=dict(in_channels=[48, 72, 160, 288]))

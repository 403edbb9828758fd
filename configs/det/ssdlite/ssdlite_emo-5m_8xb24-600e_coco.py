_base_ = './ssdlite_emo-1m_8xb24-600e_coco.py'

model = dict(
    backbone=dict(
        arch='5m',
        window_size=10,  # the official EMO-5M SSDLite run used 10 (1M/2M: 7)
        drop_path_rate=0.05,
        init_cfg=dict(checkpoint='checkpoints/emo_5m_in1k.pth')),
    neck=dict(
        in_channels=(160, 288), out_channels=(160, 288, 512, 256, 256, 128)),
    bbox_head=dict(in_channels=(160, 288, 512, 256, 256, 128)))

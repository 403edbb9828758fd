# Example of extending our configs: ATSS on the EMOv2-1M RetinaNet setting. Everything that is
# not the detection head (backbone, its ImageNet init, FPN inputs, data, AdamW + EMOv2 schedule,
# batch 4 x 4) is inherited; the head, its assigner and test cfg come from the stock mmdet
# `atss_r50_fpn_1x_coco.py`. No paper result exists for this model: it is a template, not a
# reproduction. See configs/det/README.md ("Extending").
_base_ = '../retinanet/retinanet_emo2-1m_fpn_4xb4-1x_coco.py'

model = dict(
    type='ATSS',
    neck=dict(add_extra_convs='on_output'),  # ATSS builds P6/P7 from P5, not from C5
    bbox_head=dict(
        _delete_=True,
        type='ATSSHead',
        num_classes=80,
        in_channels=256,
        stacked_convs=4,
        feat_channels=256,
        anchor_generator=dict(
            type='AnchorGenerator',
            ratios=[1.0],
            octave_base_scale=8,
            scales_per_octave=1,
            strides=[8, 16, 32, 64, 128]),
        bbox_coder=dict(
            type='DeltaXYWHBBoxCoder',
            target_means=[.0, .0, .0, .0],
            target_stds=[0.1, 0.1, 0.2, 0.2]),
        loss_cls=dict(
            type='FocalLoss',
            use_sigmoid=True,
            gamma=2.0,
            alpha=0.25,
            loss_weight=1.0),
        loss_bbox=dict(type='GIoULoss', loss_weight=2.0),
        loss_centerness=dict(
            type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0)),
    train_cfg=dict(
        _delete_=True,
        assigner=dict(type='ATSSAssigner', topk=9),
        allowed_border=-1,
        pos_weight=-1,
        debug=False),
    test_cfg=dict(nms=dict(type='nms', iou_threshold=0.6)))

# mmdeploy v1.3.1 configs/mmdet/detection/detection_onnxruntime_static.py, with its bases
# (configs/_base_/onnx_config.py, configs/mmdet/_base_/base_static.py,
# configs/_base_/backends/onnxruntime.py) written out: the mmdeploy wheel ships no configs.
# Use: mmdeploy.apis.torch2onnx(img, work_dir, 'end2end.onnx', THIS_FILE, MODEL_CFG, CKPT)
# (docs/entry_points.md).
_base_ = ['./_base_/onnxruntime_static.py']
onnx_config = dict(output_names=['dets', 'labels'])
codebase_config = dict(
    type='mmdet',
    task='ObjectDetection',
    model_type='end2end',
    post_processing=dict(
        score_threshold=0.05,
        confidence_threshold=0.005,  # for YOLOv3
        iou_threshold=0.5,
        max_output_boxes_per_class=200,
        pre_top_k=5000,
        keep_top_k=100,
        background_label_id=-1,
    ))

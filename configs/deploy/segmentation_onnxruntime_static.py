# mmdeploy v1.3.1 configs/mmseg/segmentation_onnxruntime_static.py, with its bases
# (configs/_base_/onnx_config.py, configs/mmseg/segmentation_static.py,
# configs/_base_/backends/onnxruntime.py) written out: the mmdeploy wheel ships no configs.
# Use: mmdeploy.apis.torch2onnx(img, work_dir, 'end2end.onnx', THIS_FILE, MODEL_CFG, CKPT)
# (docs/entry_points.md).
_base_ = ['./_base_/onnxruntime_static.py']
codebase_config = dict(type='mmseg', task='Segmentation', with_argmax=True)

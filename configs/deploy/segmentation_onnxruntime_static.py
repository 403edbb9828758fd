# mmdeploy v1.3.1 configs/mmseg/segmentation_onnxruntime_static.py, with its bases
# (configs/_base_/onnx_config.py, configs/mmseg/segmentation_static.py,
# configs/_base_/backends/onnxruntime.py) written out: the mmdeploy wheel ships no configs.
# Use: mmdeploy.apis.torch2onnx(img, work_dir, 'end2end.onnx', THIS_FILE, MODEL_CFG, CKPT)
# (docs/entry_points.md).
onnx_config = dict(
    type='onnx',
    export_params=True,
    keep_initializers_as_inputs=False,
    opset_version=11,
    save_file='end2end.onnx',
    input_names=['input'],
    output_names=['output'],
    input_shape=None,
    optimize=True)
codebase_config = dict(type='mmseg', task='Segmentation', with_argmax=True)
backend_config = dict(type='onnxruntime')

# mmdeploy v1.3.1 configs/_base_/onnx_config.py + configs/_base_/backends/onnxruntime.py, written
# out: the mmdeploy wheel ships no configs (docs/entry_points.md).
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
backend_config = dict(type='onnxruntime')

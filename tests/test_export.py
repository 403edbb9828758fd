"""ONNX export (tools/deployment/pytorch2onnx.py, emo_mm.deployment) checked with onnxruntime."""
import os.path as osp

import numpy as np
import pytest
import torch

import emo_mm  # noqa: F401
from emo_mm.deployment import (MIN_OPSET, export_onnx, onnx_opset, onnx_session, run_onnx,
                               verify_onnx)
from emo_mm.models import EMO, EMOv2
from emo_mm.testing import load_script

# onnx, onnxruntime and onnxscript come with `make install` (requirements/export.txt): a missing
# one is an error here, not a skip
import onnxruntime  # noqa: F401,E402
import onnxscript  # noqa: F401,E402

HERE = osp.dirname(osp.abspath(__file__))
ROOT = osp.dirname(HERE)


def _small(cls, **kwargs):
    """A shallow variant (1, 1, 2, 2 blocks: every block kind) of the 1M arch: fast to export."""
    return cls(arch=dict(cls.arch_zoo['1m'], depths=[1, 1, 2, 2]), **kwargs).eval()


def _tool():
    return load_script('tools/deployment/pytorch2onnx.py')


def test_cli_dynamic_classifier(tmp_path, capsys):
    """The tool's own check covers the export size and sizes that are not window multiples."""
    config = tmp_path / 'emo_small.py'
    config.write_text(f"_base_ = {osp.join(ROOT, 'configs/cls/emo/emo-1m_8xb256_in1k.py')!r}\n"
                      f"model = dict(backbone=dict(arch={dict(EMO.arch_zoo['1m'], depths=[1, 1, 2, 2], _delete_=True)!r}))\n")
    out = tmp_path / 'emo_small.onnx'
    _tool().main([str(config), 'none', '--shape', '64', '80', '--dynamic', '--out', str(out),
                  '--verify-shapes', '3,33,47'])
    text = capsys.readouterr().out
    assert out.is_file() and onnx_opset(str(out)) >= MIN_OPSET
    assert 'dynamic batch / height / width' in text and 'outputs: logits' in text
    for shape in ('1x3x64x80', '2x3x97x131', '1x3x250x301', '3x3x33x47'):
        assert f'at {shape}' in text
    assert 'Verified' in text
    session = onnx_session(str(out))
    assert run_onnx(session, torch.randn(2, 3, 70, 90))[0].shape == (2, 1000)


def test_dynamic_backbone_all_levels_matches_torch(tmp_path):
    """EMOv2 feature maps (deploy form, per-stage windows incl. global attention) at sizes with
    padding, with 1 x 1 groups and with several groups per side."""
    torch.manual_seed(0)
    model = _small(EMOv2, out_indices=(0, 1, 2, 3, 4), window_size=[7, 7, 5, 0])
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.1)
            m.running_var.uniform_(0.5, 1.5)
        if hasattr(m, 'gamma'):
            m.gamma.data.fill_(0.5)  # the 1e-6 init would hide the attention from the check
    model.switch_to_deploy()
    path = str(tmp_path / 'emo2_backbone.onnx')
    names = export_onnx(model, path, (96, 96), dynamic=True)
    assert names == [f'out{i}' for i in range(5)]
    errors = verify_onnx(model, path, [(1, 96, 96), (2, 33, 40), (1, 161, 227), (1, 224, 224)])
    assert max(errors) < 1e-4


def test_static_export_opset_and_mismatch(tmp_path):
    model = _small(EMO, out_indices=(4, ))
    path = str(tmp_path / 'emo_static.onnx')
    with pytest.raises(ValueError, match='opset must be >= 17'):
        export_onnx(model, path, (64, 64), opset=16)
    export_onnx(model, path, (64, 64), opset=18)
    assert onnx_opset(path) == 18
    session = onnx_session(path, threads=1)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        expected = model(x)[0].numpy()
    np.testing.assert_allclose(run_onnx(session, x)[0], expected, rtol=1e-4, atol=1e-4)
    with torch.no_grad():
        model.stage4[0].proj.conv.weight.add_(1.)  # the file no longer matches the model
    with pytest.raises(AssertionError, match='differs from PyTorch'):
        verify_onnx(model, path, [(1, 64, 64)])


def test_exported_graph_form(tmp_path):
    """BatchNorms folded (on a copy: the model keeps them), attention projections as
    channels-last GEMMs (no 1x1 Conv feeding a Transpose), outputs still match."""
    import onnx
    torch.manual_seed(0)
    model = _small(EMOv2, out_indices=(4, ))
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.1)
            m.running_var.uniform_(0.5, 1.5)
        if hasattr(m, 'gamma'):
            m.gamma.data.fill_(0.5)
    path = str(tmp_path / 'emo2_form.onnx')
    export_onnx(model, path, (64, 64))
    assert not model.deploy and any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    nodes = onnx.load(path).graph.node
    ops = [n.op_type for n in nodes]
    assert 'BatchNormalization' not in ops
    producer = {o: n for n in nodes for o in n.output}
    for n in nodes:
        if n.op_type == 'Transpose':
            assert producer.get(n.input[0]) is None or producer[n.input[0]].op_type != 'Conv'
    attention_blocks = 2  # the second block of stage 3 and of stage 4
    assert ops.count('MatMul') >= 2 * attention_blocks + 4 * attention_blocks  # qk, v + attention
    assert max(verify_onnx(model, path, [(1, 64, 64), (2, 64, 64)][:1])) < 1e-4

"""ONNX export (tools/deployment/pytorch2onnx.py, emo_mm.deployment) checked with onnxruntime."""
import os.path as osp

import numpy as np
import pytest
import torch

import emo_mm  # noqa: F401
from emo_mm.deployment import (MIN_OPSET, export_onnx, onnx_opset, onnx_session, run_onnx,
                               verify_onnx)
from emo_mm.models import EMO, EdgeFormer, EMOv2
from emo_mm.models.layers.attention import merge_heads, partition_heads
from emo_mm.models.layers.tracing import exporting, is_exporting, is_leaving_pytorch
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
    channels-last GEMMs (no 1x1 Conv feeding a Transpose), no tensor of rank > 4, outputs
    still match."""
    import onnx
    torch.manual_seed(0)
    # window 2 at 128 x 128: 4 x 4 and 2 x 2 groups (with a single group, the exporter's
    # optimiser rightly merges the grid and local halves, which are then the same)
    model = _small(EMOv2, out_indices=(4, ), window_size=2)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.1)
            m.running_var.uniform_(0.5, 1.5)
        if hasattr(m, 'gamma'):
            m.gamma.data.fill_(0.5)
    path = str(tmp_path / 'emo2_form.onnx')
    export_onnx(model, path, (128, 128))
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
    ranks = _onnx_ranks(onnx.load(path))
    assert max(ranks.values()) <= 4, {k: r for k, r in ranks.items() if r > 4}
    assert max(verify_onnx(model, path, [(1, 128, 128)])) < 1e-4


def _onnx_ranks(model):
    """Rank of every value of an ONNX graph whose shape is known."""
    import onnx
    graph = onnx.shape_inference.infer_shapes(model).graph
    return {v.name: len(v.type.tensor_type.shape.dim)
            for v in list(graph.value_info) + list(graph.output) + list(graph.input)
            if v.type.tensor_type.HasField('shape')}


# ------------------------------------------------------------------ export-friendly layers
@pytest.mark.parametrize('kind', ['grid', 'local'])
@pytest.mark.parametrize('B,n1,n2,wh,ww', [(2, 3, 2, 7, 7), (1, 1, 1, 4, 6), (1, 2, 5, 1, 3)])
def test_rank4_partitions_equal_the_eager_8d_permute(kind, B, n1, n2, wh, ww):
    """The exported form of the partitions gives the eager values bit for bit, both ways, for
    q / k packed (parts=2) and for v; the batch stays its first axis."""
    heads, d = 3, 4
    for parts in (1, 2):
        x = torch.randn(B, n1 * wh, n2 * ww, parts * heads * d)
        eager = partition_heads(x, kind, wh, ww, heads, parts)
        with exporting():
            exported = partition_heads(x, kind, wh, ww, heads, parts)
        assert len(exported) == len(eager) == parts
        for e, x_part in zip(eager, exported):
            assert x_part.shape == (B, n1 * n2 * heads, wh * ww, d)
            assert torch.equal(x_part.reshape(e.shape), e)
    for merge, part in ((merge_heads, eager[0]), (exporting()(merge_heads), exported[0].clone())):
        merged = merge(part, kind, B, n1 * wh, n2 * ww, wh, ww)
        assert merged.is_contiguous() and torch.equal(merged, x[..., :heads * d])


def _small_backbone(name):
    if name == 'EdgeFormer':
        tiny = dict(EdgeFormer.arch_zoo['s'], mv2_channels=[16, 24], mv2_depths=[1, 1],
                    stage_channels=[32, 48, 64], parc_channels=[64, 48, 64],
                    ffn_channels=[64, 96, 128], parc_depths=[1, 1, 1])
        return EdgeFormer(tiny, out_indices=(0, 1, 2, 3, 4)).eval()
    cls = EMO if name == 'EMO' else EMOv2
    # window 2: several grid / local groups and padding at 64 x 96 (stage 3: 4 x 6, 4: 2 x 3)
    return _small(cls, out_indices=(0, 1, 2, 3, 4), window_size=2)


@pytest.mark.parametrize('name', ['EMO', 'EMOv2', 'EdgeFormer'])
def test_exported_graph_fits_every_runtime(name):
    """``torch.export`` (ExecuTorch, LiteRT and the ONNX exporter start from it), decomposed to
    core ATen as ExecuTorch lowers it: no tensor of rank > 4 (XNNPACK, Core ML, ncnn, MNN), no
    ``scaled_dot_product_attention`` or the masking ops it decomposes into."""
    model = _small_backbone(name)
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        program = torch.export.export(model, (x, )).run_decompositions()
        expected = model(x)
    ranks, targets = {}, set()
    for node in program.graph.nodes:
        values = node.meta.get('val')
        for value in values if isinstance(values, (list, tuple)) else [values]:
            if isinstance(value, torch.Tensor):
                ranks[node.name] = max(ranks.get(node.name, 0), value.dim())
        if node.op == 'call_function':
            targets.add(str(node.target))
    assert max(ranks.values()) <= 4, {k: r for k, r in ranks.items() if r > 4}
    assert not [t for t in targets if 'scaled_dot_product' in t or 'safe_softmax' in t]
    if name != 'EdgeFormer':
        assert any('_softmax' in t for t in targets) and any('bmm' in t for t in targets)
    for a, b in zip(program.module()(x), expected):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('cls', [EMO, EMOv2])
def test_static_export_leaves_out_empty_pads_and_one_window_copies(cls):
    """At a size whose maps are window multiples (224: stage 3 is 2 x 2 windows of 7, stage 4
    one window) a static export holds no zero pad / full crop (``alias_copy`` in ExecuTorch),
    no ``expand`` before the attention's batched matmuls, and EMOv2's one-window stage 4 runs
    one attention (the grid group is the local window); the values stay the eager ones."""
    model = cls(arch=dict(cls.arch_zoo['1m'], depths=[1, 1, 2, 2]), out_indices=(3, 4),
                window_size=(7, 7, 7, 7)).eval()
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        program = torch.export.export(model, (x, )).run_decompositions()
        expected = model(x)
    targets = [str(n.target) for n in program.graph.nodes if n.op == 'call_function']
    for op in ('constant_pad_nd', 'alias', 'expand'):
        assert not [t for t in targets if op in t], op
    # stage 3 attends in 1 (EMO) / 2 (EMOv2: grid + local) partitions, stage 4 in one
    assert sum('_softmax' in t for t in targets) == (2 if cls is EMO else 3)
    for a, b in zip(program.module()(x), expected):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_one_window_hybrid_attention_is_exact():
    """EMOv2's attention on a one-window map computes one partition and doubles it: equal, bit
    for bit, to summing the grid and the local attention."""
    from emo_mm.models.layers import HybridWindowAttention
    from emo_mm.models.layers.attention import window_dims
    torch.manual_seed(0)
    for window in (7, 0):
        attn = HybridWindowAttention(40, 160, 20, window).eval()
        x = torch.randn(2, 40, 7, 7)
        with torch.no_grad():
            wh, ww, Hp, Wp = window_dims(window, 7, 7)
            qk, v = attn.qk(x).permute(0, 2, 3, 1), attn.v(x).permute(0, 2, 3, 1)
            both = sum(merge_heads(attn._attend(kind, qk, v, wh, ww), kind, 2, Hp, Wp, wh, ww)
                       for kind in ('grid', 'local'))
            assert torch.equal(attn(x), both.permute(0, 3, 1, 2))


def test_one_switch_for_every_tracer():
    """``is_exporting`` is what every layer asks; ``exporting()`` forces it."""
    assert not is_exporting()
    with exporting():
        assert is_exporting()
        with exporting(False):
            assert not is_exporting()
        assert is_exporting()
    assert not is_exporting()
    seen = []

    class Probe(torch.nn.Module):
        def forward(self, x):
            seen.append(is_exporting())
            return x + 1

    torch.export.export(Probe(), (torch.zeros(2), ))
    torch.jit.trace(Probe(), torch.zeros(2), check_trace=False)
    assert seen and all(seen)
    # torch.compile traces too, but its graph stays in PyTorch (layout hints kept)
    flags = []
    torch.compile(lambda x: flags.append((is_exporting(), is_leaving_pytorch())) or x + 1,
                  backend='eager')(torch.zeros(2))
    assert flags == [(True, False)]


def test_onnxruntime_only_form_keeps_the_8d_partitions(tmp_path):
    """``max_rank=8``: the one-copy partitions (a few % faster in onnxruntime), same outputs."""
    import onnx
    model = _small(EMOv2, out_indices=(4, ), window_size=2)
    path = str(tmp_path / 'rank8.onnx')
    with pytest.raises(ValueError, match='need tensors of rank 4'):
        export_onnx(model, path, (64, 64), max_rank=3)
    export_onnx(model, path, (64, 64), max_rank=8)
    assert max(_onnx_ranks(onnx.load(path)).values()) > 4
    assert max(verify_onnx(model, path, [(1, 64, 64)])) < 1e-4

"""EMO / EMOv2 backbones: shapes, arguments, freezing, norm_eval, checkpointing, drop path, deploy."""
import copy

import pytest
import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm

from emo_mm.models import EMO, EMOv2
from emo_mm.models.layers import DropPath, LayerNorm2d

# (class, arch) -> channels of levels 0..4 (docs/official_recipes.md §1.3)
CHANNELS = {
    (EMO, '1m'): (24, 32, 48, 80, 168), (EMO, '2m'): (24, 32, 48, 120, 200),
    (EMO, '5m'): (24, 48, 72, 160, 288), (EMO, '6m'): (24, 48, 72, 160, 320),
    (EMOv2, '1m'): (16, 32, 48, 80, 180), (EMOv2, '2m'): (16, 32, 48, 120, 200),
    (EMOv2, '5m'): (24, 48, 72, 160, 288), (EMOv2, '20m'): (32, 64, 128, 320, 448),
}
ALL = list(CHANNELS)
IDS = [f'{c.__name__}-{a}' for c, a in ALL]


def _ceil_half(n, times):
    for _ in range(times):
        n = (n + 1) // 2
    return n


@pytest.mark.parametrize('cls,arch', ALL, ids=IDS)
@pytest.mark.parametrize('size', [(224, 224), (97, 131)])
def test_output_shapes(cls, arch, size):
    model = cls(arch=arch, out_indices=(0, 1, 2, 3, 4)).eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, *size))
    assert len(outs) == 5
    for level, (out, channels) in enumerate(zip(outs, CHANNELS[(cls, arch)])):
        assert out.shape == (1, channels, _ceil_half(size[0], level + 1), _ceil_half(size[1], level + 1))
    assert list(model.out_channels) == list(CHANNELS[(cls, arch)])


def test_arch_names_case_insensitive_and_dict():
    assert EMOv2(arch='1M').arch_settings == EMOv2.arch_zoo['1m']
    custom = dict(EMOv2.arch_zoo['1m'], depths=[1, 1, 2, 2])
    model = EMOv2(arch=custom, out_indices=(4, )).eval()
    assert len(model.stage3) == 2
    assert model(torch.randn(1, 3, 64, 64))[0].shape == (1, 180, 2, 2)


@pytest.mark.parametrize('kwargs,message', [
    (dict(arch='3m'), "valid choices: \\['1m', '20m', '2m', '5m'\\]"),
    (dict(arch=dict(depths=[1, 1, 1, 1])), 'missing'),
    (dict(arch=dict(EMOv2.arch_zoo['1m'], foo=1)), "unexpected: \\['foo'\\]"),
    (dict(arch=dict(EMOv2.arch_zoo['1m'], depths=[1, 1, 1])), '4 values'),
    (dict(arch='1m', out_indices=(1, 5)), 'valid levels are 0..4'),
    (dict(arch='1m', out_indices=()), 'non-empty'),
    (dict(arch='1m', frozen_stages=5), 'frozen_stages must be an int in -1..4'),
    (dict(arch='1m', frozen_stages=-2), 'frozen_stages'),
    (dict(arch='1m', window_size=[7, 7]), 'window_size must be an int or 4 ints'),
    (dict(arch='1m', window_size=7.5), 'window_size'),
    (dict(arch='1m', drop_path_rate=1.5), 'drop_path_rate'),
])
def test_invalid_arguments(kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        EMOv2(**kwargs)


def test_unknown_emo_arch_lists_its_own_choices():
    with pytest.raises(ValueError, match="valid choices: \\['1m', '2m', '5m', '6m'\\]"):
        EMO(arch='20m')


@pytest.mark.parametrize('x,message', [
    (torch.randn(3, 64, 64), '4-D'),
    (torch.randn(1, 1, 64, 64), '3 input channels'),
    (torch.randn(1, 3, 31, 64), 'H and W >= 32'),
])
def test_invalid_inputs(x, message):
    with pytest.raises(ValueError, match=message):
        EMO(arch='1m')(x)


def test_out_indices_normalised_and_not_mutated():
    indices = [-1, 2]
    model = EMOv2(arch='1m', out_indices=indices)
    assert model.out_indices == (2, 4)
    assert indices == [-1, 2]


@pytest.mark.parametrize('frozen', [-1, 0, 1, 4])
def test_frozen_stages(frozen):
    model = EMOv2(arch='1m', frozen_stages=frozen)
    model.train()
    for level, blocks in enumerate(model.levels):
        frozen_level = level <= frozen
        assert all(p.requires_grad != frozen_level for p in blocks.parameters())
        assert all(m.training != frozen_level for m in blocks.modules())


def test_norm_eval():
    model = EMO(arch='1m', norm_eval=True)
    model.train()
    bns = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    assert bns and all(not m.training for m in bns)
    assert any(isinstance(m, LayerNorm2d) and m.training for m in model.modules())
    assert model.train() is model  # unlike the official train(), returns the module


@pytest.mark.parametrize('cls', [EMO, EMOv2])
def test_with_cp_same_gradients(cls):
    torch.manual_seed(0)
    ref = cls(arch='1m', drop_path_rate=0.).train()
    cp = copy.deepcopy(ref)
    cp.with_cp = True
    x = torch.randn(2, 3, 64, 64)
    for model in (ref, cp):
        sum(o.square().mean() for o in model(x)).backward()
    for (name, a), (_, b) in zip(ref.named_parameters(), cp.named_parameters()):
        assert torch.allclose(a.grad, b.grad, rtol=1e-4, atol=1e-6), name


@pytest.mark.parametrize('cls,arch', ALL, ids=IDS)
def test_drop_path_schedule(cls, arch):
    model = cls(arch=arch)
    blocks = [b for s in range(1, 5) for b in getattr(model, f'stage{s}')]
    rates = torch.linspace(0, model.arch_settings['drop_path_rate'], len(blocks))
    for block, rate in zip(blocks, rates):
        expected = float(rate) if block.has_skip else 0.
        actual = block.drop_path.drop_prob if isinstance(block.drop_path, DropPath) else 0.
        assert actual == pytest.approx(expected, abs=1e-7)
    assert all(not isinstance(getattr(b, 'drop_path', None), DropPath) for b in model.stage0)
    assert cls(arch=arch, drop_path_rate=0.).stage4[-1].drop_path.__class__ is nn.Identity


def test_drop_path_is_stochastic_in_training_only():
    model = EMOv2(arch='1m', drop_path_rate=0.5, out_indices=(4, ))
    x = torch.randn(4, 3, 64, 64)
    model.train()
    torch.manual_seed(0)
    a = model(x)[0]
    torch.manual_seed(1)
    b = model(x)[0]
    assert not torch.allclose(a, b)
    model.eval()
    assert torch.equal(model(x)[0], model(x)[0])


def _randomise_bn(model):
    torch.manual_seed(0)
    for m in model.modules():
        if isinstance(m, _BatchNorm):
            m.running_mean.normal_(0, 0.1)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.normal_(1, 0.1)
            m.bias.data.normal_(0, 0.1)
        if hasattr(m, 'gamma'):
            m.gamma.data.fill_(0.5)


@pytest.mark.parametrize('cls,arch', [(EMO, '1m'), (EMOv2, '1m'), (EMO, '6m')], ids=str)
def test_deploy_equivalence_and_checkpoint_round_trip(cls, arch, tmp_path):
    model = cls(arch=arch, out_indices=(0, 1, 2, 3, 4)).eval()
    _randomise_bn(model)
    x = torch.randn(2, 3, 96, 80)
    with torch.no_grad():
        expected = model(x)
        model.switch_to_deploy()
        assert not any(isinstance(m, _BatchNorm) for m in model.modules())
        deployed = model(x)
    for a, b in zip(expected, deployed):
        assert torch.allclose(b, a, rtol=1e-5, atol=1e-5 * a.abs().max().item())
    torch.save(model.state_dict(), tmp_path / 'deploy.pth')
    fresh = cls(arch=arch, out_indices=(0, 1, 2, 3, 4), deploy=True).eval()
    fresh.load_state_dict(torch.load(tmp_path / 'deploy.pth', weights_only=True), strict=True)
    with torch.no_grad():
        for a, b in zip(deployed, fresh(x)):
            assert torch.equal(a, b)


def test_deploy_is_faster_form():
    """The deploy form has strictly fewer modules doing work (no BatchNorm)."""
    train_form = EMOv2(arch='1m')
    deploy_form = EMOv2(arch='1m', deploy=True)
    assert sum(isinstance(m, _BatchNorm) for m in train_form.modules()) > 0
    assert sum(isinstance(m, _BatchNorm) for m in deploy_form.modules()) == 0


@pytest.mark.parametrize('v_width', [8, 24])
def test_softmax_attention_matches_sdpa_forward_and_backward(v_width):
    from emo_mm.models.layers.attention import softmax_attention
    torch.manual_seed(0)
    q, k, v = (torch.randn(3, 2, 20, 8, requires_grad=True),
               torch.randn(3, 2, 20, 8, requires_grad=True),
               torch.randn(3, 2, 20, v_width, requires_grad=True))
    out = softmax_attention(q, k, v)
    ref = torch.nn.functional.scaled_dot_product_attention(q, k, v)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-6)
    grads = torch.autograd.grad(out.square().sum(), (q, k, v))
    ref_grads = torch.autograd.grad(ref.square().sum(), (q, k, v))
    for g, r in zip(grads, ref_grads):
        torch.testing.assert_close(g, r, rtol=1e-5, atol=1e-5)


def test_cpu_training_attention_avoids_sdpa_math_fallback_and_traces_as_matmuls(monkeypatch):
    """EMOv2's ``v`` is wider than ``q``: CPU SDPA has no fused kernel for it, so eager CPU
    runs -- training included -- take two batched matmuls; a traced graph holds plain batched
    matmuls and a softmax (what exporters keep as is), never SDPA."""
    import torch.nn.functional as F
    calls = []
    sdpa = F.scaled_dot_product_attention

    def counting_sdpa(*args, **kwargs):
        calls.append(1)
        return sdpa(*args, **kwargs)

    monkeypatch.setattr(F, 'scaled_dot_product_attention', counting_sdpa)
    model = EMOv2(arch='1m', out_indices=(4, )).train()
    x = torch.rand(2, 3, 64, 64)
    model(x)[0].sum().backward()
    assert calls == []
    model.eval()
    graph = torch.jit.trace(model, x, check_trace=False).inlined_graph
    assert calls == []
    kinds = [node.kind() for node in graph.nodes()]
    attention_blocks = 7 + 2  # stages 3 and 4 of the 1M arch, first blocks excepted
    # the export form (emo_mm/models/layers/attention.py): each attention is two 3-D batched
    # matmuls, which every exporter keeps as one op (a 4-D matmul became expand + bmm)
    assert kinds.count('aten::bmm') == attention_blocks * 2 * 2  # grid + local, 2 each
    assert kinds.count('aten::matmul') == 0
    assert kinds.count('aten::softmax') == attention_blocks * 2


def test_every_backbone_uses_one_base():
    """EMO, EMOv2 and EdgeFormer share StagedBackbone's arguments, checks, level loop,
    freezing, deploy switch and Pretrained loading without writing them again."""
    from emo_mm.models import EdgeFormer, is_emo_mm_backbone
    from emo_mm.models.backbones.base import EMOBackboneBase, StagedBackbone
    shared = ('forward', '_forward_levels', '_check_input', 'levels', 'train', '_freeze_stages',
              'switch_to_deploy', 'init_weights', '_parse_out_indices')
    for cls in (EMOBackboneBase, EMO, EMOv2, EdgeFormer):
        assert issubclass(cls, StagedBackbone)
        assert [name for name in shared if name in vars(cls)] == [], cls
        assert 'deploy' in cls.__init__.__code__.co_varnames
    assert is_emo_mm_backbone(EMO(arch='1m')) and not is_emo_mm_backbone(nn.Conv2d(3, 3, 1))

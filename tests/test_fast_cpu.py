"""emo_mm.models.fast_cpu: the CPU inference fast path equals the reference forwards (every arch,
eval and deploy form, with batch tiling), with and without the private oneDNN kernels, and only
runs in eager float32 CPU inference."""
import copy
import os.path as osp

import pytest
import torch
import torch.nn as nn

from emo_mm.models import EMO, EMOv2
from emo_mm.models import fast_cpu
from emo_mm.models.fast_cpu import (is_optimized, optimize_for_cpu, restore_reference,
                                    use_private_kernels)
from emo_mm.testing import load_script

HERE = osp.dirname(osp.abspath(__file__))

ARCHS = [(EMO, a) for a in ('1m', '2m', '5m', '6m')] + [(EMOv2, a) for a in ('1m', '2m', '5m', '20m')]


def _randomised(model):
    """Random BatchNorm statistics / affines and LayerScales (the helper of test_backbones)."""
    load_script(osp.join(HERE, 'test_backbones.py'))._randomise_bn(model)
    return model.eval()


def _close(fast, reference):
    for level, (a, b) in enumerate(zip(fast, reference)):
        assert a.shape == b.shape and a.is_contiguous(memory_format=torch.channels_last), level
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-5 * b.abs().max().item()), \
            (level, (a - b).abs().max().item())


def _ops(model, x):
    """Names of the operators one forward of ``model`` runs."""
    from torch.profiler import ProfilerActivity, profile
    with torch.no_grad(), profile(activities=[ProfilerActivity.CPU]) as prof:
        model(x)
    return {e.key for e in prof.key_averages()}


@pytest.mark.parametrize('cls,arch', ARCHS, ids=[f'{c.__name__}-{a}' for c, a in ARCHS])
def test_equals_reference_every_arch(cls, arch, monkeypatch):
    """Eval and deploy form, 2 images tiled one by one (a small tile budget), input unchanged."""
    monkeypatch.setattr(fast_cpu, 'TILE_BYTES', 1)
    reference = _randomised(cls(arch=arch, out_indices=(0, 1, 2, 3, 4)))
    x = torch.randn(2, 3, 224, 224)
    original = x.clone()
    for deploy in (False, True):
        fast = optimize_for_cpu(copy.deepcopy(reference), deploy=deploy)
        assert is_optimized(fast) and not is_optimized(reference)
        with torch.no_grad():
            assert fast._tile_size(x) == 1
            _close(fast(x), reference(x))
        assert torch.equal(x, original)


@pytest.mark.parametrize('cls', [EMO, EMOv2])
def test_public_fallback_equals_reference(cls):
    """Without the private kernels (old / unchecked torch): public ops only, same outputs."""
    reference = _randomised(cls(arch='1m', out_indices=(0, 1, 2, 3, 4)))
    fast = optimize_for_cpu(copy.deepcopy(reference), deploy=True)
    x = torch.randn(1, 3, 224, 224)
    previous = use_private_kernels(False)
    try:
        ops = _ops(fast, x)
        with torch.no_grad():
            _close(fast(x), reference(x))
    finally:
        use_private_kernels(previous)
    assert not any(op.startswith('mkldnn::') for op in ops)
    if fast_cpu.PRIVATE_KERNELS:  # and with them, the fused kernel really runs
        assert 'mkldnn::_convolution_pointwise' in _ops(fast, x)


def test_kernels_in_use_names_what_runs():
    """kernels_in_use() (printed by the benchmark) says 'private' exactly when the fused oneDNN
    kernel is in the executed ops, and why not otherwise."""
    small = dict(EMOv2.arch_zoo['1m'], depths=[1, 1, 2, 2])
    fast = optimize_for_cpu(EMOv2(arch=small, out_indices=(4, )).eval())
    x = torch.randn(1, 3, 224, 224)
    fused = 'mkldnn::_convolution_pointwise' in _ops(fast, x)
    assert fast_cpu.kernels_in_use().startswith('private oneDNN kernels') == fused
    assert fused == fast_cpu.PRIVATE_KERNELS  # on this stack (torch 2.14): they run
    previous = use_private_kernels(False)
    try:
        assert fast_cpu.kernels_in_use() == ('public ops (the private oneDNN kernels are not '
                                             'used: turned off with use_private_kernels(False))')
        assert 'mkldnn::_convolution_pointwise' not in _ops(fast, x)
    finally:
        use_private_kernels(previous)


def test_version_guard(monkeypatch):
    monkeypatch.setattr(fast_cpu, '_torch_version', lambda: (2, 0))
    assert not fast_cpu._private_available()
    monkeypatch.setattr(fast_cpu, '_torch_version', lambda: (9, 0))
    assert not fast_cpu._private_available()
    monkeypatch.setattr(fast_cpu, 'PRIVATE_KERNELS', False)
    previous = use_private_kernels(True)
    assert not fast_cpu._private()  # cannot be forced on where the guard says no
    assert fast_cpu.kernels_in_use().endswith('torch 9.0 is outside the checked range 2.1 <= '
                                              'torch < 2.15)')
    use_private_kernels(previous)


def test_only_eager_cpu_float32_inference():
    small = dict(EMOv2.arch_zoo['1m'], depths=[1, 1, 2, 2])  # every block kind, quick to trace
    model = optimize_for_cpu(EMOv2(arch=small, out_indices=(4, )).eval())
    x = torch.randn(2, 3, 64, 64)
    state = copy.deepcopy(model.state_dict())
    with torch.no_grad():
        graph = torch.jit.trace(model, x).inlined_graph
    kinds = {node.kind() for node in graph.nodes()}
    assert 'aten::_convolution' in kinds and 'aten::bmm' in kinds  # the attention's matmuls
    assert not any(k.startswith('mkldnn::') for k in kinds)  # FLOP counting sees standard ops
    assert not any(op.startswith('mkldnn::') for op in _ops(model.double(), x.double()))
    model.float()
    out = model(x)[0]  # autograd on: the reference forward, differentiable
    out.sum().backward()
    assert model.stage4[1].proj.conv.weight.grad is not None
    model.train()
    with torch.no_grad():
        assert model._tile_size(torch.randn(64, 3, 224, 224)) == 0
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())


def test_arguments_and_restore():
    with pytest.raises(ValueError, match='eval-mode'):
        optimize_for_cpu(EMO(arch='1m'))
    with pytest.raises(ValueError, match='no emo_mm backbone'):
        optimize_for_cpu(nn.Sequential(nn.Conv2d(3, 3, 1)).eval())
    model = optimize_for_cpu(EMO(arch='1m').eval())
    assert type(model).__name__ == 'FastEMO' and isinstance(model, EMO)
    restore_reference(model)
    assert type(model) is EMO and not is_optimized(model)


def test_edgeformer_units_get_the_fast_forward():
    """Other emo_mm backbones built from ConvNormAct (EdgeFormer) get its fast forward too."""
    from emo_mm.models import EdgeFormer
    reference = _randomised(EdgeFormer(arch='xs', out_indices=(2, 3, 4)))
    fast = optimize_for_cpu(copy.deepcopy(reference), deploy=True)
    assert is_optimized(fast) and type(fast) is EdgeFormer  # no EdgeFormer-specific tiling
    x = torch.randn(1, 3, 128, 128)
    with torch.no_grad():
        for a, b in zip(fast(x), reference(x)):
            assert torch.allclose(a, b, rtol=1e-5, atol=1e-5 * b.abs().max().item())

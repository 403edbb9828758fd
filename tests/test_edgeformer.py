"""EdgeFormer / ParC-Net: the circular convolution, the backbone, the checkpoint converter, ONNX
export and the cls / det / seg configs (docs/edgeformer.md).

The reference formulas come from the definition of the op (a sum of rolled maps, and the
official form: a depthwise ``N x 1`` conv of the map with its first ``N - 1`` rows appended, with
the kernel resampled by ``F.interpolate(..., align_corners=True)``); the parameter totals and
the official key layout (names, counts, shapes) are the published / official ones.
"""
import copy
import math
import os.path as osp

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope
from torch.nn.modules.batchnorm import _BatchNorm

import emo_mm  # noqa: F401  (registers the backbones and applies the upstream shims)
from emo_mm.io import CheckpointError
from emo_mm.models import EdgeFormer
from emo_mm.models.converters import (detect_edgeformer_arch, edgeformer_mmpretrain_to_official,
                                      edgeformer_official_to_mmpretrain)
from emo_mm.models.layers.parc import (AxialPositionEmbedding, GlobalCircularConv, ParCBlock,
                                       circulant, linear_resize_matrix)
from emo_mm.testing import load_script, lr_curve, single_thread

HERE = osp.dirname(osp.abspath(__file__))
ROOT = osp.dirname(HERE)
# published / official totals: ImageNet classifier, backbone without the expansion conv
PARAMS = {'xs': (2_185_384, 1_440_704), 's': (5_037_088, 4_292_408), 'h': (20_403_940, 19_026_300)}
CHANNELS = {'xs': (32, 64, 96, 128, 160), 's': (32, 64, 96, 128, 160), 'h': (96, 144, 216, 288, 432)}
# official state_dict() entries of the classifiers, ``residual.*`` alias (18 entries) included
OFFICIAL_KEYS = {'xs': 487, 's': 557, 'h': 767}
# every block kind, few channels: fast
TINY = dict(EdgeFormer.arch_zoo['s'], mv2_channels=[16, 24], mv2_depths=[1, 1],
            stage_channels=[32, 48, 64], parc_channels=[64, 48, 64], ffn_channels=[64, 96, 128],
            parc_depths=[2, 1, 1])


@pytest.fixture(autouse=True, scope='module')
def one_thread():
    with single_thread():
        yield


def _ceil_half(n, times):
    for _ in range(times):
        n = (n + 1) // 2
    return n


def _randomise(model, seed=0):
    """Non-trivial BN statistics and affine parameters (eval outputs then depend on them)."""
    torch.manual_seed(seed)
    for m in model.modules():
        if isinstance(m, _BatchNorm):
            m.running_mean.normal_(0, 0.1)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.normal_(1, 0.1)
            m.bias.data.normal_(0, 0.1)
    return model


# -------------------------------------------------------------------------- the ParC op
@pytest.mark.parametrize('src,dst', [(32, 20), (8, 32), (16, 16), (8, 1), (5, 7), (16, 9)])
def test_resize_matrix_is_interpolate_align_corners(src, dst):
    v = torch.randn(6, src)
    expected = F.interpolate(v[:, None], size=dst, mode='linear', align_corners=True)[:, 0]
    got = v @ linear_resize_matrix(src, dst, v).T
    assert torch.allclose(got, expected, atol=1e-6, rtol=0)
    if src == dst:
        assert torch.equal(got, v)


@pytest.mark.parametrize('axis', ['h', 'w'])
@pytest.mark.parametrize('size', [(5, 5), (8, 8), (11, 7), (20, 12), (1, 3)])
def test_circular_conv_matches_the_definition(axis, size):
    """y[i] = sum_t k[t] x[(i + t) mod N] along the axis, with the kernel resampled to N: equal to
    a sum of rolled maps and to the official padded depthwise conv, per axis for any H x W."""
    torch.manual_seed(0)
    conv = GlobalCircularConv(4, meta_kernel_size=8, axis=axis)
    x = torch.randn(2, 4, *size)
    dim = 2 if axis == 'h' else 3
    n = x.shape[dim]
    kernel = F.interpolate(conv.weight[:, None], size=n, mode='linear', align_corners=True)[:, 0]
    rolled = sum(kernel[:, t].view(1, -1, 1, 1) * torch.roll(x, -t, dim) for t in range(n))
    official_weight = kernel.view(4, 1, n, 1) if axis == 'h' else kernel.view(4, 1, 1, n)
    padded = torch.cat([x, x.narrow(dim, 0, n - 1)], dim)
    official = F.conv2d(padded, official_weight, groups=4)
    out = conv(x)
    assert torch.allclose(out, rolled, atol=1e-5) and torch.allclose(out, official, atol=1e-5)
    with torch.no_grad():  # the cached CPU inference path gives the same result
        assert torch.allclose(conv(x), out) and torch.allclose(conv(x), out)


def test_circulant_and_cache_invalidation():
    assert circulant(torch.tensor([[1., 2., 3.]]))[0].tolist() == [[1, 2, 3], [3, 1, 2], [2, 3, 1]]
    conv = GlobalCircularConv(2, 4, 'w')
    x = torch.randn(1, 2, 3, 4)
    with torch.no_grad():
        before = conv(x)
        conv.weight.mul_(2)  # in-place update: the cached matrices must not be reused
        assert torch.allclose(conv(x), 2 * before)
        assert conv(torch.randn(1, 2, 3, 6)).shape == (1, 2, 3, 6)  # another size


def test_position_embedding_resizing():
    """Resampled like the kernels, per axis: an H embedding varies along H only, equals the stored
    one at the stored size, and follows F.interpolate at other sizes (smaller and larger)."""
    pe = AxialPositionEmbedding(3, size=8, axis='h')
    stored = pe(torch.zeros(1, 3, 8, 5))
    assert torch.equal(stored[0, :, :, 0], pe.weight.detach())
    assert torch.equal(stored, stored[..., :1].expand_as(stored))  # constant along W
    for n in (5, 13):
        expected = F.interpolate(pe.weight[:, None].detach(), size=n, mode='linear',
                                 align_corners=True)[:, 0]
        assert torch.allclose(pe(torch.zeros(2, 3, n, 4))[1, :, :, 2], expected, atol=1e-6)
    w = AxialPositionEmbedding(3, size=8, axis='w')(torch.zeros(1, 3, 4, 6))
    assert torch.equal(w, w[:, :, :1].expand_as(w))  # a W embedding is constant along H
    assert 0.8 < AxialPositionEmbedding(64, 32, 'h').weight.std() < 1.2  # official N(0, 1) init


def test_parc_block_batch_one_training_error():
    block = ParCBlock(32, 64, 8, pos_embed=True)
    with pytest.raises(ValueError, match='needs >= 2 images per batch'):
        block(torch.randn(1, 32, 8, 8))
    assert block.eval()(torch.randn(1, 32, 8, 8)).shape == (1, 32, 8, 8)
    with pytest.raises(ValueError, match='must be even'):
        ParCBlock(33, 64, 8, pos_embed=False)


# -------------------------------------------------------------------------- the backbone
@pytest.mark.parametrize('arch', ['xs', 's', 'h'])
def test_arch_shapes_and_parameter_totals(arch):
    model = EdgeFormer(arch, out_indices=(0, 1, 2, 3, 4)).eval()
    assert sum(p.numel() for p in model.parameters()) == PARAMS[arch][1]
    classifier = EdgeFormer(arch, out_indices=4, final_conv=True)
    width = classifier.out_channels[-1]
    assert width == (960 if arch == 'h' else 640)
    assert sum(p.numel() for p in classifier.parameters()) + width * 1000 + 1000 == PARAMS[arch][0]
    size = (97, 130)  # odd and non-square
    with torch.no_grad():
        outs = model(torch.randn(1, 3, *size))
    assert list(model.out_channels) == list(CHANNELS[arch])
    for level, (out, channels) in enumerate(zip(outs, CHANNELS[arch])):
        assert out.shape == (1, channels, _ceil_half(size[0], level + 1),
                             _ceil_half(size[1], level + 1))


def test_square_and_other_sizes_and_output_stride_16():
    model = EdgeFormer(TINY, out_indices=(3, 4)).eval()
    with torch.no_grad():
        for size in ((256, 256), (33, 47), (320, 192), (16, 16)):
            outs = model(torch.randn(1, 3, *size))
            assert [o.shape[2:] for o in outs] == [
                (_ceil_half(size[0], k), _ceil_half(size[1], k)) for k in (4, 5)]
        os16 = EdgeFormer(TINY, out_indices=(3, 4), output_stride=16).eval()
        assert [o.shape[2:] for o in os16(torch.randn(1, 3, 64, 96))] == [(4, 6), (4, 6)]


@pytest.mark.parametrize('kwargs,message', [
    (dict(arch='xxs'), r"valid choices: \['h', 's', 'xs'\]"),
    (dict(arch=dict(stem_channels=16)), 'missing'),
    (dict(arch=dict(TINY, depth=3)), r"unexpected: \['depth'\]"),
    (dict(arch=dict(TINY, parc_depths=[1, 1])), 'must have 3 values'),
    (dict(arch=dict(TINY, parc_channels=[63, 48, 64])), 'must be even'),
    (dict(arch=dict(TINY, fusion='sum')), r"valid choices: \('concat', 'add'\)"),
    (dict(arch=3), 'must be a str or a dict'),
    (dict(out_indices=(1, 5)), 'valid levels are 0..4'),
    (dict(out_indices=()), 'non-empty'),
    (dict(frozen_stages=5), 'frozen_stages must be an int in -1..4'),
    (dict(output_stride=8), r'output_stride must be one of \(32, 16\)'),
    (dict(drop_rate=1.), r'drop_rate must be in \[0, 1\)'),
    (dict(final_conv=True, out_indices=(2, 3)), 'final_conv applies to level 4'),
])
def test_invalid_arguments(kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        EdgeFormer(**dict(dict(arch=TINY), **kwargs))


@pytest.mark.parametrize('x,message', [
    (torch.randn(3, 64, 64), r'expects a 4-D \(N, 3, H, W\) input'),
    (torch.randn(1, 1, 64, 64), 'expects 3 input channels'),
    (torch.randn(0, 3, 64, 64), 'empty batch')])
def test_invalid_inputs(x, message):
    """The checks of every emo_mm backbone (one base class)."""
    with pytest.raises(ValueError, match=message):
        EdgeFormer(TINY)(x)


def test_arch_name_case_out_indices_not_mutated():
    assert EdgeFormer('S').arch_settings == EdgeFormer.arch_zoo['s']
    indices = [-1, 2]
    assert EdgeFormer(TINY, out_indices=indices).out_indices == (2, 4) and indices == [-1, 2]


@pytest.mark.parametrize('frozen', [-1, 0, 2, 4])
def test_frozen_stages(frozen):
    model = EdgeFormer(TINY, frozen_stages=frozen).train()
    for level, blocks in enumerate(model.levels):
        frozen_level = level <= frozen
        assert all(p.requires_grad != frozen_level for p in blocks.parameters())
        assert all(m.training != frozen_level for m in blocks.modules())


def test_norm_eval_covers_the_parc_norms():
    model = EdgeFormer(TINY, norm_eval=True)
    assert model.train() is model
    bns = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    assert len(bns) > 20 and all(not m.training for m in bns)
    assert model.stage2[1].blocks[0].ffn.drop.training  # dropout still trains
    # BN in eval mode: batch 1 trains (the channel-attention BN no longer needs two images)
    model(torch.randn(1, 3, 64, 64))[-1].sum().backward()


def test_with_cp_same_gradients():
    torch.manual_seed(0)
    ref = EdgeFormer(TINY, drop_rate=0.).train()
    cp = copy.deepcopy(ref)
    cp.with_cp = True
    x = torch.randn(2, 3, 64, 48)
    for model in (ref, cp):
        sum(o.square().mean() for o in model(x)).backward()
    for (name, a), (_, b) in zip(ref.named_parameters(), cp.named_parameters()):
        assert torch.allclose(a.grad, b.grad, rtol=1e-4, atol=1e-6), name


def test_deploy_folds_norms_with_the_same_outputs():
    model = _randomise(EdgeFormer(TINY, out_indices=(0, 1, 2, 3, 4), final_conv=True)).eval()
    x = torch.randn(2, 3, 72, 56)
    with torch.no_grad():
        expected = model(x)
        bns = sum(isinstance(m, _BatchNorm) for m in model.modules())
        model.switch_to_deploy()
        # left: the two pre-norms of every ParC block and the BN before each proj_out
        assert sum(isinstance(m, _BatchNorm) for m in model.modules()) == 2 * 4 + 3 < bns
        assert model(x[:1])[0].shape[0] == 1  # batch 1 runs (no BN left in the attention)
        deployed = model(x)
        for a, b in zip(expected, deployed):
            assert torch.allclose(b, a, rtol=1e-4, atol=1e-5 * a.abs().max().item())
    # the folded state dict is the one of a model built with deploy=True
    fresh = EdgeFormer(TINY, out_indices=(0, 1, 2, 3, 4), final_conv=True, deploy=True).eval()
    fresh.load_state_dict(model.state_dict(), strict=True)
    assert model.deploy and fresh.deploy
    with torch.no_grad():
        for a, b in zip(deployed, fresh(x)):
            assert torch.equal(a, b)


def test_official_init():
    model = EdgeFormer('xs')
    kernel = model.stage2[1].blocks[0].hw.conv1.weight  # K = 32: U(+-1/sqrt(32))
    assert kernel.abs().max() <= 1 / math.sqrt(32) and 0.08 < kernel.std() < 0.12
    fusion = model.stage2[1].fusion.conv.weight  # Kaiming normal, fan-out = 96 x 9
    assert fusion.std().item() == pytest.approx(math.sqrt(2 / (96 * 9)), rel=0.1)
    assert torch.equal(model.stage2[1].blocks[0].ffn.fc1.bias, torch.zeros(192))


# -------------------------------------------------------------------------- converter
def _classifier_state_dict(arch):
    model = _randomise(EdgeFormer(arch, final_conv=True))
    sd = {f'backbone.{k}': v for k, v in model.state_dict().items()}
    sd['head.fc.weight'] = torch.randn(1000, model.out_channels[-1])
    sd['head.fc.bias'] = torch.randn(1000)
    return sd


def _same(a, b):
    return list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize('arch', ['xs', 's', 'h'])
def test_converter_round_trip_and_official_layout(arch):
    ours = _classifier_state_dict(arch)
    official = edgeformer_mmpretrain_to_official(ours)
    assert len(official) == OFFICIAL_KEYS[arch]
    keys = list(official)
    # official order: ..., layer_2, the residual.* alias (= layer_5.0), layer_3, ...
    assert keys.index('residual.block.exp_1x1.block.conv.weight') == keys.index(
        'layer_3.0.block.exp_1x1.block.conv.weight') - 18
    assert all(torch.equal(official[k], official['layer_5.0.' + k[len('residual.'):]])
               for k in keys if k.startswith('residual.'))
    assert detect_edgeformer_arch(official) == detect_edgeformer_arch(ours) == arch
    assert _same(edgeformer_official_to_mmpretrain(official), ours)
    assert _same(edgeformer_official_to_mmpretrain(ours), ours)  # idempotent
    if arch == 's':  # official shapes (orientation of the meta kernels / PEs, groups)
        rep = 'layer_3.1.spatial_global_rep.0.'
        for key, shape in [(rep + 'meta_kernel_1_H', (96, 1, 32, 1)),
                           (rep + 'meta_kernel_2_W', (96, 1, 1, 32)),
                           (rep + 'meta_pe_1_H', (1, 96, 32, 1)), (rep + 'meta_pe_2_W', (1, 96, 1, 32)),
                           (rep + 'ca.fc.0.weight', (12, 192, 1, 1)),
                           ('layer_3.1.dim_adaptive.0.block.conv.weight', (192, 1, 3, 3)),
                           ('layer_3.1.channel_adaptive.block.conv.weight', (96, 2, 1, 1)),
                           ('layer_3.1.local_global_fusion.block.conv.weight', (96, 192, 3, 3)),
                           ('layer_4.1.spatial_global_rep.4.weight', (256, )),
                           ('conv_1x1_exp.block.conv.weight', (640, 160, 1, 1)),
                           ('classifier.fc.weight', (1000, 640))]:
            assert tuple(official[key].shape) == shape, key
        assert 'layer_3.1.spatial_global_rep.1.meta_pe_1_H' not in official  # block 0 only


def test_converter_wrappers_backbone_only_and_detection_files():
    ours = _classifier_state_dict('s')
    official = edgeformer_mmpretrain_to_official(ours)
    for wrapped in ({'state_dict': official}, {'model': official},
                    {'module.' + k: v for k, v in official.items()}):
        assert _same(edgeformer_official_to_mmpretrain(wrapped), ours)
    backbone = edgeformer_official_to_mmpretrain(official, backbone_only=True)
    assert set(ours) - set(backbone) == {k for k in ours if k.startswith(
        ('head.', 'backbone.final_conv.'))}
    # an official SSD file: encoder.* (no expansion conv / classifier) + heads
    det = {'encoder.' + k: v for k, v in official.items()
           if not k.startswith(('conv_1x1_exp.', 'classifier.'))}
    det['ssd_heads.0.loc_cls_layer.dw_conv.block.conv.weight'] = torch.zeros(1)
    with pytest.raises(CheckpointError, match=r"\['ssd_heads'\].*--backbone-only"):
        edgeformer_official_to_mmpretrain(det)
    assert _same(edgeformer_official_to_mmpretrain(det, backbone_only=True), backbone)


@pytest.mark.parametrize('edit,message', [
    (lambda sd: sd.pop('layer_4.1.local_global_fusion.block.norm.bias'),
     r'missing keys \(1\):\n  layer_4.1.local_global_fusion.block.norm.bias'),
    (lambda sd: sd.__setitem__('layer_4.1.extra.weight', torch.zeros(1)),
     r'unexpected keys \(1\):\n  layer_4.1.extra.weight'),
    (lambda sd: sd.__setitem__('layer_3.1.spatial_global_rep.0.meta_kernel_1_H', torch.zeros(96, 1, 1, 32)),
     r'meta_kernel_1_H: \(96, 1, 1, 32\) vs \(96, 1, 32, 1\)'),
    (lambda sd: sd['residual.block.red_1x1.block.norm.bias'].add_(1),
     'should be an alias of'),
    (lambda sd: sd.__setitem__('conv_1.block.conv.weight', torch.zeros(24, 3, 3, 3)),
     'Unknown EdgeFormer variant: stem width 24'),
])
def test_converter_strict_errors(edit, message):
    official = {k: v.clone() for k, v in edgeformer_mmpretrain_to_official(_classifier_state_dict('s')).items()}
    edit(official)
    with pytest.raises(CheckpointError, match=message):
        edgeformer_official_to_mmpretrain(official)


def test_converter_rejects_other_checkpoints():
    with pytest.raises(CheckpointError, match='Not an EdgeFormer checkpoint'):
        edgeformer_official_to_mmpretrain({'conv1.weight': torch.zeros(64, 3, 7, 7)})
    with pytest.raises(CheckpointError, match='Expected an emo_mm EdgeFormer state dict'):
        edgeformer_mmpretrain_to_official({'conv_1.block.conv.weight': torch.zeros(16, 3, 3, 3)})


def test_converter_cli_and_pretrained_init(tmp_path):
    """The tool writes a file that ``init_cfg=Pretrained`` loads into a det backbone; its
    ``--to-official`` output converts back to the same weights."""
    ours = _classifier_state_dict('s')
    src = tmp_path / 'checkpoint_ema_avg.pt'
    torch.save(edgeformer_mmpretrain_to_official(ours), src)
    tool = load_script('tools/model_converters/edgeformer_to_mmpretrain.py')
    dst = tmp_path / 'edgeformer_s_in1k.pth'
    tool.main([str(src), str(dst)])
    saved = torch.load(dst, weights_only=True)
    assert saved['meta']['arch'] == 's' and _same(saved['state_dict'], ours)
    back = tmp_path / 'official.pt'
    tool.main([str(dst), str(back), '--to-official'])
    assert _same(edgeformer_official_to_mmpretrain(torch.load(back, weights_only=True)), ours)

    model = EdgeFormer('s', out_indices=(3, 4), init_cfg=dict(
        type='Pretrained', checkpoint=str(dst), prefix='backbone.'))
    model.init_weights()
    for key, value in model.state_dict().items():
        assert torch.equal(value, ours['backbone.' + key]), key
    for path, error in ((src, CheckpointError), (tmp_path / 'none.pth', FileNotFoundError)):
        model = EdgeFormer('s', init_cfg=dict(type='Pretrained', checkpoint=str(path), prefix='backbone.'))
        with pytest.raises(error, match='edgeformer_to_mmpretrain.py'):
            model.init_weights()


# -------------------------------------------------------------------------- ONNX export
def test_onnx_dynamic_export_matches_torch(tmp_path):
    """No run-time conv weights: the graph holds matmuls / gathers, exports with dynamic sizes and
    matches PyTorch at sizes other than the training size (non-square, odd)."""
    import onnxruntime  # noqa: F401  (comes with `make install`: a missing one is an error)
    from emo_mm.deployment import export_onnx, verify_onnx
    model = _randomise(EdgeFormer(TINY, out_indices=(0, 1, 2, 3, 4)).eval())
    path = str(tmp_path / 'edgeformer.onnx')
    assert export_onnx(model, path, (200, 232), dynamic=True) == [f'out{i}' for i in range(5)]
    errors = verify_onnx(model, path, [(1, 200, 232), (2, 97, 161), (1, 288, 288)])
    assert max(errors) < 1e-4


# -------------------------------------------------------------------------- configs
CLS = {'edgeformer-xs_8xb128_in1k.py': 'xs', 'edgeformer-s_8xb128_in1k.py': 's',
       'edgeformer-h_8xb128_in1k.py': 'h'}
CONFIGS = [f'configs/cls/edgeformer/{c}' for c in CLS] + [
    'configs/det/ssdlite_edgeformer/ssdlite_edgeformer-s_4xb32-200e_coco.py',
    'configs/seg/deeplabv3_edgeformer/deeplabv3_edgeformer-s_4xb8-20k_voc12aug-512x512.py',
    'configs/seg/deeplabv3_edgeformer/deeplabv3_edgeformer-s_8xb4-80k_ade20k-512x512.py',
]


def _load(rel_path):
    return Config.fromfile(osp.join(ROOT, rel_path))


def test_classification_recipe():
    cfg = _load(CONFIGS[1])
    assert dict(cfg.model.backbone) == dict(type='emo_mm.EdgeFormer', arch='s', out_indices=(4, ),
                                            final_conv=True)
    assert dict(cfg.data_preprocessor) == dict(num_classes=1000, mean=[0., 0., 0.],
                                               std=[255., 255., 255.], to_rgb=False)
    test = cfg.val_dataloader.dataset.pipeline
    assert (test[1].scale, test[2].crop_size) == (288, 256)
    assert [t.type for t in cfg.train_dataloader.dataset.pipeline] == [
        'LoadImageFromFile', 'RandomResizedCrop', 'RandomFlip', 'PackInputs']
    assert dict(cfg.optim_wrapper.optimizer) == dict(type='AdamW', lr=4e-3, betas=(0.9, 0.999),
                                                     eps=1e-8, weight_decay=0.025)
    assert 'paramwise_cfg' not in cfg.optim_wrapper  # decay on every parameter (official)
    assert _load(CONFIGS[2]).optim_wrapper.optimizer.weight_decay == 0.05  # H
    (ema, ) = [hook for hook in cfg.custom_hooks if hook.type == 'EMAHook']
    assert (ema.type, ema.momentum, ema.update_buffers) == ('EMAHook', 5e-4, True)
    assert cfg.train_dataloader.batch_size * 8 == cfg.auto_scale_lr.base_batch_size == 1024
    # the official LR: linear warm-up over 3000 iterations from 4e-4, then
    # 4e-4 + 1.8e-3 (1 + cos(pi epoch / 300)) per epoch; 1251 iterations per epoch (ImageNet / 1024)
    per_epoch = 1251
    lrs = np.array(lr_curve(cfg, per_epoch))
    it = np.arange(len(lrs))
    official = np.where(it < 3000, 4e-4 + 3.6e-3 * it / 3000,
                        4e-4 + 1.8e-3 * (1 + np.cos(np.pi * (it // per_epoch) / 300)))
    assert len(lrs) == 300 * per_epoch
    assert np.allclose(lrs, official, rtol=1e-3, atol=0)


def _tiny_batch(scope, num_classes):
    if scope == 'mmpretrain':
        from mmpretrain.structures import DataSample
        inputs = [torch.randint(0, 256, (3, 64, 64), dtype=torch.uint8) for _ in range(2)]
        return dict(inputs=inputs, data_samples=[DataSample().set_gt_label(i) for i in (0, 1)])
    if scope == 'mmdet':
        from mmdet.testing import demo_mm_inputs
        return demo_mm_inputs(batch_size=2, image_shapes=(3, 64, 64), num_items=[3, 2],
                              num_classes=num_classes)
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    samples = []
    for _ in range(2):
        sample = SegDataSample(metainfo=dict(img_shape=(64, 64), ori_shape=(64, 64), pad_shape=(64, 64)))
        sample.gt_sem_seg = PixelData(data=torch.randint(0, num_classes, (1, 64, 64)))
        samples.append(sample)
    return dict(inputs=[torch.randint(0, 256, (3, 64, 64), dtype=torch.uint8) for _ in range(2)],
                data_samples=samples)


@pytest.mark.parametrize('rel_path', CONFIGS, ids=[osp.basename(c) for c in CONFIGS])
def test_config_builds_and_trains_one_step(rel_path):
    from emo_mm.apis import build_model_from_cfg
    from emo_mm.cli import revert_sync_bn
    cfg = _load(rel_path)
    scope = cfg.default_scope
    backbone = cfg.model.backbone
    assert backbone.type == 'emo_mm.EdgeFormer' and backbone.arch == CLS.get(osp.basename(rel_path), 's')
    if scope != 'mmpretrain':  # det / seg: BGR / 255 preprocessing, ImageNet init of the backbone
        assert (cfg.model.data_preprocessor.std, cfg.model.data_preprocessor.bgr_to_rgb) == (
            [255.] * 3, False)
        assert backbone.init_cfg == dict(type='Pretrained', prefix='backbone.',
                                         checkpoint='checkpoints/edgeformer_s_in1k.pth')
        assert cfg.sync_bn == 'torch'
        revert_sync_bn(cfg)
        backbone.init_cfg = None
        if scope == 'mmseg':
            cfg.model.data_preprocessor.size = (64, 64)
    else:
        cfg.model.data_preprocessor = cfg.data_preprocessor
    torch.manual_seed(0)
    model = build_model_from_cfg(cfg)
    model.init_weights()
    if scope == 'mmpretrain':
        assert sum(p.numel() for p in model.parameters()) == PARAMS[backbone.arch][0]
        num_classes = cfg.model.head.num_classes
    else:
        head = cfg.model.get('bbox_head') or cfg.model.decode_head
        num_classes = head.num_classes
    with DefaultScope.overwrite_default_scope(scope):
        optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
        model.train()
        before = {n: p.detach().clone() for n, p in model.named_parameters()}
        log_vars = model.train_step(_tiny_batch(scope, num_classes), optim_wrapper)
        assert math.isfinite(log_vars['loss'].item())
        changed = {n.split('.')[0] for n, p in model.named_parameters() if not torch.equal(p, before[n])}
        assert 'backbone' in changed and len(changed) >= 2
        model.eval()
        with torch.no_grad():
            assert len(model.test_step(_tiny_batch(scope, num_classes))) == 2


def test_metafiles_document_get_flops():
    """Params / FLOPs of every metafile row are what tools/analysis_tools/get_flops.py prints."""
    import yaml
    tool = load_script('tools/analysis_tools/get_flops.py')
    for folder in ('cls/edgeformer', 'det/ssdlite_edgeformer', 'seg/deeplabv3_edgeformer'):
        with open(osp.join(ROOT, 'configs', folder, 'metafile.yml')) as f:
            models = yaml.safe_load(f)['Models']
        for entry in models:
            if folder.startswith('cls') and entry['Name'] != 'edgeformer-s_8xb128_in1k':
                continue  # one classifier is enough here (the totals are checked above)
            meta = entry['Metadata']
            size = str(meta['Input Size'] if 'Input Size' in meta else 256)
            info = tool.main([osp.join(ROOT, entry['Config']), '--shape', *size.split('x')])
            assert (meta['Parameters'], meta['FLOPs']) == (info['params'], info['flops']), entry['Name']

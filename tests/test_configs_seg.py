"""The ADE20K segmentation configs under configs/seg.

Every config is loaded, checked against the recipe in docs/official_recipes.md §1 and §4
(backbone settings, heads, optimizer, batch, schedule, ImageNet init), built, and its parameter
total (auxiliary head included) compared with the figures of the official models. Each model
then runs one training step and one inference on two 64x64 images on the CPU, with the heads'
SyncBN turned into BN.
"""
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from emo_mm.testing import lr_curve, official_param_names, single_thread
import emo_mm  # noqa: F401  (registers the backbones and applies the upstream shims)
from emo_mm.cli import revert_sync_bn
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope
from mmengine.structures import PixelData

from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from mmseg.utils import register_all_modules

register_all_modules(init_default_scope=True)

SEG_DIR = Path(__file__).resolve().parents[1] / 'configs' / 'seg'
NUM_CLASSES = 150
TINY = (64, 64)

# config -> (recipe, backbone class, arch, parameter total in thousands, auxiliary head included).
# The totals are those of the official models (their READMEs round them: docs/official_recipes.md
# §5.3, §5.4).
CONFIGS = {
    'deeplabv3/deeplabv3_emo-1m_8xb4-80k_ade20k-512x512.py': ('v1-80k', 'EMO', '1m', 5653),
    'deeplabv3/deeplabv3_emo-2m_8xb4-80k_ade20k-512x512.py': ('v1-80k', 'EMO', '2m', 6967),
    'deeplabv3/deeplabv3_emo-5m_8xb4-80k_ade20k-512x512.py': ('v1-80k', 'EMO', '5m', 10356),
    'deeplabv3/deeplabv3_emo2-1m_4xb8-80k_ade20k-512x512.py': ('v2-80k', 'EMOv2', '1m', 5830),
    'deeplabv3/deeplabv3_emo2-2m_4xb8-80k_ade20k-512x512.py': ('v2-80k', 'EMOv2', '2m', 6974),
    'deeplabv3/deeplabv3_emo2-5m_4xb8-80k_ade20k-512x512.py': ('v2-80k', 'EMOv2', '5m', 10373),
    'deeplabv3/deeplabv3_emo2-20m_4xb8-80k_ade20k-512x512.py': ('v2-80k', 'EMOv2', '20m', 26838),
    'pspnet/pspnet_emo-1m_8xb4-80k_ade20k-512x512.py': ('v1-80k', 'EMO', '1m', 4375),
    'pspnet/pspnet_emo-2m_8xb4-80k_ade20k-512x512.py': ('v1-80k', 'EMO', '2m', 5558),
    'pspnet/pspnet_emo-5m_8xb4-80k_ade20k-512x512.py': ('v1-80k', 'EMO', '5m', 8586),
    'pspnet/pspnet_emo2-1m_4xb8-80k_ade20k-512x512.py': ('v2-80k', 'EMOv2', '1m', 4502),
    'pspnet/pspnet_emo2-2m_4xb8-80k_ade20k-512x512.py': ('v2-80k', 'EMOv2', '2m', 5564),
    'pspnet/pspnet_emo2-5m_4xb8-80k_ade20k-512x512.py': ('v2-80k', 'EMOv2', '5m', 8603),
    'pspnet/pspnet_emo2-20m_4xb8-80k_ade20k-512x512.py': ('v2-80k', 'EMOv2', '20m', 24413),
    'fpn/fpn_emo2-1m_4xb8-160k_ade20k-512x512.py': ('v2-160k', 'EMOv2', '1m', 5371),
    'fpn/fpn_emo2-2m_4xb8-160k_ade20k-512x512.py': ('v2-160k', 'EMOv2', '2m', 6290),
    'fpn/fpn_emo2-5m_4xb8-160k_ade20k-512x512.py': ('v2-160k', 'EMOv2', '5m', 8987),
    'fpn/fpn_emo2-20m_4xb8-160k_ade20k-512x512.py': ('v2-160k', 'EMOv2', '20m', 23996),
    'segformer/segformer_emo2-1m_4xb8-160k_ade20k-512x512.py': ('v2-160k', 'EMOv2', '1m', 1499),
    'segformer/segformer_emo2-2m_4xb8-160k_ade20k-512x512.py': ('v2-160k', 'EMOv2', '2m', 2676),
    'segformer/segformer_emo2-5m_4xb8-160k_ade20k-512x512.py': ('v2-160k', 'EMOv2', '5m', 5378),
    'segformer/segformer_emo2-20m_4xb8-160k_ade20k-512x512.py': ('v2-160k', 'EMOv2', '20m', 20400),
}

# docs/official_recipes.md §4.1 (v1, mmseg 0.x) and §4.2 (EMOv2).
RECIPES = {
    'v1-80k': dict(wd=0.01, batch=4, gpus=8, iters=80000, clip=None, head_lr_mult=1.,
                   warmup=None, sync_bn='torch'),
    'v2-80k': dict(wd=0.05, batch=8, gpus=4, iters=80000, clip=0.1, head_lr_mult=1.,
                   warmup=(500, 1e-5), sync_bn=None),
    'v2-160k': dict(wd=0.05, batch=8, gpus=4, iters=160000, clip=None, head_lr_mult=10.,
                    warmup=(1500, 1e-6), sync_bn=None),
}
LR = 1.2e-4
# level channels (stages 1..4), docs/official_recipes.md §1.3
CHANNELS = {
    ('EMO', '1m'): (32, 48, 80, 168), ('EMO', '2m'): (32, 48, 120, 200),
    ('EMO', '5m'): (48, 72, 160, 288),
    ('EMOv2', '1m'): (32, 48, 80, 180), ('EMOv2', '2m'): (32, 48, 120, 200),
    ('EMOv2', '5m'): (48, 72, 160, 288), ('EMOv2', '20m'): (64, 128, 320, 448),
}
DROP_PATH = {'1m': 0.04036, '2m': 0.05, '5m': 0.05, '20m': 0.1}  # = the classification values
# the EdgeFormer configs (their own recipes) are checked in tests/test_edgeformer.py
ALL_CONFIGS = sorted(p.relative_to(SEG_DIR).as_posix() for p in SEG_DIR.rglob('*.py')
                     if 'edgeformer' not in p.parent.name)


@pytest.fixture(autouse=True, scope='module')
def one_thread():
    """Tiny test inputs: run on one thread (see :func:`emo_mm.testing.single_thread`)."""
    with single_thread():
        yield


@pytest.fixture(autouse=True)
def mmseg_scope():
    """Build from mmseg's registries whatever default scope other test modules left."""
    with DefaultScope.overwrite_default_scope('mmseg'):
        yield


def window_size(backbone, arch):
    """v1 seg windows 7 (1M/2M) and 16 (5M); EMOv2 always 10 (docs/official_recipes.md §1)."""
    if backbone == 'EMOv2':
        return 10
    return 16 if arch == '5m' else 7


def load(rel_path):
    return Config.fromfile(str(SEG_DIR / rel_path))


def tiny_model(cfg):
    """The segmentor of ``cfg`` with BN heads, no ImageNet checkpoint and 64x64 padding."""
    # the heads' SyncBN needs a process group: rewrite the config as tools/train.py does on CPU
    reverted = revert_sync_bn(cfg)
    heads = ['decode_head', 'auxiliary_head'] if 'auxiliary_head' in cfg.model else ['decode_head']
    assert reverted == [f'model.{head}.norm_cfg' for head in heads]
    cfg.model.backbone.init_cfg = None
    cfg.model.data_preprocessor.size = TINY
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model


def tiny_batch(num_classes):
    inputs, samples = [], []
    for _ in range(2):
        inputs.append(torch.randint(0, 256, (3, *TINY), dtype=torch.uint8))
        sample = SegDataSample(metainfo=dict(img_shape=TINY, ori_shape=TINY, pad_shape=TINY))
        sample.gt_sem_seg = PixelData(data=torch.randint(0, num_classes, (1, *TINY)))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def test_every_config_is_covered():
    assert set(CONFIGS) <= set(ALL_CONFIGS)
    # configs without official figures are only the demo ones (toy/), built and run below
    assert all(p.startswith('toy/') for p in set(ALL_CONFIGS) - set(CONFIGS))


@pytest.mark.parametrize('rel_path', sorted(CONFIGS))
def test_recipe(rel_path):
    recipe_name, backbone_type, arch, _ = CONFIGS[rel_path]
    recipe = RECIPES[recipe_name]
    algorithm = rel_path.split('/')[0]
    e1, e2, e3, e4 = CHANNELS[(backbone_type, arch)]
    cfg = load(rel_path)

    assert cfg.default_scope == 'mmseg'
    assert cfg.custom_imports == dict(imports=['emo_mm'], allow_failed_imports=False)
    model = cfg.model
    assert model.type == 'EncoderDecoder'
    assert model.get('pretrained') is None
    assert model.data_preprocessor.size == (512, 512)
    prefix = 'emo' if backbone_type == 'EMO' else 'emo2'
    assert dict(model.backbone) == dict(
        type=f'emo_mm.{backbone_type}', arch=arch, out_indices=(1, 2, 3, 4),
        window_size=window_size(backbone_type, arch), frozen_stages=-1, norm_eval=False,
        init_cfg=dict(type='Pretrained', checkpoint=f'checkpoints/{prefix}_{arch}_in1k.pth',
                      prefix='backbone.'))
    # the v1 backbone ran with SyncBN (converted by the runner when distributed); v2 did not
    assert cfg.get('sync_bn') == recipe['sync_bn']

    head = model.decode_head
    assert head.num_classes == NUM_CLASSES and head.norm_cfg.type == 'SyncBN'
    if algorithm in ('deeplabv3', 'pspnet'):
        assert (head.in_channels, head.in_index, head.channels) == (e4, 3, 256)
        assert head.type == {'deeplabv3': 'ASPPHead', 'pspnet': 'PSPHead'}[algorithm]
        aux = model.auxiliary_head
        assert (aux.type, aux.in_channels, aux.in_index, aux.channels) == ('FCNHead', e3, 2, 256)
        assert aux.num_classes == NUM_CLASSES and aux.loss_decode.loss_weight == 0.4
    elif algorithm == 'fpn':
        assert model.neck.in_channels == [e1, e2, e3, e4] and model.neck.num_outs == 4
        assert (head.type, head.channels) == ('FPNHead', 128)
    else:
        assert head.type == 'SegformerHead' and head.in_channels == [e1, e2, e3, e4]
        assert head.channels == (180 if arch == '1m' else 288)
    if algorithm in ('fpn', 'segformer'):
        assert 'auxiliary_head' not in model

    optim = cfg.optim_wrapper
    assert dict(optim.optimizer) == dict(
        type='AdamW', lr=LR, betas=(0.9, 0.999), weight_decay=recipe['wd'])
    assert optim.type == 'OptimWrapper'
    clip = optim.get('clip_grad')
    assert (clip and clip.max_norm) == recipe['clip']
    custom_keys = {'norm': dict(decay_mult=0.)}
    if backbone_type == 'EMO':  # the official v1 stem BN kept its weight decay (see below)
        custom_keys['backbone.stage0.0.norm'] = dict(decay_mult=1.)
    if recipe['head_lr_mult'] != 1:
        custom_keys['head'] = dict(lr_mult=recipe['head_lr_mult'])
    assert optim.paramwise_cfg == dict(custom_keys=custom_keys)

    assert cfg.train_dataloader.batch_size == recipe['batch']
    assert cfg.auto_scale_lr == dict(enable=False, base_batch_size=recipe['batch'] * recipe['gpus'])
    assert cfg.train_cfg.max_iters == recipe['iters']
    assert cfg.train_cfg.val_interval == recipe['iters'] // 10
    assert cfg.default_hooks.checkpoint.interval == recipe['iters'] // 10
    assert (cfg.val_evaluator.type, cfg.val_evaluator.iou_metrics) == ('IoUMetric', ['mIoU'])
    assert cfg.model.test_cfg.mode == 'whole'


@pytest.mark.parametrize('recipe_name', sorted(RECIPES))
def test_lr_schedule(recipe_name):
    recipe = RECIPES[recipe_name]
    rel_path = next(p for p, v in CONFIGS.items() if v[0] == recipe_name)
    lrs = np.array(lr_curve(load(rel_path)))
    total = recipe['iters']
    assert len(lrs) == total
    steps = np.arange(total)
    # mmengine's LinearLR and PolyLR reach their end value on the last iteration of their range
    # (mmseg 0.x's poly one iteration later): a difference of one iteration in 80k
    if recipe['warmup'] is None:
        # poly, power 0.9, to 0, from the first iteration
        assert np.allclose(lrs, LR * (1 - steps / (total - 1)) ** 0.9, rtol=1e-5, atol=1e-12)
        return
    warmup, factor = recipe['warmup']
    half = total // 2
    # linear warm-up from LR x factor, constant to mid-training, cosine to 0 over the second half
    assert np.allclose(lrs[:warmup], np.linspace(LR * factor, LR, warmup), rtol=1e-5, atol=0)
    assert np.allclose(lrs[warmup - 1:half + 1], LR, rtol=1e-9, atol=0)
    cosine = LR * (1 + np.cos(np.pi * (steps[half:] - half) / half)) / 2
    assert np.allclose(lrs[half:], cosine, rtol=1e-5, atol=1e-12)


@pytest.mark.parametrize('rel_path', ALL_CONFIGS)
def test_build_train_predict(rel_path):
    cfg = load(rel_path)
    num_classes = cfg.model.decode_head.num_classes
    torch.manual_seed(0)
    model = tiny_model(cfg)
    if rel_path in CONFIGS:
        recipe_name, backbone_type, arch, expected_k = CONFIGS[rel_path]
        total = sum(p.numel() for p in model.parameters())
        assert abs(total - expected_k * 1000) <= 1000, total
        assert type(model.backbone).__name__ == backbone_type
        assert model.backbone.drop_path_rate == DROP_PATH[arch]
        assert model.backbone.window_sizes == (window_size(backbone_type, arch), ) * 4
        wd, head_lr_mult = RECIPES[recipe_name]['wd'], RECIPES[recipe_name]['head_lr_mult']
    else:  # demo configs: their own optimizer settings, the same parameter rules
        wd = cfg.optim_wrapper.optimizer.weight_decay
        head_lr_mult = cfg.optim_wrapper.paramwise_cfg.custom_keys.get('head', {}).get(
            'lr_mult', 1.)

    # what the custom keys select (substring of the full parameter name): ``norm`` = no weight
    # decay for the parameters whose *official* full name contains "norm", as in the official
    # runs (every backbone BN / LN but the EMO v1 stem BN, officially ``stage0.0.convs.0.1``;
    # nothing in the heads, whose BNs are named ``bn``; not EMOv2's ``ls.gamma``); ``head`` = the
    # decode head (x10 LR in the 160k recipe)
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    groups = {id(p): g for g in optim_wrapper.optimizer.param_groups for p in g['params']}
    official = official_param_names(model)
    for name, param in model.named_parameters():
        group = groups[id(param)]
        assert group['weight_decay'] == (0.0 if 'norm' in official[name] else wd), name
        lr_mult = head_lr_mult if name.startswith(('decode_head.', 'auxiliary_head.')) else 1.
        assert group['lr'] == pytest.approx(cfg.optim_wrapper.optimizer.lr * lr_mult), name
    norms = (torch.nn.modules.batchnorm._BatchNorm, torch.nn.LayerNorm)
    stem_bn_decays = type(model.backbone).__name__ == 'EMO'  # the v1 stem BN (see above)
    for prefix, module in model.named_modules():
        if isinstance(module, norms):
            for name, param in module.named_parameters(prefix=prefix):
                no_decay = prefix.startswith('backbone.') and not (
                    stem_bn_decays and prefix == 'backbone.stage0.0.norm')
                assert (groups[id(param)]['weight_decay'] == 0) == no_decay, name

    # every parameter gets a gradient (DDP needs no unused parameters)
    model.train()
    data = model.data_preprocessor(tiny_batch(num_classes), True)
    losses = model(**data, mode='loss')
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    assert [n for n, p in model.named_parameters() if p.grad is None] == []
    model.zero_grad()

    before = model.decode_head.conv_seg.weight.detach().clone()
    log_vars = model.train_step(tiny_batch(num_classes), optim_wrapper)
    assert math.isfinite(log_vars['loss'].item())
    assert not torch.equal(model.decode_head.conv_seg.weight, before)

    model.eval()
    with torch.no_grad():
        results = model.test_step(tiny_batch(num_classes))
    assert len(results) == 2
    for result in results:
        assert result.seg_logits.data.shape == (num_classes, *TINY)
        assert result.pred_sem_seg.data.shape == (1, *TINY)
        assert 0 <= result.pred_sem_seg.data.min() <= result.pred_sem_seg.data.max() < num_classes

"""The ImageNet classification configs under configs/cls.

Every config is loaded, checked against the recipe of docs/official_recipes.md §5.1 (batch, LR,
warm-up and cosine floor, weight-decay exclusions, EMA, grad clip, augmentation, test transform),
built, and its parameter total compared with the official models (exact). Each model then runs
one training step and one inference on two 64x64 images on the CPU.
"""
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from emo_mm.testing import lr_curve, single_thread
import emo_mm  # noqa: F401  (registers the backbones and applies the upstream shims)
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope

from mmpretrain.registry import HOOKS, MODELS, TRANSFORMS
from mmpretrain.structures import DataSample
from mmpretrain.utils import register_all_modules

register_all_modules(init_default_scope=True)

CLS_DIR = Path(__file__).resolve().parents[1] / 'configs' / 'cls'

# config -> (backbone class, arch, last-stage width, parameter total of the official classifier)
CONFIGS = {
    'emo/emo-1m_8xb256_in1k.py': ('EMO', '1m', 168, 1_361_168),
    'emo/emo-2m_8xb256_in1k.py': ('EMO', '2m', 200, 2_377_472),
    'emo/emo-5m_8xb256_in1k.py': ('EMO', '5m', 288, 5_108_848),
    'emo/emo-6m_8xb256_in1k.py': ('EMO', '6m', 320, 6_168_496),
    'emo2/emo2-1m_8xb128_in1k.py': ('EMOv2', '1m', 180, 1_460_844),
    'emo2/emo2-2m_8xb128_in1k.py': ('EMOv2', '2m', 200, 2_384_312),
    'emo2/emo2-5m_8xb128_in1k.py': ('EMOv2', '5m', 288, 5_126_440),
    'emo2/emo2-20m_8xb128_in1k.py': ('EMOv2', '20m', 448, 20_195_208),
}
# docs/official_recipes.md §5.1: per-GPU batch x 8 GPUs; LR = 1.5e-3 x batch / 512;
# warm-up start = floor.
RECIPES = {
    'EMO': dict(batch=256, lr=6e-3, floor=1e-6),
    'EMOv2': dict(batch=128, lr=3e-3, floor=5e-7),
}
EPOCHS, WARMUP_EPOCHS = 300, 20
# the EdgeFormer configs (their own recipes) are checked in tests/test_edgeformer.py
ALL_CONFIGS = sorted(p.relative_to(CLS_DIR).as_posix() for p in CLS_DIR.rglob('*.py')
                     if 'edgeformer' not in p.parent.name)


@pytest.fixture(autouse=True, scope='module')
def one_thread():
    """Tiny test inputs: run on one thread (see :func:`emo_mm.testing.single_thread`)."""
    with single_thread():
        yield


@pytest.fixture(autouse=True)
def mmpretrain_scope():
    """Build from mmpretrain's registries whatever default scope other test modules left."""
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        yield


def load(rel_path):
    return Config.fromfile(str(CLS_DIR / rel_path))


def build_model(cfg):
    """The classifier of ``cfg``, as the runner builds it (top-level ``data_preprocessor``)."""
    model_cfg = cfg.model.copy()
    model_cfg.setdefault('data_preprocessor', cfg.get('data_preprocessor'))
    model = MODELS.build(model_cfg)
    model.init_weights()
    return model


def tiny_batch(num_classes):
    inputs = [torch.randint(0, 256, (3, 64, 64), dtype=torch.uint8) for _ in range(2)]
    samples = [DataSample().set_gt_label(0), DataSample().set_gt_label(num_classes - 1)]
    return dict(inputs=inputs, data_samples=samples)


def test_every_config_is_covered():
    assert set(CONFIGS) <= set(ALL_CONFIGS)
    # configs without official figures are only the demo ones (toy/), built and run below
    assert all(p.startswith('toy/') for p in set(ALL_CONFIGS) - set(CONFIGS))


@pytest.mark.parametrize('rel_path', sorted(CONFIGS))
def test_recipe(rel_path):
    backbone_type, arch, channels, _ = CONFIGS[rel_path]
    recipe = RECIPES[backbone_type]
    cfg = load(rel_path)

    assert cfg.default_scope == 'mmpretrain'
    assert cfg.custom_imports == dict(imports=['emo_mm'], allow_failed_imports=False)
    model = cfg.model
    assert model.type == 'ImageClassifier'
    # window size 7 and the paper's drop-path rate are the backbone defaults
    assert dict(model.backbone) == dict(
        type=f'emo_mm.{backbone_type}', arch=arch, out_indices=(4, ), final_norm=True)
    assert model.neck.type == 'GlobalAveragePooling'
    assert model.head.type == 'LinearClsHead'
    assert (model.head.num_classes, model.head.in_channels) == (1000, channels)
    assert dict(model.head.loss) == dict(
        type='LabelSmoothLoss', label_smooth_val=0.1, mode='original')
    assert model.get('train_cfg') is None  # no mixup / cutmix

    assert cfg.train_dataloader.batch_size == recipe['batch']
    assert cfg.auto_scale_lr == dict(base_batch_size=recipe['batch'] * 8)
    assert cfg.optim_wrapper.type == 'OptimWrapper'  # AMP only on request (--amp)
    assert dict(cfg.optim_wrapper.optimizer) == dict(
        type='AdamW', lr=recipe['lr'], betas=(0.9, 0.999), eps=1e-8, weight_decay=0.05)
    assert cfg.optim_wrapper.clip_grad == dict(max_norm=5.0)
    assert cfg.train_cfg.max_epochs == EPOCHS

    # EMA 0.9998 per iteration; mmengine's momentum is the weight of the new value
    (ema, ) = [h for h in cfg.custom_hooks if h.type == 'EMAHook']
    assert ema.momentum == pytest.approx(1 - 0.9998)
    assert ema.update_buffers is True
    assert cfg.randomness.seed == 42


@pytest.mark.parametrize('backbone_type', sorted(RECIPES))
def test_lr_schedule(backbone_type):
    rel_path = next(p for p, v in CONFIGS.items() if v[0] == backbone_type)
    recipe = RECIPES[backbone_type]
    per_epoch = 4
    lrs = lr_curve(load(rel_path), per_epoch)
    warmup = WARMUP_EPOCHS * per_epoch

    assert len(lrs) == EPOCHS * per_epoch
    assert lrs[0] == pytest.approx(recipe['floor'], rel=1e-6)
    # linear per-iteration warm-up to the base LR (mmengine reaches it on the last warm-up
    # iteration, timm one iteration later) ...
    assert np.allclose(lrs[:warmup], np.linspace(recipe['floor'], recipe['lr'], warmup),
                       rtol=1e-6, atol=0)
    assert lrs[warmup] == pytest.approx(recipe['lr'], rel=1e-6)
    # ... then cosine per iteration from the base LR to the floor over the remaining epochs
    steps = len(lrs) - warmup
    cosine = recipe['floor'] + (recipe['lr'] - recipe['floor']) * (
        1 + np.cos(np.pi * np.arange(steps) / steps)) / 2
    assert np.allclose(lrs[warmup:], cosine, rtol=1e-5, atol=0)


def test_ema_convention():
    """One update of the configured EMA keeps 0.9998 of the average, BN statistics included."""
    cfg = load('emo2/emo2-1m_8xb128_in1k.py')
    (hook_cfg, ) = [hook for hook in cfg.custom_hooks if hook['type'] == 'EMAHook']
    hook_cfg = dict(hook_cfg)
    assert hook_cfg.pop('priority') == 'ABOVE_NORMAL'  # as the runner does with hook priorities
    hook = HOOKS.build(hook_cfg)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 1), torch.nn.BatchNorm2d(2))
    ema = MODELS.build(dict(hook.ema_cfg, model=model))
    ema.update_parameters(model)  # the first update copies
    before = {k: v.clone() for k, v in ema.module.state_dict().items()}
    with torch.no_grad():
        for t in model.state_dict().values():
            if t.is_floating_point():
                t.add_(1.0)
    ema.update_parameters(model)
    for key, value in ema.module.state_dict().items():
        if value.is_floating_point():  # weights, biases, running mean / var
            expected = 0.9998 * before[key] + 0.0002 * model.state_dict()[key]
            assert torch.allclose(value, expected), key


def test_pipelines(tmp_path):
    """Train: random-resized crop + flip + RandAugment only; test: resize 256, crop 224 bicubic."""
    import cv2
    cfg = load('emo/emo-1m_8xb256_in1k.py')
    train = [t.type for t in cfg.train_dataloader.dataset.pipeline]
    assert train == [
        'LoadImageFromFile', 'RandomResizedCrop', 'RandomFlip', 'RandAugment', 'PackInputs']
    rand_aug = cfg.train_dataloader.dataset.pipeline[3]
    assert (rand_aug.policies, rand_aug.num_policies) == ('timm_increasing', 2)
    assert (rand_aug.magnitude_level, rand_aug.total_level, rand_aug.magnitude_std) == (9, 10, 0.5)
    test = cfg.val_dataloader.dataset.pipeline
    assert [t.type for t in test] == ['LoadImageFromFile', 'ResizeEdge', 'CenterCrop', 'PackInputs']
    assert (test[1].scale, test[1].edge, test[1].interpolation) == (256, 'short', 'bicubic')
    assert test[2].crop_size == 224
    assert cfg.test_dataloader.dataset.pipeline == test

    image = tmp_path / 'img.png'
    cv2.imwrite(str(image), np.random.randint(0, 256, (300, 400, 3), dtype=np.uint8))
    for pipeline in (cfg.train_dataloader.dataset.pipeline, test):
        results = dict(img_path=str(image), gt_label=0)
        for step in pipeline:
            results = TRANSFORMS.build(dict(step))(results)
        assert tuple(results['inputs'].shape) == (3, 224, 224)


@pytest.mark.parametrize('rel_path', ALL_CONFIGS)
def test_build_train_predict(rel_path):
    cfg = load(rel_path)
    num_classes = cfg.model.head.num_classes
    torch.manual_seed(0)
    model = build_model(cfg)
    if rel_path in CONFIGS:
        assert sum(p.numel() for p in model.parameters()) == CONFIGS[rel_path][3]

    # weight decay 0.05 except on 1-D parameters (norms, biases) and LayerScale gamma
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    decay = {id(p): g['weight_decay'] for g in optim_wrapper.optimizer.param_groups
             for p in g['params']}
    for name, param in model.named_parameters():
        no_decay = param.ndim == 1 or name.endswith('.gamma')
        assert decay[id(param)] == (0.0 if no_decay else 0.05), name
    if cfg.model.backbone.type == 'emo_mm.EMOv2':
        assert any(name.endswith('ls.gamma') for name, _ in model.named_parameters())

    # every parameter gets a gradient (DDP needs no unused parameters)
    model.train()
    data = model.data_preprocessor(tiny_batch(num_classes), True)
    sum(model(**data, mode='loss').values()).backward()
    assert [n for n, p in model.named_parameters() if p.grad is None] == []
    model.zero_grad()

    before = model.head.fc.weight.detach().clone()
    log_vars = model.train_step(tiny_batch(num_classes), optim_wrapper)
    assert math.isfinite(log_vars['loss'].item())
    assert not torch.equal(model.head.fc.weight, before)

    model.eval()
    with torch.no_grad():
        results = model.test_step(tiny_batch(num_classes))
    assert len(results) == 2
    for result in results:
        assert result.pred_score.shape == (num_classes, )
        assert result.pred_score.sum().item() == pytest.approx(1.0, abs=1e-4)
        assert 0 <= result.pred_label.item() < num_classes

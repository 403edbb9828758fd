"""The detection configs under configs/det.

Every config is loaded, built, trained for one step and run for inference on two 64x64 images on
the CPU (weight decay per parameter, frozen stages and frozen BN statistics checked on the way).
The configs of the official settings are also checked against the recipe in
docs/official_recipes.md §1 and §4 (optimizer, batch, schedule, backbone settings, ImageNet init)
and their parameter totals against those of the official models. A user config that inherits
one of ours and replaces the head is built and run the same way.
"""
import copy
import functools
import math
from pathlib import Path

import pytest
import torch

from mmdet.registry import MODELS
from mmdet.testing import demo_mm_inputs
from mmdet.utils import register_all_modules
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmengine.optim import build_optim_wrapper

# importing emo_mm registers the backbones and applies the upstream shims (SSD inference)
from emo_mm.testing import lr_curve, official_param_names, single_thread

register_all_modules(init_default_scope=True)

DET_DIR = Path(__file__).resolve().parents[1] / 'configs' / 'det'

# config -> (recipe family, backbone class, arch, parameter total in thousands).
# The totals are those of the official models (their READMEs round them: docs/official_recipes.md
# §5.3, §5.4).
# The 512x512 SSDLite models are the 320 ones fed larger images: same parameters.
CONFIGS = {
    'ssdlite/ssdlite_emo-1m_8xb24-600e_coco.py': ('ssdlite-v1', 'EMO', '1m', 2312),
    'ssdlite/ssdlite_emo-2m_8xb24-600e_coco.py': ('ssdlite-v1', 'EMO', '2m', 3343),
    'ssdlite/ssdlite_emo-5m_8xb24-600e_coco.py': ('ssdlite-v1', 'EMO', '5m', 6077),
    'ssdlite/ssdlite_emo2-1m_8xb24-600e_coco.py': ('ssdlite-v2', 'EMOv2', '1m', 2409),
    'ssdlite/ssdlite_emo2-2m_8xb24-600e_coco.py': ('ssdlite-v2', 'EMOv2', '2m', 3350),
    'ssdlite/ssdlite_emo2-5m_8xb24-600e_coco.py': ('ssdlite-v2', 'EMOv2', '5m', 6094),
    'ssdlite/ssdlite_emo2-20m_8xb24-600e_coco.py': ('ssdlite-v2', 'EMOv2', '20m', 21214),
    'ssdlite/ssdlite_emo2-1m_8xb24-600e_coco-512x512.py': ('ssdlite-v2', 'EMOv2', '1m', 2409),
    'ssdlite/ssdlite_emo2-2m_8xb24-600e_coco-512x512.py': ('ssdlite-v2', 'EMOv2', '2m', 3350),
    'ssdlite/ssdlite_emo2-5m_8xb24-600e_coco-512x512.py': ('ssdlite-v2', 'EMOv2', '5m', 6094),
    'ssdlite/ssdlite_emo2-20m_8xb24-600e_coco-512x512.py': ('ssdlite-v2', 'EMOv2', '20m', 21214),
    'retinanet/retinanet_emo-1m_fpn_8xb4-1x_coco.py': ('retinanet-v1', 'EMO', '1m', 10479),
    'retinanet/retinanet_emo-2m_fpn_8xb4-1x_coco.py': ('retinanet-v1', 'EMO', '2m', 11556),
    'retinanet/retinanet_emo-5m_fpn_8xb4-1x_coco.py': ('retinanet-v1', 'EMO', '5m', 14441),
    'retinanet/retinanet_emo2-1m_fpn_4xb4-1x_coco.py': ('fpn-v2', 'EMOv2', '1m', 10598),
    'retinanet/retinanet_emo2-2m_fpn_4xb4-1x_coco.py': ('fpn-v2', 'EMOv2', '2m', 11562),
    'retinanet/retinanet_emo2-5m_fpn_4xb4-1x_coco.py': ('fpn-v2', 'EMOv2', '5m', 14458),
    'retinanet/retinanet_emo2-20m_fpn_4xb4-1x_coco.py': ('fpn-v2', 'EMOv2', '20m', 29831),
    'mask_rcnn/mask-rcnn_emo2-1m_fpn_4xb4-1x_coco.py': ('fpn-v2', 'EMOv2', '1m', 21272),
    'mask_rcnn/mask-rcnn_emo2-2m_fpn_4xb4-1x_coco.py': ('fpn-v2', 'EMOv2', '2m', 22191),
    'mask_rcnn/mask-rcnn_emo2-5m_fpn_4xb4-1x_coco.py': ('fpn-v2', 'EMOv2', '5m', 24888),
    'mask_rcnn/mask-rcnn_emo2-20m_fpn_4xb4-1x_coco.py': ('fpn-v2', 'EMOv2', '20m', 39896),
}
# Every config under configs/det is built, trained one step and run; the others (the user
# templates in examples/, the demo's toy/ config) have no official recipe or figures to match.
# the EdgeFormer configs (their own recipes) are checked in tests/test_edgeformer.py
ALL_CONFIGS = sorted(p.relative_to(DET_DIR).as_posix() for p in DET_DIR.rglob('*.py')
                     if 'edgeformer' not in p.parent.name)

# docs/official_recipes.md §4.1 (v1, mmdet 2.x) and §4.2 (EMOv2). "cosine": linear warm-up, then
# cosine from epoch 0 to the end (per epoch). "half-cosine": warm-up, constant LR to
# mid-training, then cosine to 0 over the second half.
RECIPES = {
    'ssdlite-v1': dict(lr=1.2e-3, clip=None, batch=24, gpus=8, epochs=120, repeat=5,
                       schedule='cosine', warmup_factor=1e-3,
                       out_indices=(3, 4), frozen_stages=-1),
    'ssdlite-v2': dict(lr=2.4e-3, clip=0.1, batch=24, gpus=8, epochs=120, repeat=5,
                       schedule='half-cosine', warmup_factor=1e-5,
                       out_indices=(3, 4), frozen_stages=-1),
    'retinanet-v1': dict(lr=2e-4, clip=None, batch=4, gpus=8, epochs=12, repeat=None,
                         schedule='cosine', warmup_factor=1e-3,
                         out_indices=(1, 2, 3, 4), frozen_stages=1),
    'fpn-v2': dict(lr=2e-4, clip=0.1, batch=4, gpus=4, epochs=12, repeat=None,
                   schedule='half-cosine', warmup_factor=1e-5,
                   out_indices=(1, 2, 3, 4), frozen_stages=1),
}
DROP_PATH = {'1m': 0.04036, '2m': 0.05, '5m': 0.05, '20m': 0.1}  # = the classification values
WARMUP_ITERS = 500


@pytest.fixture(autouse=True, scope='module')
def one_thread():
    """Tiny test inputs: run on one thread (see :func:`emo_mm.testing.single_thread`)."""
    with single_thread():
        yield


def window_size(backbone, arch):
    """v1 det windows 7 (1M/2M) and 10 (5M); EMOv2 always 10 (docs/official_recipes.md §1)."""
    return 10 if backbone == 'EMOv2' or arch == '5m' else 7


@functools.lru_cache(maxsize=None)
def _parse(rel_path):
    return Config.fromfile(str(DET_DIR / rel_path))


def load(rel_path):
    """A private copy of the parsed config (parsing a config with `mmdet::` bases takes ~1 s)."""
    return copy.deepcopy(_parse(rel_path))


def tiny_model(cfg):
    """The detector of ``cfg`` without the ImageNet checkpoint, freshly initialised."""
    cfg.model.backbone.init_cfg = None
    model = revert_sync_batchnorm(MODELS.build(cfg.model))
    model.init_weights()
    return model


def tiny_batch(with_mask, num_classes):
    return demo_mm_inputs(
        batch_size=2, image_shapes=(3, 64, 64), num_items=[3, 2], num_classes=num_classes,
        with_mask=with_mask)


def test_every_official_setting_has_a_config():
    assert set(CONFIGS) <= set(ALL_CONFIGS)
    assert 'examples/atss_emo2-1m_fpn_4xb4-1x_coco.py' in ALL_CONFIGS


@pytest.mark.parametrize('rel_path', sorted(CONFIGS))
def test_recipe(rel_path):
    family, backbone_type, arch, _ = CONFIGS[rel_path]
    recipe = RECIPES[family]
    cfg = load(rel_path)

    backbone = cfg.model.backbone
    assert backbone.type == f'emo_mm.{backbone_type}'
    assert backbone.arch == arch
    assert backbone.window_size == window_size(backbone_type, arch)
    assert backbone.drop_path_rate == DROP_PATH[arch]
    assert tuple(backbone.out_indices) == recipe['out_indices']
    assert backbone.frozen_stages == recipe['frozen_stages']
    assert backbone.norm_eval is True
    # every model starts from its ImageNet weights (the v1 RetinaNet-1M config forgot to)
    prefix = 'emo' if backbone_type == 'EMO' else 'emo2'
    assert backbone.init_cfg == dict(
        type='Pretrained', checkpoint=f'checkpoints/{prefix}_{arch}_in1k.pth',
        prefix='backbone.')

    optimizer = cfg.optim_wrapper.optimizer
    assert dict(optimizer) == dict(
        type='AdamW', lr=recipe['lr'], betas=(0.9, 0.999), weight_decay=0.05)
    assert cfg.optim_wrapper.paramwise_cfg.custom_keys['norm'] == dict(decay_mult=0.)
    clip = cfg.optim_wrapper.get('clip_grad')
    assert (clip and clip.max_norm) == recipe['clip']

    assert cfg.train_dataloader.batch_size == recipe['batch']
    assert cfg.auto_scale_lr == dict(enable=False, base_batch_size=recipe['batch'] * recipe['gpus'])
    assert cfg.train_cfg.max_epochs == recipe['epochs']
    dataset = cfg.train_dataloader.dataset
    if recipe['repeat']:
        assert dataset.type == 'RepeatDataset' and dataset.times == recipe['repeat']
    else:
        assert dataset.type == 'CocoDataset'


@pytest.mark.parametrize('family', sorted(RECIPES))
def test_lr_schedule(family):
    recipe = RECIPES[family]
    configs = [load(p) for p, (f, *_) in CONFIGS.items() if f == family]
    for cfg in configs[1:]:  # the schedule is the same for every model of a family
        assert cfg.param_scheduler == configs[0].param_scheduler
        assert cfg.train_cfg == configs[0].train_cfg
    cfg = configs[0]
    base_lr = recipe['lr']
    epochs = recipe['epochs']
    # fewer iterations per epoch than COCO (3055-7330), but the 500-iteration warm-up still ends
    # within the first epoch, as it does there
    per_epoch = 600
    lrs = lr_curve(cfg, per_epoch)

    # linear warm-up over iterations 0..499 (mmengine's LinearLR reaches 1 at iteration end - 1)
    assert lrs[0] == pytest.approx(base_lr * recipe['warmup_factor'], rel=1e-6)
    warmup = lrs[:WARMUP_ITERS]
    assert all(a < b for a, b in zip(warmup, warmup[1:]))
    half = epochs // 2 * per_epoch
    if recipe['schedule'] == 'half-cosine':
        # constant from the end of the warm-up to mid-training, then cosine (per iteration) to 0
        constant = lrs[WARMUP_ITERS - 1:half + 1]
        assert constant == pytest.approx([base_lr] * len(constant))
        assert lrs[half + (len(lrs) - half) // 2] == pytest.approx(base_lr / 2, rel=1e-3)
        assert all(a > b for a, b in zip(lrs[half:], lrs[half + 1:]))
    else:
        # cosine over all epochs, stepped per epoch
        for epoch in (epochs // 4, epochs // 2, epochs - 1):
            expected = base_lr * (1 + math.cos(math.pi * epoch / epochs)) / 2
            assert lrs[epoch * per_epoch] == pytest.approx(expected, rel=1e-6)
    assert lrs[-1] < base_lr * 0.02


def test_ssdlite_512_changes_only_the_input_size():
    def pipelines(cfg):
        # steps taken over with `_base_.xxx_pipeline` carry `_scope_='mmdet'`, the configs'
        # default scope anyway
        assert cfg.default_scope == 'mmdet'
        return {
            split: [{k: v for k, v in step.items() if (k, v) != ('_scope_', 'mmdet')}
                    for step in pipeline]
            for split, pipeline in (('train', cfg.train_dataloader.dataset.dataset.pipeline),
                                    ('val', cfg.val_dataloader.dataset.pipeline),
                                    ('test', cfg.test_dataloader.dataset.pipeline))
        }

    for rel_320 in [p for p in CONFIGS if p.startswith('ssdlite/ssdlite_emo2')
                    and not p.endswith('-512x512.py')]:
        cfg_320 = load(rel_320)
        cfg_512 = load(rel_320.replace('_coco.py', '_coco-512x512.py'))
        for split, pipeline_320 in pipelines(cfg_320).items():
            pipeline_512 = pipelines(cfg_512)[split]
            assert len(pipeline_512) == len(pipeline_320)
            resizes = 0
            for step_320, step_512 in zip(pipeline_320, pipeline_512):
                if step_320['type'] == 'Resize':
                    resizes += 1
                    assert step_320['scale'] == (320, 320) and step_512['scale'] == (512, 512)
                    step_512 = dict(step_512, scale=step_320['scale'])
                assert step_512 == step_320
            assert resizes == 1, split
        # the anchors keep the 320 settings, as in the official "512" runs
        # (docs/official_recipes.md §6.14)
        assert cfg_512.model == cfg_320.model
        assert cfg_512.model.bbox_head.anchor_generator.strides == [16, 32, 64, 107, 160, 320]
        assert cfg_512.model.bbox_head.anchor_generator.max_sizes[-1] == 320
        for key in ('optim_wrapper', 'param_scheduler', 'train_cfg', 'auto_scale_lr'):
            assert cfg_512[key] == cfg_320[key]


def check_train_and_predict(cfg):
    """One training step and one inference on two 64x64 images; returns the model."""
    torch.manual_seed(0)
    model = tiny_model(cfg)
    roi_head = cfg.model.get('roi_head', {})
    with_mask = 'mask_head' in roi_head
    num_classes = (roi_head.bbox_head if roi_head else cfg.model.bbox_head).num_classes
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)

    # weight decay per parameter as in the official runs, whose optimizer constructors (mmcv 1.x
    # for v1, mmengine for EMOv2) gave no decay to the parameters whose *official* full name
    # contains "norm" (mmengine leaves frozen parameters out of the optimizer)
    decay = {id(p): g['weight_decay'] for g in optim_wrapper.optimizer.param_groups
             for p in g['params']}
    official = official_param_names(model)
    weight_decay = cfg.optim_wrapper.optimizer.weight_decay  # 0.05: see test_recipe
    for name, param in model.named_parameters():
        if param.requires_grad:
            assert decay[id(param)] == (0.0 if 'norm' in official[name] else weight_decay), name

    frozen = {n: p.detach().clone() for n, p in model.backbone.named_parameters()
              if not p.requires_grad}
    if cfg.model.backbone.frozen_stages >= 1:
        assert frozen and all(n.startswith(('stage0.', 'stage1.')) for n in frozen)
    bn_stats = {n: b.detach().clone() for n, b in model.backbone.named_buffers()
                if n.endswith('running_mean')}
    trainable = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}

    model.train()
    log_vars = model.train_step(tiny_batch(with_mask, num_classes), optim_wrapper)
    assert math.isfinite(log_vars['loss'].item())
    assert any(not torch.equal(p, trainable[n]) for n, p in model.named_parameters()
               if n.startswith('backbone.') and n in trainable)
    assert any(not torch.equal(p, trainable[n]) for n, p in model.named_parameters()
               if not n.startswith('backbone.'))
    for n, p in model.backbone.named_parameters():
        if n in frozen:
            assert torch.equal(p, frozen[n]), n
    # norm_eval=True (every config here): the backbone's BN statistics are not updated
    if cfg.model.backbone.norm_eval:
        for n, b in model.backbone.named_buffers():
            if n in bn_stats:
                assert torch.equal(b, bn_stats[n]), n

    model.eval()
    with torch.no_grad():
        results = model.test_step(tiny_batch(with_mask, num_classes))
    assert len(results) == 2
    for result in results:
        pred = result.pred_instances
        num = len(pred)
        assert pred.bboxes.shape == (num, 4) and pred.scores.shape == (num,)
        assert pred.labels.shape == (num,)
        assert num <= cfg.model.test_cfg.get('max_per_img', cfg.model.test_cfg.get(
            'rcnn', {}).get('max_per_img'))
        if with_mask:
            assert pred.masks.shape == (num, 64, 64)
    return model


@pytest.mark.parametrize('rel_path', ALL_CONFIGS)
def test_build_train_predict(rel_path):
    cfg = load(rel_path)
    model = check_train_and_predict(cfg)
    if rel_path in CONFIGS:
        expected_k = CONFIGS[rel_path][3]
        total = sum(p.numel() for p in model.parameters())
        assert abs(total - expected_k * 1000) <= 1000, total


def test_user_config_replaces_the_head(tmp_path):
    """A config outside the repository that inherits ours and swaps RetinaNet for FCOS."""
    ours = DET_DIR / 'retinanet' / 'retinanet_emo2-2m_fpn_4xb4-1x_coco.py'
    user_cfg = tmp_path / 'fcos_emo2-2m_fpn_4xb4-1x_coco.py'
    user_cfg.write_text(f"""
_base_ = {str(ours)!r}
model = dict(
    type='FCOS',
    neck=dict(add_extra_convs='on_output', relu_before_extra_convs=True),
    bbox_head=dict(
        _delete_=True,
        type='FCOSHead',
        num_classes=80,
        in_channels=256,
        stacked_convs=4,
        feat_channels=256,
        strides=[8, 16, 32, 64, 128],
        loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25,
                      loss_weight=1.0),
        loss_bbox=dict(type='IoULoss', loss_weight=1.0),
        loss_centerness=dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0)),
    train_cfg=None)
""")
    cfg = Config.fromfile(str(user_cfg))
    base = load('retinanet/retinanet_emo2-2m_fpn_4xb4-1x_coco.py')
    # everything but the detector type, the head and the neck's extra levels is inherited
    assert cfg.model.backbone == base.model.backbone
    assert cfg.model.neck.in_channels == base.model.neck.in_channels
    for key in ('optim_wrapper', 'param_scheduler', 'train_dataloader', 'auto_scale_lr'):
        assert cfg[key] == base[key]

    model = check_train_and_predict(cfg)
    assert type(model).__name__ == 'FCOS'
    assert type(model.bbox_head).__name__ == 'FCOSHead'
    assert type(model.backbone).__name__ == 'EMOv2'
    assert model.backbone.out_channels[1:] == [32, 48, 120, 200]


@pytest.mark.parametrize('rel_path', [
    'ssdlite/ssdlite_emo-1m_8xb24-600e_coco.py',
    'mask_rcnn/mask-rcnn_emo2-1m_fpn_4xb4-1x_coco.py',
])
def test_imagenet_init_loads_the_backbone(rel_path, tmp_path):
    """The configs' `Pretrained` init (prefix 'backbone.') loads a classifier checkpoint as
    written by tools/model_converters/emo_to_mmpretrain.py into the detector's backbone."""
    cfg = load(rel_path)
    backbone_cfg = {k: v for k, v in cfg.model.backbone.items() if k != 'init_cfg'}
    torch.manual_seed(1)
    classifier_backbone = MODELS.build(backbone_cfg)
    for p in classifier_backbone.parameters():
        torch.nn.init.normal_(p)
    weights = {f'backbone.{k}': v for k, v in classifier_backbone.state_dict().items()}
    weights['head.fc.weight'] = torch.zeros(1000, classifier_backbone.out_channels[-1])
    checkpoint = tmp_path / 'in1k.pth'
    torch.save(dict(state_dict=weights, meta=dict()), checkpoint)

    cfg.model.backbone.init_cfg.checkpoint = str(checkpoint)
    detector = MODELS.build(cfg.model)
    detector.init_weights()
    loaded = detector.backbone.state_dict()
    assert loaded.keys() == classifier_backbone.state_dict().keys()
    for key, value in classifier_backbone.state_dict().items():
        assert torch.equal(loaded[key], value), key

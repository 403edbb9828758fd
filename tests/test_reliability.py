"""Bad input gives clear errors: property-based tests of the backbones over random input and
batch sizes (they work or raise the documented error), and missing dataset files named with
their config key before a run starts. (Arguments, archs, converter input and checkpoint
files: tests/test_backbones.py, test_checkpoint.py, test_safe_loading.py.)"""
import functools
import os.path as osp
import re

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mmengine.config import Config

import emo_mm  # noqa: F401
from emo_mm.engine import check_dataset_files
from emo_mm.models import EMO, EMOv2
from emo_mm.testing import load_script

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = osp.join(ROOT, 'tests', 'data', 'configs')
PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# (class, window_size): local windows, global attention, per-stage windows
VARIANTS = [(EMO, 7), (EMOv2, 10), (EMOv2, -1), (EMO, [2, 3, 5, 1])]


@functools.lru_cache(maxsize=None)
def _model(index):
    torch.manual_seed(0)
    cls, window = VARIANTS[index]
    return cls(arch='1m', window_size=window, out_indices=(0, 1, 2, 3, 4))


def _ceil_half(n, times):
    for _ in range(times):
        n = (n + 1) // 2
    return n


@PROPERTY
@given(variant=st.integers(0, len(VARIANTS) - 1), batch=st.integers(0, 3),
       height=st.integers(1, 96), width=st.integers(1, 96), training=st.booleans())
def test_any_size_works_or_raises_the_documented_error(variant, batch, height, width, training):
    """Documented: a non-empty batch, H and W >= 32 (ValueErrors naming the problem); in training
    mode BatchNorm needs more than one value per channel (batch 1 with a 1x1 last level)."""
    model = _model(variant).train(training)
    x = torch.randn(batch, 3, height, width)
    last = _ceil_half(height, 5) * _ceil_half(width, 5)
    too_small = re.escape(f'needs H and W >= 32, got {(height, width)}')
    with torch.no_grad():
        if batch == 0:
            with pytest.raises(ValueError, match='empty batch' +
                               (f'|{too_small}' if min(height, width) < 32 else '')):
                model(x)
        elif min(height, width) < 32:
            with pytest.raises(ValueError, match=too_small):
                model(x)
        elif training and batch * last == 1:
            with pytest.raises(ValueError, match='Expected more than 1 value per channel'):
                model(x)
        else:
            outs = model(x)
            for level, (out, channels) in enumerate(zip(outs, model.out_channels)):
                size = (batch, channels, _ceil_half(height, level + 1),
                        _ceil_half(width, level + 1))
                assert out.shape == size and torch.isfinite(out).all()


@PROPERTY
@given(shape=st.lists(st.integers(1, 40), min_size=0, max_size=6), batch=st.integers(1, 2),
       channels=st.integers(1, 5))
def test_any_shape_works_or_raises_the_documented_error(shape, batch, channels):
    if len(shape) >= 2:
        shape[:2] = [batch, channels]
    model = _model(1).eval()
    x = torch.randn(tuple(shape))
    if len(shape) != 4:
        error = f'expects a 4-D (N, 3, H, W) input, got shape {tuple(shape)}'
    elif channels != 3:
        error = f'expects 3 input channels, got {channels}'
    elif min(shape[2:]) < 32:
        error = f'needs H and W >= 32, got {tuple(shape[2:])}'
    else:
        assert model(x)[-1].shape[:2] == (batch, 180)
        return
    with pytest.raises(ValueError, match=re.escape(error)):
        model(x)


# --------------------------------------------------------------------------------------------
# A config pointing at a missing dataset file.
# --------------------------------------------------------------------------------------------
def _config(path, **options):
    cfg = Config.fromfile(osp.join(ROOT, path))
    cfg.merge_from_dict(options)
    return cfg


def _missing(cfg, dataloaders=('train_dataloader', 'val_dataloader')):
    with pytest.raises(FileNotFoundError) as err:
        check_dataset_files(cfg, dataloaders)
    return str(err.value)


def test_missing_data_root_is_named_with_its_key(tmp_path):
    root = str(tmp_path / 'nowhere' / 'coco') + '/'
    cfg = _config('configs/det/retinanet/retinanet_emo2-1m_fpn_4xb4-1x_coco.py',
                  **{'train_dataloader.dataset.data_root': root})
    message = _missing(cfg)
    assert f"train_dataloader.dataset.data_root: '{root}' does not exist" in message
    assert "val_dataloader.dataset.data_root: 'data/coco/'" in message  # stock path, absent here
    assert 'ann_file' not in message  # not repeated below a missing root
    assert '--cfg-options train_dataloader.dataset.data_root=' in message


@pytest.mark.parametrize('config,key,relative', [
    ('configs/det/retinanet/retinanet_emo2-1m_fpn_4xb4-1x_coco.py', 'ann_file',
     'annotations/instances_train2017.json'),
    ('configs/det/ssdlite/ssdlite_emo2-1m_8xb24-600e_coco.py', 'ann_file',
     'annotations/instances_train2017.json'),  # inside RepeatDataset
    ('configs/seg/fpn/fpn_emo2-1m_4xb8-160k_ade20k-512x512.py', 'data_prefix.img_path',
     'images/training'),
    ('configs/cls/emo2/emo2-1m_8xb128_in1k.py', 'split', 'train'),
])
def test_missing_files_below_the_root_are_named(tmp_path, config, key, relative):
    cfg = Config.fromfile(osp.join(ROOT, config))
    dataset = cfg.train_dataloader.dataset
    dataset = dataset.get('dataset', dataset)
    dataset.data_root = str(tmp_path)
    message = _missing(cfg, ('train_dataloader', ))
    wrapped = '.dataset' if 'ssdlite' in config else ''
    assert (f'train_dataloader.dataset{wrapped}.{key}: '
            f"'{osp.join(str(tmp_path), relative)}' does not exist") in message


def test_existing_dataset_passes(tmp_path, monkeypatch):
    (tmp_path / 'train' / 'a').mkdir(parents=True)
    (tmp_path / 'val').mkdir()
    monkeypatch.setenv('EMO_MM_TEST_DATA', str(tmp_path))
    check_dataset_files(Config.fromfile(osp.join(CONFIGS, 'tiny_cls.py')),
                        ('train_dataloader', 'val_dataloader', 'test_dataloader'))
    remote = Config(dict(train_dataloader=dict(dataset=dict(data_root='s3://bucket/coco',
                                                            ann_file='a.json'))))
    check_dataset_files(remote)  # not checked: not a local path


# --------------------------------------------------------------------------------------------
# Wired into the tools (needs the lines listed in docs/failure_modes.md).
# --------------------------------------------------------------------------------------------
def _tool(name):
    return load_script(f'tools/{name}.py')


@pytest.mark.parametrize('tool', ['train', 'test'])
def test_tools_name_a_missing_dataset_before_starting(tool, tmp_path, monkeypatch):
    monkeypatch.setenv('EMO_MM_TEST_DATA', str(tmp_path / 'missing'))
    args = [osp.join(CONFIGS, 'tiny_cls.py'), '--work-dir', str(tmp_path / 'work')]
    if tool == 'test':
        args.insert(1, str(tmp_path / 'model.pth'))
    key = 'train_dataloader' if tool == 'train' else 'test_dataloader'
    with pytest.raises(FileNotFoundError, match=f"{key}.dataset.data_root: '{tmp_path}"):
        _tool(tool).main(args)


def test_train_tool_makes_runs_crash_safe():
    from emo_mm.cli import apply_train_args
    config = osp.join(CONFIGS, 'tiny_cls.py')
    cfg = Config.fromfile(config)
    apply_train_args(cfg, _tool('train').parse_train_args([config]))
    assert cfg.default_hooks.checkpoint.type == 'CrashSafeCheckpointHook'
    assert any(hook['type'] == 'StepSeedHook' for hook in cfg.custom_hooks)

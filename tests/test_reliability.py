"""Bad input gives clear errors: property-based tests of the backbones over random input and
batch sizes (they work or raise the documented error), and missing dataset files named with
their config key before a run starts. (Arguments, archs, converter input and checkpoint
files: tests/test_backbones.py, test_checkpoint.py, test_safe_loading.py.)"""
import copy
import functools
import glob
import os
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


def test_train_tool_adds_nothing_to_the_config():
    """The run is the config's: tools/train.py changes no hook, no loop, no seed (the
    frameworks' own train.py and mim train then run the same; see test_entry_points.py)."""
    from emo_mm.cli import apply_train_args
    config = osp.join(ROOT, 'configs', 'det', 'toy', 'ssdlite_emo2-1m_toy-det.py')
    cfg = Config.fromfile(config)
    before = {key: copy.deepcopy(cfg.get(key)) for key in KEYS_OF_THE_RUN}
    apply_train_args(cfg, _tool('train').parse_train_args([config]))
    assert {key: cfg.get(key) for key in KEYS_OF_THE_RUN} == before


KEYS_OF_THE_RUN = ('default_hooks', 'custom_hooks', 'train_cfg', 'randomness', 'env_cfg')


def test_a_config_without_crash_safety_is_named_and_run_as_it_is(tmp_path):
    from emo_mm.cli import apply_train_args
    from emo_mm.engine import crash_safety_gaps, make_crash_safe
    cfg = Config(dict(default_scope='mmpretrain',
                      default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1)),
                      custom_hooks=[dict(type='EMAHook')], train_cfg=dict(max_epochs=3)))
    gaps = crash_safety_gaps(cfg)
    assert gaps == ["default_hooks.checkpoint is 'CheckpointHook', not CrashSafeCheckpointHook",
                    'custom_hooks: no StepSeedHook', 'custom_hooks: no FiniteLossHook',
                    "train_cfg: mmengine's epoch-based loop, not ResumableEpochBasedTrainLoop "
                    '(a run resumed mid-epoch repeats that epoch)']
    logged = []
    from mmengine.logging import MMLogger
    logger = MMLogger.get_current_instance()
    logger.addFilter(lambda record: logged.append(record.getMessage()) or True)
    apply_train_args(cfg, _tool('train').parse_train_args(['x.py']))
    assert any('does not turn on all of crash safety' in line and 'StepSeedHook' in line
               for line in logged)
    assert cfg.default_hooks.checkpoint.type == 'CheckpointHook'  # run as it is
    make_crash_safe(cfg)
    assert crash_safety_gaps(cfg) == []
    assert [h['type'] for h in cfg.custom_hooks] == ['EMAHook', 'StepSeedHook', 'FiniteLossHook']
    assert cfg.train_cfg == dict(type='ResumableEpochBasedTrainLoop', max_epochs=3)
    iter_cfg = make_crash_safe(Config(dict(train_cfg=dict(type='IterBasedTrainLoop',
                                                          max_iters=9))))
    assert iter_cfg.train_cfg.type == 'ResumableIterBasedTrainLoop'


def _training_configs():
    for folder in ('cls', 'det', 'seg'):
        for path in sorted(glob.glob(osp.join(ROOT, 'configs', folder, '**', '*.py'),
                                     recursive=True)):
            yield osp.relpath(path, ROOT)


@pytest.mark.parametrize('config', list(_training_configs()))
def test_every_training_config_turns_on_crash_safety(config):
    from emo_mm.engine import crash_safety_gaps
    cfg = Config.fromfile(osp.join(ROOT, config))
    assert crash_safety_gaps(cfg) == []
    assert 'emo_mm' in cfg.custom_imports['imports']  # registers the hooks and loops
    assert 'by_epoch' not in cfg.train_cfg  # mmengine refuses it next to `type`


# --------------------------------------------------------------------------------------------
# Damaged inputs: the tools end with one line naming the file.
# --------------------------------------------------------------------------------------------
def _run_tool(args, env=None, expect=1):
    import subprocess
    import sys
    full_env = dict(os.environ, PYTHONWARNINGS='ignore', OMP_NUM_THREADS='1', **(env or {}))
    proc = subprocess.run([sys.executable, *args], cwd=ROOT, env=full_env, capture_output=True,
                          text=True, timeout=600)
    output = proc.stdout + proc.stderr
    assert proc.returncode == expect, output[-4000:]
    return proc.stderr.strip().splitlines()[-1] if expect else output


@pytest.fixture(scope='module')
def photo():
    import matplotlib.cbook
    return matplotlib.cbook.get_sample_data('grace_hopper.jpg', asfileobj=False)


def test_image_demo_names_an_empty_or_truncated_image(tmp_path, photo):
    empty = tmp_path / 'empty.jpg'
    empty.write_bytes(b'')
    data = open(photo, 'rb').read()
    cut = tmp_path / 'cut.jpg'
    cut.write_bytes(data[:len(data) // 2])
    last = _run_tool(['tools/image_demo.py', str(empty), 'emo2-1m_8xb128_in1k'], expect=2)
    assert last.endswith(f'error: {empty}: empty image file (0 bytes)'), last
    last = _run_tool(['tools/image_demo.py', str(cut), 'emo2-1m_8xb128_in1k'], expect=2)
    assert last.endswith(f'error: {cut}: damaged image (image file is truncated'
                         ) or f'error: {cut}: damaged image' in last, last


@pytest.fixture(scope='module')
def toy_cls(tmp_path_factory):
    root = tmp_path_factory.mktemp('toy_cls')
    load_script('tools/dataset_converters/make_toy_data.py').make_toy_data(
        str(root), seed=0, tasks=('cls', 'det'), classes=('circle', 'square'), cls_size=32,
        cls_train_per_class=4, cls_val_per_class=1, det_size=64, det_train=4, det_val=2,
        verbose=False)
    return root


def _damaged_copy(toy, tmp_path, task):
    import shutil
    shutil.copytree(toy / task, tmp_path / task)
    return tmp_path / task


@pytest.mark.parametrize('workers', [0, 2])
def test_training_names_a_damaged_image_and_its_dataset(toy_cls, tmp_path, workers):
    data = _damaged_copy(toy_cls, tmp_path, 'cls')
    bad = sorted((data / 'train' / 'square').glob('*.png'))[1]
    bad.write_bytes(b'')
    options = [f'train_dataloader.num_workers={workers}',
               f'train_dataloader.persistent_workers={workers > 0}', 'train_cfg.max_iters=4']
    args = ['tools/train.py', osp.join(CONFIGS, 'tiny_cls.py'), '--work-dir',
            str(tmp_path / 'work'), '--cfg-options', *options]
    last = _run_tool(args, env=dict(EMO_MM_TEST_DATA=str(data)))
    assert last == f'error: CustomDataset({data}): {bad}: empty image file (0 bytes)', last
    # opt-in: log it and train on another sample
    out = _run_tool(args + ['train_cfg.skip_bad_images=True'], env=dict(EMO_MM_TEST_DATA=str(data)),
                    expect=0)
    assert f'Skipped a damaged sample (skip_bad_images=True): CustomDataset({data}): {bad}' in out


def test_training_names_a_damaged_annotation_file(toy_cls, tmp_path):
    data = _damaged_copy(toy_cls, tmp_path, 'det')
    ann = data / 'annotations' / 'instances_train2017.json'
    text = ann.read_text()
    args = ['tools/train.py', osp.join(CONFIGS, 'tiny_det.py'), '--work-dir',
            str(tmp_path / 'work')]
    env = dict(EMO_MM_TEST_DATA=str(data))
    ann.write_text(text[:len(text) // 2])  # a cut-off download: found before the run
    last = _run_tool(args, env=env)
    assert last.startswith(f'error: {ann}: annotation file cut off'), last
    ann.write_text(text.replace('"images"', '"images" "', 1))  # broken inside
    last = _run_tool(args, env=env)
    assert last.startswith(f'error: {ann}: annotation file not valid JSON'), last


def test_train_names_a_missing_data_root_last(tmp_path):
    missing = tmp_path / 'missing'
    last = _run_tool(['tools/train.py', osp.join(CONFIGS, 'tiny_cls.py'), '--work-dir',
                      str(tmp_path / 'work')], env=dict(EMO_MM_TEST_DATA=str(missing)))
    assert last.startswith(f"error: train_dataloader.dataset.data_root: '{missing}' does not "
                           'exist (and 1 more'), last

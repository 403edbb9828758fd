"""The demo (tools/demo.py, emo_mm.demo): the drawing helpers, the console filter, the quick run's
configs, and a shortened end-to-end run (``--quick``) through the real tools that must learn
(losses fall, metrics beat trivial baselines) and write the pictures and the summary. The full
run's quality bar is not asserted here (it needs the full schedules: ``make demo``)."""
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from emo_mm import visualization as vis
from emo_mm.demo import DemoRun
from emo_mm.demo.log_filter import ConsoleFilter
from emo_mm.demo.report import run_command
from emo_mm.demo.tasks import BACKBONE_NAME, QUICK_DATA, TASKS
from emo_mm.testing import load_script
from emo_mm.toy_data.generate import DEFAULTS as TOY_DEFAULTS
from emo_mm.toy_data.shapes import SHAPES

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / 'tools' / 'demo.py'


demo = load_script(DEMO)


# --------------------------------------------------------------------------- drawing helpers
def test_draw_boxes_outlines_the_box_in_the_class_colour():
    img = np.full((32, 32, 3), 100, np.uint8)
    out = np.asarray(vis.draw_boxes(img, np.array([[4., 8., 20., 28.]]), [1], [0.87],
                                    ['a', 'b'], [(255, 0, 0), (0, 0, 255)], scale=2,
                                    line_width=1))
    assert out.shape == (64, 64, 3)
    # the left edge of the box, below the label, is drawn in class 1's colour
    assert (out[40:54, 8] == (0, 0, 255)).all()
    # far from the box and its label the image is unchanged (enlarged 2x)
    assert (out[60:, 50:] == 100).all()


def test_draw_boxes_without_scores_draws_ground_truth():
    img = np.zeros((16, 16, 3), np.uint8)
    out = vis.draw_boxes(img, [[0, 0, 8, 8]], [0], None, ['a'], [(0, 255, 0)], scale=4)
    assert out.size == (64, 64)


def test_overlay_mask_colours_exactly_the_labelled_pixels():
    img = np.zeros((8, 8, 3), np.uint8)
    seg = np.zeros((8, 8), np.int64)
    seg[2:6, 2:6] = 1
    seg[0, 0] = 255  # ignored
    out = np.asarray(vis.overlay_mask(img, seg, [(0, 0, 0), (200, 100, 0)], alpha=0.5,
                                      scale=1)).astype(int)
    assert (out[3:5, 3:5] == (100, 50, 0)).all()  # inside, away from the outline
    assert (out[7, 7] == 0).all() and (out[0, 0] == 0).all()
    with pytest.raises(ValueError, match='seg_map shape'):
        vis.overlay_mask(img, seg[:4], [(0, 0, 0)])


def test_layout_helpers_and_markdown_table():
    a, b = Image.new('RGB', (10, 20)), Image.new('RGB', (30, 5))
    assert vis.hstack([a, b], gap=2).size == (42, 20)
    assert vis.vstack([a, b], gap=2).size == (30, 27)
    assert vis.grid([a, b, a], ncols=2, gap=0).size == (40, 40)
    assert vis.caption(a, 'x\ny').height > 20
    table = vis.markdown_table(['k', 'v'], [['a|b', 1]])
    assert table.splitlines() == ['| k | v |', '|---|---|', '| a\\|b | 1 |']


# --------------------------------------------------------------------------- demo plumbing
def test_gpus_from_environment(monkeypatch):
    monkeypatch.setenv('DEMO_GPUS', '2')
    args = demo.parse_args([])
    assert args.gpus == 2 and args.work_dir == 'work_dirs/demo' and args.data_root == 'data/toy'
    quick = demo.parse_args(['--quick', '--work-dir', 'w'])
    assert quick.data_root == 'w/data'
    monkeypatch.setenv('DEMO_GPUS', '0')
    with pytest.raises(SystemExit):
        demo.parse_args([])


def test_seed_reaches_every_training_stage(tmp_path):
    """``--seed N`` is the ``randomness.seed`` of the three training runs; without it each
    config keeps its own."""
    assert demo.parse_args([]).seed is None
    args = demo.parse_args(['--seed', '7', '--work-dir', str(tmp_path)])
    seeded = DemoRun(str(ROOT), args.work_dir, args.data_root, seed=args.seed)
    unseeded = DemoRun(str(ROOT), str(tmp_path), str(tmp_path / 'data'))
    assert seeded.seeds() == {task: 7 for task in TASKS}
    assert unseeded.seeds() == dict(cls=42, det=42, seg=42)  # the configs' own
    for task in TASKS:
        assert 'randomness.seed=7' in seeded._cfg_options(task, [])
        assert not any(o.startswith('randomness.') for o in unseeded._cfg_options(task, []))
    # the summary names the command that reproduces the run
    assert run_command(False, 1, 7) == 'make demo DEMO_ARGS="--seed 7"'
    assert run_command(True, 1, 7) == 'python tools/demo.py --quick --seed 7'
    assert run_command(False, 2) == 'DEMO_GPUS=2 make demo'


def test_console_filter_hides_config_dumps_but_not_errors():
    shown = ConsoleFilter()
    lines = ['11/22 07:45:00 - mmengine - INFO - Config:', "model = dict(", ')',
             '11/22 07:45:01 - mmengine - INFO - paramwise_options -- a.b:lr=0.1',
             'Traceback (most recent call last):',
             '11/22 07:45:02 - mmengine - INFO - Epoch(train) [1][5/16]  loss: 1.6',
             'loading annotations into memory...']
    assert [line for line in lines if shown(line)] == lines[4:]


# keys in which a quick config may differ from its full config: the schedule, the batch sizes
# and the logging / checkpoint intervals that follow it
SCHEDULE_KEYS = ('max_epochs', 'max_iters', 'param_scheduler', 'train_cfg', 'default_hooks')


def _without(cfg_dict, keys):
    out = {k: v for k, v in cfg_dict.items() if k not in keys}
    for loader in ('train_dataloader', 'val_dataloader'):
        out[loader] = {k: v for k, v in out[loader].items() if k != 'batch_size'}
    return out


def _iterations(task, cfg, data_sizes):
    """Training iterations of ``cfg`` on toy data of ``data_sizes``."""
    if 'max_iters' in cfg.train_cfg:
        return cfg.train_cfg.max_iters
    images = data_sizes[f'{task}_train_per_class'] * len(SHAPES) if task == 'cls' else \
        data_sizes[f'{task}_train']
    return cfg.train_cfg.max_epochs * -(-images // cfg.train_dataloader.batch_size)


@pytest.mark.parametrize('task', sorted(TASKS))
def test_quick_config_changes_only_the_schedule(task):
    """The quick run trains the full run's model, data pipeline and optimizer, on a shorter
    schedule that ends with its training run."""
    from mmengine.config import Config
    full = Config.fromfile(str(ROOT / TASKS[task].config))
    quick = Config.fromfile(str(ROOT / TASKS[task].quick_config))
    assert _without(quick.to_dict(), SCHEDULE_KEYS) == _without(full.to_dict(), SCHEDULE_KEYS)
    assert quick.test_dataloader == full.test_dataloader  # evaluated as in the full run
    length = quick.train_cfg.get('max_epochs', quick.train_cfg.get('max_iters'))
    # shorter in iterations: an epoch of the quick toy set is a few batches
    assert _iterations(task, quick, QUICK_DATA) < _iterations(task, full, TOY_DEFAULTS)
    assert quick.param_scheduler[-1].end == length == quick.default_hooks.checkpoint.interval
    assert [s.type for s in quick.param_scheduler] == [s.type for s in full.param_scheduler]
    for hooks in ('logger', 'checkpoint'):  # only the intervals change
        assert {k: v for k, v in quick.default_hooks[hooks].items() if k != 'interval'} == \
            {k: v for k, v in full.default_hooks[hooks].items() if k != 'interval'}


# --------------------------------------------------------------------------- the quick run
# EMO_MM_DEMO_SEED=N runs the quick demo with ``--seed N`` (default: the configs' seeds)
QUICK_SEED = os.environ.get('EMO_MM_DEMO_SEED')


@pytest.fixture(scope='module')
def quick_run(tmp_path_factory):
    root = tmp_path_factory.mktemp('demo')
    work_dir, data_root = root / 'work', root / 'data'
    seed = [] if QUICK_SEED is None else ['--seed', QUICK_SEED]
    t = time.time()
    proc = subprocess.run(
        [sys.executable, str(DEMO), '--quick', '--work-dir', str(work_dir), '--data-root',
         str(data_root)] + seed,
        cwd=str(ROOT), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=1200)
    seconds = time.time() - t
    assert proc.returncode == 0, proc.stdout[-6000:]
    with open(work_dir / 'summary.json') as f:
        summary = json.load(f)
    return dict(work_dir=work_dir, data_root=data_root, stdout=proc.stdout, summary=summary,
                seconds=seconds)


@pytest.mark.slow
def test_quick_run_learns(quick_run):
    summary = quick_run['summary']
    assert summary['quick'] and summary['learned']
    if QUICK_SEED is not None:
        assert summary['seeds'] == {task: int(QUICK_SEED) for task in TASKS}
    for task in ('cls', 'det', 'seg'):
        res = summary['results'][task]
        assert res['loss_last'] < res['loss_first'], (task, res['losses'])
    checks = {c['metric']: c for c in summary['checks']}
    assert set(checks) == {'accuracy/top1', 'coco/bbox_mAP', 'coco/bbox_mAP_50', 'mIoU'}
    for c in checks.values():
        assert c['value'] > c['baseline'], c
    # chance is 1 / 5 classes; "everything is background" is well below 100 / 6 % mIoU
    assert checks['accuracy/top1']['baseline'] == pytest.approx(20.0)
    assert 0 < checks['mIoU']['baseline'] < 100 / 6


@pytest.mark.slow
def test_quick_run_uses_the_real_tools(quick_run):
    logs = quick_run['work_dir'] / 'logs'
    out = quick_run['stdout']
    for expected in ('tools/dataset_converters/make_toy_data.py', 'tools/train.py',
                     'tools/dist_train.sh', 'tools/test.py', 'emo_to_mmpretrain.py',
                     '--backbone-only'):
        assert expected in out, expected
    assert 'Converted EMOv2-1m (backbone only)' in (logs / 'convert.log').read_text()
    # the detector and the segmentor start from the converted classifier backbone
    backbone = str(quick_run['work_dir'] / 'cls' / BACKBONE_NAME)
    for task in ('det', 'seg'):
        log = (logs / f'{task}_train.log').read_text()
        assert re.search(r'Loaded \d+ tensors of EMOv2 from ' + re.escape(backbone), log), task
    # progress: stage banners with the elapsed time, and the tools' iteration logs
    assert out.count('[demo ') > 20 and '==== 10/10 Summary' in out
    assert 'Epoch(train)' in out and 'Iter(train)' in out


@pytest.mark.slow
def test_quick_run_writes_pictures_and_summary(quick_run):
    work_dir = quick_run['work_dir']
    for task in ('cls', 'det', 'seg'):
        path = work_dir / f'demo_{task}.png'
        img = np.asarray(Image.open(path))
        assert img.ndim == 3 and min(img.shape[:2]) >= 200, (path, img.shape)
        assert img.std() > 10, path  # not blank
    text = (work_dir / 'summary.md').read_text()
    for needed in ('classification', 'detection', 'segmentation', 'top-1', 'bbox mAP@[.5:.95]',
                   'mIoU', 'demo_det.png', 'python tools/demo.py --quick', 'total wall time',
                   TASKS['det'].quick_config):
        assert needed in text, needed


def test_table_prints_one_row_per_finished_run(tmp_path, capsys):
    def summary(seed, top1, passed):
        check = dict(task='cls', metric='accuracy/top1', label='top-1 (%)', value=top1,
                     bar=90.0, margin=top1 - 90.0, passed=passed, baseline=20.0,
                     beats_baseline=True)
        return dict(seed=seed, seeds={t: 42 if seed is None else seed for t in TASKS},
                    quick=False, gpus=1, passed=passed, learned=True, checks=[check],
                    total_seconds=61.0, machine=dict(load_start='0.1'))

    for name, seed, top1, passed in (('a', None, 95.5, True), ('b', 3, 65.5, False)):
        (tmp_path / name).mkdir()
        (tmp_path / name / 'summary.json').write_text(json.dumps(summary(seed, top1, passed)))
    assert demo.main(['--table', str(tmp_path / 'a'), str(tmp_path / 'b')]) == 0
    rows = capsys.readouterr().out.strip().splitlines()[2:]
    assert rows == ['| `make demo` | 42 / 42 / 42 | 95.50 (+5.50) | PASS | 01:01 | 0.1 |',
                    '| `make demo DEMO_ARGS="--seed 3"` | 3 / 3 / 3 | 65.50 (-24.50) | FAIL '
                    '| 01:01 | 0.1 |']
    assert demo.main(['--table', str(tmp_path / 'missing')]) == 1
    assert 'summary.json not found' in capsys.readouterr().err

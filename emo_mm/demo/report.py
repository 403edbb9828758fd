"""The demo's verdict and summary: the quality bar (full run), the learning checks (quick run)
against what a model that learned nothing scores, and ``summary.md`` / ``summary.json``."""
import glob
import json
import os.path as osp
from datetime import datetime
from typing import Dict, List, Optional

import numpy as np
from PIL import Image

from ..toy_data.files import read_lines
from ..visualization import markdown_table
from .progress import format_time
from .tasks import TASKS


def trivial_baselines(data_root: str) -> Dict[str, float]:
    """What a model that learned nothing scores on toy val, per metric key: chance top-1, no
    boxes (mAP 0), and "everything is background" for segmentation (IoU of the background =
    its pixel share, 0 for the other classes)."""
    classes = read_lines(osp.join(data_root, 'cls', 'meta', 'classes.txt'))
    seg_classes = read_lines(osp.join(data_root, 'seg', 'classes.txt'))
    background = total = 0
    for path in glob.glob(osp.join(data_root, 'seg', 'annotations', 'validation', '*.png')):
        label = np.asarray(Image.open(path))
        background += int((label == 1).sum())  # PNG value 1 = background, 0 = ignored
        total += int((label > 0).sum())
    return {
        'accuracy/top1': 100.0 / len(classes),
        'coco/bbox_mAP': 0.0,
        'coco/bbox_mAP_50': 0.0,
        'mIoU': 100.0 * background / max(total, 1) / len(seg_classes),
    }


def learning_checks(results: Dict[str, dict], data_root: str) -> List[dict]:
    """PASS / FAIL per metric of the quality bar with the margin over the bar (``value - bar``),
    and whether each metric beats the trivial baseline. Adds ``loss_first`` / ``loss_last`` (mean of the first / last quarter of the
    logged losses) and ``loss_falls`` to each task's ``results``."""
    baselines = trivial_baselines(data_root)
    checks = []
    for task_key, task in TASKS.items():
        res = results[task_key]
        losses = res['losses']
        k = max(1, len(losses) // 4)
        first, last = sum(losses[:k]) / k, sum(losses[-k:]) / k
        res['loss_first'], res['loss_last'] = first, last
        for metric in task.metrics:
            value = float(res['metrics'][metric.key])
            baseline = baselines[metric.key]
            checks.append(dict(task=task_key, metric=metric.key, label=metric.label, value=value,
                               bar=metric.bar, margin=value - metric.bar,
                               passed=value >= metric.bar, baseline=baseline,
                               beats_baseline=value > baseline))
        res['loss_falls'] = last < first
    return checks


def run_command(quick: bool, gpus: int, seed: Optional[int] = None) -> str:
    """The command that reproduces a run.

    Example:
        >>> run_command(False, 1), run_command(False, 2, seed=3)
        ('make demo', 'DEMO_GPUS=2 make demo DEMO_ARGS="--seed 3"')
        >>> run_command(True, 1, seed=0)
        'python tools/demo.py --quick --seed 0'
    """
    seed_arg = '' if seed is None else f'--seed {seed}'
    if quick:
        command = ' '.join(['python tools/demo.py --quick', seed_arg]).strip()
    else:
        command = f'make demo DEMO_ARGS="{seed_arg}"' if seed_arg else 'make demo'
    return f'DEMO_GPUS={gpus} ' + command if gpus > 1 else command


def write_summary(work_dir: str, *, results: Dict[str, dict], checks: List[dict],
                  configs: Dict[str, str], quick: bool, gpus: int, seed: Optional[int],
                  seeds: Dict[str, int], data_root: str,
                  started: datetime, total_seconds: float, stage_seconds: Dict[str, float],
                  machine: dict, load_end: str, pictures: Dict[str, str]) -> bool:
    """Write ``summary.md`` and ``summary.json`` into ``work_dir`` and print the table.

    Args:
        work_dir (str): The demo's output folder.
        results (dict): Per task: ``train_seconds``, ``checkpoint``, ``losses``, ``metrics``,
            ... (after :func:`learning_checks`).
        checks (list[dict]): From :func:`learning_checks`.
        configs (dict): The config of each task.
        quick (bool): A quick run (learning checks) or a full run (quality bar).
        gpus (int): The number of training processes.
        seed (int, optional): The ``--seed`` of the run (None: each config's own).
        seeds (dict): The training seed of each task.
        data_root (str): The toy data folder.
        started (datetime): When the run started.
        total_seconds (float): The run's wall time.
        stage_seconds (dict): The seconds of each stage.
        machine (dict): :func:`emo_mm.machine.describe_machine` with ``load_start``.
        load_end (str): The load average at the end.
        pictures (dict): The picture of each task.

    Returns:
        bool: Whether the run passed: the quality bar (full run) or the learning checks.
    """
    learned = all(c['beats_baseline'] for c in checks) and all(
        results[t]['loss_falls'] for t in TASKS)
    passed = all(c['passed'] for c in checks)
    rows = []
    for c in checks:
        res = results[c['task']]
        digits = 3 if c['bar'] < 1 else 2
        value = f'{c["value"]:.{digits}f}'
        status = ('PASS' if c['passed'] else 'FAIL') if not quick else (
            'learns' if c['beats_baseline'] and res['loss_falls'] else 'NO LEARNING')
        task = TASKS[c['task']]
        rows.append([
            task.name, task.model, f'`{configs[c["task"]]}`',
            f'{res["loss_first"]:.3f} → {res["loss_last"]:.3f}',
            format_time(res['train_seconds']), c['label'], value,
            f'{c["baseline"]:.3g}', f'≥ {c["bar"]:g}', f'{c["margin"]:+.{digits}f}', status])
    table = markdown_table(['task', 'model', 'config', 'train loss (first → last quarter)',
                            'train time', 'metric (toy val)', 'result', 'trivial baseline',
                            'bar', 'margin over the bar',
                            'status' if not quick else 'status (quick run)'], rows)
    command = run_command(quick, gpus, seed)
    seed_text = ', '.join(f'{task} {value}' for task, value in seeds.items()) + (
        ' (--seed)' if seed is not None else " (the configs' own)")
    stage_times = ', '.join(f'{k} {format_time(v)}' for k, v in stage_seconds.items())
    verdict = (f'**quality bar: {"PASS" if passed else "FAIL"}**' if not quick else
               f'**quick run: {"the pipeline learns" if learned else "NO LEARNING"}** '
               '(the quality bar applies to the full run)')
    text = [
        '# emo_mm demo: pretrain → finetune → evaluate on the toy dataset', '',
        f'Command: `{command}` — {verdict}', '',
        table, '',
        f'- total wall time: {format_time(total_seconds)} ({stage_times})',
        f'- machine: {machine["summary"]}; load average at start / end: '
        f'{machine["load_start"]} / {load_end}',
        f'- training processes: {gpus}; training seeds: {seed_text}; '
        f'started {started:%Y-%m-%d %H:%M}',
        f'- data: `{data_root}`; work dir: `{work_dir}` (logs in `logs/`)',
        '- pictures: `demo_cls.png` (predicted class and score, green = right), '
        '`demo_det.png` (predicted boxes | ground truth), `demo_seg.png` (image | predicted '
        'mask | ground truth)', '',
        '![classification](demo_cls.png)', '', '![detection](demo_det.png)', '',
        '![segmentation](demo_seg.png)', '',
    ]
    with open(osp.join(work_dir, 'summary.md'), 'w') as f:
        f.write('\n'.join(text))
    summary = dict(
        command=command, quick=quick, gpus=gpus, seed=seed, seeds=seeds, passed=passed,
        learned=learned,
        total_seconds=total_seconds, stage_seconds=stage_seconds, machine=machine,
        checks=checks, pictures=pictures, results=results)
    with open(osp.join(work_dir, 'summary.json'), 'w') as f:
        json.dump(summary, f, indent=1)
    print('\n' + table)
    print('\n'.join(text[2:3] + text[5:9]))
    return passed if not quick else learned


def seed_table(summaries: List[dict]) -> str:
    """One Markdown row per demo run (``summary.json`` of ``tools/demo.py``): the seeds, each
    metric with its margin over the bar (full run) or over the trivial baseline (quick run),
    the verdict, the wall time and the load average at the start.

    Example:
        >>> check = dict(metric='accuracy/top1', label='top-1 (%)', value=95.0, bar=90.0,
        ...              margin=5.0, passed=True, baseline=20.0, beats_baseline=True)
        >>> print(seed_table([dict(seed=None, seeds=dict(cls=42, det=42, seg=42), quick=False,
        ...     passed=True, learned=True, checks=[check], total_seconds=754.0,
        ...     machine=dict(load_start='0.2'))]))
        | run | seeds (cls / det / seg) | top-1 (%) | verdict | wall time | load at start |
        |---|---|---|---|---|---|
        | `make demo` | 42 / 42 / 42 | 95.00 (+5.00) | PASS | 12:34 | 0.2 |
    """
    if not summaries:
        raise ValueError('seed_table: no summaries given')
    labels = [c['label'] for c in summaries[0]['checks']]
    rows = []
    for s in summaries:
        cells = []
        for c in s['checks']:
            digits = 3 if c['bar'] < 1 else 2
            over = c['margin'] if not s['quick'] else c['value'] - c['baseline']
            cells.append(f'{c["value"]:.{digits}f} ({over:+.{digits}f})')
        verdict = ('PASS' if s['passed'] else 'FAIL') if not s['quick'] else (
            'learns' if s['learned'] else 'NO LEARNING')
        rows.append([f'`{run_command(s["quick"], s.get("gpus", 1), s["seed"])}`',
                     ' / '.join(str(s['seeds'][t]) for t in TASKS), *cells, verdict,
                     format_time(s['total_seconds']), s['machine']['load_start']])
    return markdown_table(['run', 'seeds (' + ' / '.join(TASKS) + ')', *labels, 'verdict',
                           'wall time', 'load at start'], rows).rstrip('\n')

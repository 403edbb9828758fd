"""The per-runtime latency suite (emo_mm.benchmark.runtimes, tools/analysis_tools/bench_runtimes.py)
on two tiny models at 64 x 64 and one round: table shape, ratio and target columns, the per-op-type
profiles of onnxruntime, OpenVINO and ExecuTorch and which models get one. No timing is
asserted (the machine may be loaded)."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
import torch.nn as nn

import emo_mm  # noqa: F401
from emo_mm.benchmark import resolve_config, runtimes
from emo_mm.models import EMO
from emo_mm.testing import load_script

SHAPE = (64, 64)
FAST = dict(warmup=1, repeats=1, min_time=0., flops=False)
ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CHILD = 'EMO_MM_TEST_IN_CHILD'


def ran_in_child(request) -> bool:
    """Run this test in a pytest process of its own; True in the parent once it passed there.

    Once OpenVINO's CPU plugin has run in a process, the next signal that CPython handles in
    it crashes the process (SIGSEGV in the dynamic linker's ``_dl_runtime_resolve_xsavec``,
    called from CPython's ``trip_signal``; seen on this project's Intel Xeon, not on a small
    model alone), and tests/test_crash_safety.py sends SIGTERM to its own process. So the
    tests that run OpenVINO leave the suite's process untouched."""
    if os.environ.get(CHILD):
        return False
    run = subprocess.run(
        [sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider', request.node.nodeid],
        cwd=ROOT, env=dict(os.environ, **{CHILD: '1'}), capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert '1 passed' in run.stdout.splitlines()[-1], run.stdout[-2000:]
    return True


def _tiny_models():
    """'emo-1m': a shallow EMO-1M backbone; 'edgenext-xxsmall': a small conv net (its peer)."""
    torch.manual_seed(0)
    emo = EMO(arch=dict(EMO.arch_zoo['1m'], depths=[1, 1, 2, 2]), window_size=2).eval()
    peer = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1), nn.ReLU(), nn.Conv2d(16, 32, 3, 2, 1),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10)).eval()
    return {'emo-1m': (emo, 'tiny-emo', False), 'edgenext-xxsmall': (peer, 'tiny-peer', True)}


@pytest.fixture(scope='module')
def models():
    return _tiny_models()


def test_every_model_of_the_suite_has_a_config():
    for name in list(runtimes.OURS) + runtimes.PEERS:
        assert osp.isfile(resolve_config(runtimes.OURS.get(name, name))[1]), name
    assert set(runtimes.EQUAL_FLOPS) == set(runtimes.OURS)
    assert set(runtimes.EQUAL_FLOPS.values()) <= set(runtimes.PEERS)
    assert set(runtimes.RUNTIMES) >= {'onnxruntime', 'executorch', 'openvino', 'litert'}


def test_table_rows_ratio_and_target(models):
    rows, profiles = runtimes.run_runtime(models, 'onnxruntime', SHAPE, **FAST)
    assert profiles == {}  # none asked for
    assert [r['name'] for r in rows] == ['emo-1m', 'edgenext-xxsmall']
    assert all(r['ms_per_image'] > 0 and len(r['seconds_per_step']) == 1 for r in rows), rows
    assert all(r['max_error'] < 1e-3 and r['export_s'] > 0 for r in rows)
    lines = runtimes.runtime_table(rows, 'onnxruntime')
    assert lines[0] == ('| model | params (M) | ms (median) | ms (min-max) | vs EdgeNeXt of '
                        'equal FLOPs: median · min | target |')
    assert len(lines) == 4 and all(line.count('|') == 7 for line in lines)
    ours, peer = lines[2].split(' | '), lines[3].split(' | ')
    ratio = rows[1]['ms_per_image'] / rows[0]['ms_per_image']
    assert ours[0] == '| **emo-1m**' and f'{ratio:.2f}× · ' in ours[4]
    assert '(edgenext-xxsmall)' in ours[4] and ours[5] == '1.2× |'
    assert peer[4] == '' and peer[5] == ' |'  # the peer has no ratio of its own


def test_failed_export_is_a_row(models, monkeypatch):
    from emo_mm.backends import OnnxBackend

    def refuse(self, module, x, path):
        raise RuntimeError('no such op')
    monkeypatch.setattr(OnnxBackend, 'convert', refuse)
    rows, _ = runtimes.run_runtime(models, 'onnxruntime', SHAPE, **FAST)
    assert all('no such op' in r['error'] and 'ms_per_image' not in r for r in rows)
    assert 'skipped: UnsupportedModel' in runtimes.runtime_table(rows, 'onnxruntime')[2]


@pytest.mark.parametrize('runtime', ['onnxruntime', 'openvino', 'executorch'])
def test_profile_per_op_type(request, runtime):
    if runtime == 'openvino' and ran_in_child(request):
        return
    models = _tiny_models()
    rows, profiles = runtimes.run_runtime(models, runtime, SHAPE, profile=['emo-1m'],
                                          profile_runs=3, **FAST)
    assert all(r['ms_per_image'] > 0 for r in rows)
    assert list(profiles) == ['emo-1m']
    p = profiles['emo-1m']
    assert len(p['ops']) >= 3 and all(ms >= 0 for ms in p['ops'].values())
    assert sum(p['ops'].values()) == pytest.approx(p['total_ms'])
    # the layers run inside the inference (loose: a loaded machine preempts inside layers)
    assert 0 < p['total_ms'] <= 3 * p['wall_ms'], p
    if runtime == 'openvino':
        assert any(op.startswith('Convolution [') for op in p['ops']), p['ops']
    elif runtime == 'onnxruntime':
        assert 'Conv' in p['ops'] or 'FusedConv' in p['ops'], p['ops']
    else:
        assert any(op.startswith('xnnpack: Convolution') for op in p['ops']), p['ops']
        assert p['delegated_ms'] + p['non_delegated_ms'] == pytest.approx(p['total_ms'])
    table = runtimes.profile_table(profiles, top=3)
    assert len(table) == 2 + 3 + 1 and table[-1].startswith('| **sum of the layers')


def test_misses_are_profiled_with_their_edgenext():
    """``misses`` in a profile list: each of ours below its target in that runtime (median
    ratio, or not timed at all), with its EdgeNeXt; a runtime without targets profiles none."""
    rows = [dict(name='emo-1m', ms_per_image=10.), dict(name='emo2-1m', ms_per_image=8.),
            dict(name='emo2-5m', ms_per_image=20.), dict(name='edgeformer-s', ms_per_image=50.),
            dict(name='emo-2m', error='no such op'),
            dict(name='edgenext-xxsmall', ms_per_image=11.),
            dict(name='edgenext-xsmall', ms_per_image=15.),
            dict(name='edgenext-small', ms_per_image=25.), dict(name='mobileone-s0',
                                                                ms_per_image=3.)]
    # executorch: emo-1m 1.1x < 1.2x, emo2-1m 1.375x met, emo2-5m 1.25x < 1.3x, emo-2m not timed
    assert runtimes.profiled_names(rows, 'executorch', ['misses']) == [
        'emo-1m', 'emo2-5m', 'emo-2m', 'edgenext-xxsmall', 'edgenext-xsmall', 'edgenext-small']
    # openvino (1.0x): only the untimed one; names and misses together
    assert runtimes.profiled_names(rows, 'openvino', ['mobileone-s0', 'misses']) == [
        'emo-2m', 'edgenext-xsmall', 'mobileone-s0']
    assert runtimes.profiled_names(rows, 'ncnn', ['misses']) == []
    assert runtimes.profiled_names(rows, 'executorch', ['emo2-1m']) == ['emo2-1m']
    profiles = {n: dict(ops={'Conv': 1.}, total_ms=1., wall_ms=1.)
                for n in ('emo-1m', 'emo2-5m', 'edgenext-xxsmall', 'edgenext-small')}
    assert runtimes._profile_groups(profiles) == [['emo-1m', 'edgenext-xxsmall'],
                                                  ['emo2-5m', 'edgenext-small']]


def test_tool_writes_runtime_tables_and_index(request, tmp_path, monkeypatch, capsys):
    if ran_in_child(request):
        return
    models = _tiny_models()
    tool = load_script('tools/analysis_tools/bench_runtimes.py')
    monkeypatch.setattr(runtimes, 'build_models', lambda names: {n: models[n] for n in names})
    tool.main(['--runtimes', 'onnxruntime', 'openvino', '--models', 'emo-1m', 'edgenext-xxsmall',
               '--shape', '64', '--warmup', '1', '--repeats', '1', '--min-time', '0',
               '--no-flops', '--profile', '--profile-runs', '2', '--out-dir', str(tmp_path)])
    for runtime in ('onnxruntime', 'openvino'):
        with open(tmp_path / f'runtime_{runtime}' / 'benchmark.json') as f:
            data = json.load(f)
        assert data['meta']['machine']['threads'] == 2 and data['meta']['runtime'] == runtime
        assert [r['name'] for r in data['results']] == ['emo-1m', 'edgenext-xxsmall']
        # no names: emo-1m and its EdgeNeXt, and the misses (the tiny peer is faster here)
        assert list(data['profiles']) == ['emo-1m', 'edgenext-xxsmall'], data['profiles']
    index = (tmp_path / 'runtimes.md').read_text()
    assert index.index('### onnxruntime: batch-1') < index.index('### openvino: batch-1')
    assert 'Command: `python tools/analysis_tools/bench_runtimes.py --runtimes onnxruntime' in index
    assert 'Per-layer profile in openvino' in index and 'Load average' in index
    assert 'Per-layer profile in onnxruntime' in index
    assert 'Per-layer profile in openvino' in capsys.readouterr().out


def test_threads_option(tmp_path, monkeypatch):
    """``--threads 1`` loads every runtime with one thread (recorded in the table) and leaves
    the default of the process as it was."""
    from emo_mm.backends.base import THREADS, threads
    models = _tiny_models()
    tool = load_script('tools/analysis_tools/bench_runtimes.py')
    monkeypatch.setattr(runtimes, 'build_models', lambda names: {n: models[n] for n in names})
    seen = []
    run_runtime = runtimes.run_runtime
    monkeypatch.setattr(runtimes, 'run_runtime',
                        lambda *a, **k: seen.append(threads()) or run_runtime(*a, **k))
    tool.main(['--runtimes', 'onnxruntime', '--models', 'emo-1m', '--shape', '64', '--warmup',
               '1', '--repeats', '1', '--min-time', '0', '--no-flops', '--threads', '1',
               '--out-dir', str(tmp_path)])
    with open(tmp_path / 'runtime_onnxruntime' / 'benchmark.json') as f:
        assert json.load(f)['meta']['machine']['threads'] == 1
    assert seen == [1] and threads() == THREADS


def test_runtimes_block_of_the_docs(tmp_path):
    """The docs/performance.md block of `make bench`: every runtime run found, each of ours
    against its EdgeNeXt (median ratio, bold where the target is met), models that did not
    load, and the count of targets met."""
    docs = load_script('tools/analysis_tools/bench_docs.py')
    assert docs.runtimes_table(str(tmp_path)) is None  # nothing run: the block stays as it is
    meta = dict(machine=dict(cpu='Some CPU', logical_cpus=2, threads=2, torch='2.x'),
                date='2026-12-07 13:03:10', load_start=0.4)
    for runtime, ours_ms in (('executorch', 8.), ('openvino', 12.)):
        rows = [dict(name='emo-1m', ms_per_image=ours_ms), dict(name='emo2-5m', error='x'),
                dict(name='edgenext-xxsmall', ms_per_image=10.),
                dict(name='edgenext-small', ms_per_image=20.)]
        os.makedirs(tmp_path / f'runtime_{runtime}')
        with open(tmp_path / f'runtime_{runtime}' / 'benchmark.json', 'w') as f:
            json.dump(dict(meta=dict(meta, runtime_version='9.9'), results=rows,
                           args=dict(shape=[64], part='backbone', repeats=3, min_time=0.5)), f)
    text = docs.runtimes_table(str(tmp_path))
    assert 'on Some CPU (2 logical CPUs), 2 threads' in text and 'load average at start 0.4' in text
    assert '64 x 64, fp32 backbones in deploy form, the 4 models of a runtime timed interleaved ' \
           '(median of 3 measurements of >= 0.5 s' in text
    assert '| ours (EdgeNeXt of equal FLOPs) | executorch 9.9 (target 1.2× / 1.3×) | openvino ' \
           '9.9 (target 1.0×) |' in text
    line = next(t for t in text.splitlines() if t.startswith('| emo-1m '))
    assert line == ('| emo-1m (edgenext-xxsmall) | **1.25× (8.0 vs 10.0 ms)** | '
                    '0.83× (12.0 vs 10.0 ms) |')
    line = next(t for t in text.splitlines() if t.startswith('| emo2-5m '))
    assert line.count('not timed: emo2-5m does not load') == 2
    line = next(t for t in text.splitlines() if t.startswith('| emo2-1m '))
    assert line == '| emo2-1m (edgenext-xxsmall) |  |  |'  # not in these runs
    assert 'Targets met in this run: 1 of 4 (bold).' in text  # emo2-5m not timed: 2 misses


def test_make_bench_runs_the_runtime_suites(monkeypatch):
    docs = load_script('tools/analysis_tools/bench_docs.py')
    commands = []
    monkeypatch.setattr(docs.subprocess, 'run', lambda cmd, **kw: commands.append(cmd[1:]))
    monkeypatch.setattr(docs, 'summarise', lambda: None)
    docs.main(['--only', 'runtime_openvino', 'runtimes'])
    assert commands == [
        ['tools/analysis_tools/bench_runtimes.py', '--runtimes', 'openvino', '--profile',
         '--out-dir', 'docs/benchmarks'],
        ['tools/analysis_tools/bench_runtimes.py', '--profile', '--out-dir', 'docs/benchmarks']]
    commands.clear()
    docs.main([])  # the default: every suite, the runtimes in one run at the end
    assert commands[-1][0] == 'tools/analysis_tools/bench_runtimes.py' and len(commands) == 7

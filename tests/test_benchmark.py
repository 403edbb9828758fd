"""tools/analysis_tools/benchmark.py (and emo_mm.benchmark) at tiny settings."""
import json
import os.path as osp

import pytest

import emo_mm  # noqa: F401
from emo_mm.benchmark import resolve_config, short_name
from emo_mm.testing import load_script

HERE = osp.dirname(osp.abspath(__file__))
ROOT = osp.dirname(HERE)
EMO2_1M = osp.join(ROOT, 'configs/cls/emo2/emo2-1m_8xb128_in1k.py')
SSDLITE = osp.join(ROOT, 'configs/det/ssdlite/ssdlite_emo2-1m_8xb24-600e_coco.py')
TINY = ['--batch-size', '2', '--shape', '64', '--warmup', '1', '--repeats', '2', '--threads', '2']


@pytest.fixture(scope='module')
def benchmark():
    return load_script('tools/analysis_tools/benchmark.py')


def _outputs(folder):
    with open(folder / 'benchmark.json') as f:
        data = json.load(f)
    return data, (folder / 'benchmark.md').read_text()


def test_classifiers_with_peer_deploy_and_onnx(benchmark, tmp_path):
    rows = benchmark.main([EMO2_1M, '--peers', 'mobilenet-v2', '--deploy', '--onnx', '--out-dir',
                           str(tmp_path), '--title', 'tiny'] + TINY)
    labels = [r['label'] for r in rows]
    assert labels == ['emo2-1m', 'emo2-1m (deploy)', 'emo2-1m (onnxruntime)', 'mobilenet-v2',
                      'mobilenet-v2 (onnxruntime)']
    assert all(r['img_per_s'] > 0 and len(r['seconds_per_step']) == 2 for r in rows), rows
    assert rows[0]['params'] == 1460844 and not rows[0]['peer'] and rows[3]['peer']
    data, text = _outputs(tmp_path)
    assert data['meta']['reference'] == 'mobilenet-v2' and data['meta']['machine']['threads'] == 2
    assert '### tiny' in text and '| **emo2-1m (deploy)** |' in text and 'vs mobilenet-v2' in text
    assert 'Command: `python tools/analysis_tools/benchmark.py' in text and 'Load average' in text
    assert '; CPU fast path: private oneDNN kernels' in text or '; CPU fast path: public ops' in text
    assert (tmp_path / 'benchmark.png').stat().st_size > 10_000


def test_train_step_and_backbone_only(benchmark, tmp_path):
    rows = benchmark.main([f'mine={EMO2_1M}', '--peers', 'edgenext-xxsmall', '--mode', 'train',
                           '--backbone-only', '--flops', '--reference', 'mine', '--profile', '3',
                           '--out-dir', str(tmp_path)] + TINY)
    assert [(r['label'], r['variant']) for r in rows] == [('mine', 'train'), ('edgenext-xxsmall', 'train')]
    assert rows[0]['params'] == 1279844  # the backbone (with its final norm), no head
    assert all(r['img_per_s'] > 0 and r['flops'] > 0 and len(r['profile']) == 3 for r in rows)
    text = _outputs(tmp_path)[1]
    assert 'training step (forward + backward)' in text and 'Profile of one step of mine' in text


def test_detector_end_to_end_against_stock_ssdlite(benchmark, tmp_path):
    rows = benchmark.main([SSDLITE, '--e2e', '--batch-size', '1', '--shape', '120', '160',
                           '--warmup', '1', '--repeats', '1', '--out-dir', str(tmp_path)])
    assert [r['label'] for r in rows] == ['ssdlite_emo2-1m', 'ssdlite-mobilenetv2']
    assert all(r['img_per_s'] > 0 for r in rows)
    assert 'end to end' in _outputs(tmp_path)[1]


def test_names_and_arguments(benchmark):
    assert short_name('configs/cls/emo/emo-1m_8xb256_in1k.py') == 'emo-1m'
    assert short_name(SSDLITE) == 'ssdlite_emo2-1m'
    name, path = resolve_config('edgenext-small')
    assert name == 'edgenext-small' and osp.isfile(path)
    assert resolve_config(f'x={EMO2_1M}') == ('x', EMO2_1M)
    with pytest.raises(FileNotFoundError, match='peer names'):
        resolve_config('no-such-model')
    with pytest.raises(SystemExit):
        benchmark.parse_args([EMO2_1M, '--e2e', '--onnx'])
    with pytest.raises(SystemExit):
        benchmark.parse_args(['--peers', 'none'])
    with pytest.raises(SystemExit):
        benchmark.parse_args([EMO2_1M, '--batch-size', '0'])


def test_bench_docs_summary(tmp_path):
    """make bench's summary: ratios of the same-run medians, targets marked, blocks replaced."""
    docs = load_script('tools/analysis_tools/bench_docs.py')

    def row(label, ms):
        return dict(label=label, img_per_s=1000 / ms, ms_per_image=ms, ms_per_image_min=ms - 1,
                    ms_per_image_max=ms + 1)
    rows = [row('emo-1m', 12.), row('emo-1m (deploy)', 8.), row('emo-1m (onnxruntime)', 10.),
            row('edgenext-xxsmall', 10.), row('edgenext-xxsmall (onnxruntime)', 6.)]
    run = dict(meta={}, rows={r['label']: r for r in rows})
    table = docs.speed_table(run, run)
    assert '| EMO-1M (EdgeNeXt-XXS) | 8.0 (7.0-9.0) | 10.0 (9.0-11.0) | **1.25×** · **1.25×** | ' \
        '0.60× · 0.60× | 0.83× · 0.83× |' in table
    assert 'Targets met in this run: 2 of 6' in table
    page = tmp_path / 'page.md'
    page.write_text('a\n<!-- bench:speed -->\nold\n<!-- /bench:speed -->\nb\n')
    docs.replace_block(str(page), 'bench:speed', 'new')
    assert page.read_text() == 'a\n<!-- bench:speed -->\nnew\n<!-- /bench:speed -->\nb\n'
    with pytest.raises(ValueError, match='markers'):
        docs.replace_block(str(page), 'other', 'x')

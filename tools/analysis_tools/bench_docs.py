"""Regenerate every published speed table (``make bench``): the runs in docs/benchmarks/, the
summary docs/benchmarks/summary.md, and the generated blocks of README.md ("Speed") and
docs/performance.md ("Targets").

    python tools/analysis_tools/bench_docs.py [--only SUITE ...] [--summary-only] [--threads N]
        [--shared]

Each suite is one run of tools/analysis_tools/benchmark.py (its command is in its benchmark.md),
but ``runtimes`` (every export runtime) and ``runtime_<RT>`` (one of onnxruntime, executorch,
openvino, litert, ncnn, mnn): one run of tools/analysis_tools/bench_runtimes.py, writing
docs/benchmarks/runtime_<RT>/ and docs/benchmarks/runtimes.md (``make bench BENCH_ARGS='--only
runtimes'`` runs just these).
``--summary-only`` rebuilds the summary and the doc blocks from the JSON already there.
``--shared`` (a machine other jobs load) runs with ``OMP_WAIT_POLICY=PASSIVE``: PyTorch's
OpenMP threads then sleep instead of spinning at each barrier, without which 2-thread PyTorch
runs 10-100x slower once other processes compete for the cores (docs/performance.md).
"""
import argparse
import os
import os.path as osp
import subprocess
import sys
from typing import Optional

from emo_mm.benchmark.runtimes import RUNTIMES

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
OUT = osp.join('docs', 'benchmarks')
#: (ours, peer): EMO / EMOv2 1M-5M and the EdgeNeXt of the matching size, with the target ratio.
PAIRS = [('emo-1m', 'edgenext-xxsmall', 1.2), ('emo2-1m', 'edgenext-xxsmall', 1.2),
         ('emo-2m', 'edgenext-xsmall', 1.2), ('emo2-2m', 'edgenext-xsmall', 1.2),
         ('emo-5m', 'edgenext-small', 1.3), ('emo2-5m', 'edgenext-small', 1.3)]
PEER_NAMES = {'edgenext-xxsmall': 'EdgeNeXt-XXS', 'edgenext-xsmall': 'EdgeNeXt-XS',
              'edgenext-small': 'EdgeNeXt-S'}
OUR_NAMES = {'emo-1m': 'EMO-1M', 'emo2-1m': 'EMOv2-1M', 'emo-2m': 'EMO-2M', 'emo2-2m': 'EMOv2-2M',
             'emo-5m': 'EMO-5M', 'emo2-5m': 'EMOv2-5M'}
CONFIGS = [f'configs/cls/{"emo2" if n.startswith("emo2") else "emo"}/{n}_8xb'
           f'{128 if n.startswith("emo2") else 256}_in1k.py' for n, _, _ in PAIRS]
BACKBONES = CONFIGS + ['--peers', 'edgenext-xxsmall', 'edgenext-xsmall', 'edgenext-small',
                       '--backbone-only', '--deploy', '--onnx']
FAMILIES_5M = ['configs/cls/edgeformer/edgeformer-s_8xb128_in1k.py', CONFIGS[4], CONFIGS[5]]
SUITES = {
    'cpu_bs1': BACKBONES + ['--batch-size', '1', '--min-time', '1', '--repeats', '7', '--title',
                            'Backbones, CPU batch-1 latency (2 threads, 224x224, fp32)'],
    'cpu_bs32': BACKBONES + ['--batch-size', '32', '--min-time', '1', '--repeats', '5', '--title',
                             'Backbones, CPU throughput (2 threads, batch 32, 224x224, fp32)'],
    'cpu_cls': CONFIGS[:2] + [
        '--peers', 'edgenext-xxsmall', '--deploy', '--batch-size', '32', '--min-time', '1',
        '--title', 'Classifiers (backbone + head), CPU (2 threads, batch 32, 224x224, fp32)'],
    'cpu_det': ['configs/det/ssdlite/ssdlite_emo2-1m_8xb24-600e_coco.py', '--e2e', '--batch-size',
                '1', '--shape', '320', '--min-time', '1', '--repeats', '7', '--title',
                'SSDLite end to end, CPU batch-1 latency (2 threads, 320x320 image to boxes)'],
    # the 5M backbones of both families next to EdgeNeXt-S (ours: EdgeFormer-S, EMO-5M, EMOv2-5M)
    'cpu_5m_families': FAMILIES_5M + ['--peers', 'edgenext-small', '--backbone-only', '--deploy',
                                      '--batch-size', '1', '--min-time', '1', '--repeats', '5',
                                      '--title', '5M backbones, CPU batch-1 latency (2 threads, '
                                      '224x224, fp32)'],
    'cpu_train': CONFIGS[:2] + ['--mode', 'train', '--batch-size', '16', '--peers',
                                'edgenext-xxsmall', 'mobilevit-xxsmall', 'mobilenet-v2',
                                '--reference', 'edgenext-xxsmall', '--min-time', '1', '--title',
                                'Training step, CPU (forward + backward, 2 threads, batch 16, '
                                '224x224, fp32)'],
}


#: Suites of tools/analysis_tools/bench_runtimes.py (docs/benchmarks/runtime_<RT>/ and
#: runtimes.md): every runtime in one run (``runtimes``, part of the default) or one each.
RUNTIME_SUITES = dict({'runtimes': ['--profile']},
                      **{f'runtime_{rt}': ['--runtimes', rt, '--profile'] for rt in RUNTIMES})


def run_suite(name: str, threads: int, shared: bool) -> None:
    if name in RUNTIME_SUITES:  # the runtimes' own thread settings: 2 (emo_mm.backends.base)
        cmd = [sys.executable, 'tools/analysis_tools/bench_runtimes.py'] + RUNTIME_SUITES[name] \
            + ['--out-dir', OUT]
    else:
        cmd = [sys.executable, 'tools/analysis_tools/benchmark.py'] + SUITES[name] + [
            '--threads', str(threads), '--out-dir', osp.join(OUT, name)]
    env = dict(os.environ, OMP_WAIT_POLICY='PASSIVE') if shared else None
    print(f'[bench] {name}: {" ".join(cmd[1:])}', flush=True)
    subprocess.run(cmd, cwd=ROOT, check=True, env=env)


def load(name: str) -> dict:
    import json
    with open(osp.join(ROOT, OUT, name, 'benchmark.json')) as f:
        data = json.load(f)
    return dict(meta=data['meta'], rows={r['label']: r for r in data['results'] if 'img_per_s' in r})


def _ratio(run: dict, ours: str, peer: str) -> float:
    a, b = run['rows'].get(ours), run['rows'].get(peer)
    return a['img_per_s'] / b['img_per_s'] if a and b else float('nan')


def _ms(row: dict) -> str:
    return f'{row["ms_per_image"]:.1f} ({row["ms_per_image_min"]:.1f}-{row["ms_per_image_max"]:.1f})'


def _mark(value: float, target: float) -> str:
    return f'**{value:.2f}×**' if value >= target else f'{value:.2f}×'


def speed_table(bs1: dict, bs32: dict) -> str:
    """README table: batch-1 latency of the deploy form and every ratio to the peer."""
    lines = ['| model (peer) | batch-1 latency, ms: deploy form (min-max) | peer | '
             'deploy / peer bs1 · bs32 | onnxruntime / peer bs1 · bs32 | eval / peer bs1 · bs32 |',
             '|---|---|---|---|---|---|']
    met = total = 0
    for ours, peer, target in PAIRS:
        mine = bs1['rows'].get(f'{ours} (deploy)')
        other = bs1['rows'].get(peer)
        if not (mine and other):
            continue
        cells = [f'{OUR_NAMES[ours]} ({PEER_NAMES[peer]})', _ms(mine), _ms(other)]
        for mine_variant, peer_variant in ((' (deploy)', ''), (' (onnxruntime)', ' (onnxruntime)'),
                                           ('', '')):
            goal = 1.0 if mine_variant == '' else target
            ratios = [_ratio(run, ours + mine_variant, peer + peer_variant) for run in (bs1, bs32)]
            met += sum(r >= goal for r in ratios)
            total += len(ratios)
            cells.append(' · '.join(_mark(r, goal) for r in ratios))
        lines.append('| ' + ' | '.join(cells) + ' |')
    lines += ['', f'Targets met in this run: {met} of {total} (bold).']
    return '\n'.join(lines)


def other_lines(det: dict, train: dict) -> str:
    ssd = det['rows'].get('ssdlite_emo2-1m')
    peer = det['rows'].get('ssdlite-mobilenetv2')
    lines = []
    if ssd and peer:
        lines.append(f'- SSDLite-EMOv2-1M end to end (320×320 image file to boxes, batch 1): '
                     f'{_ms(ssd)} ms against {_ms(peer)} ms for the stock SSDLite-MobileNetV2.')
    ref = train['rows'].get('edgenext-xxsmall')
    if ref:
        ratios = ', '.join(f'{OUR_NAMES[n]} {train["rows"][n]["img_per_s"] / ref["img_per_s"]:.2f}×'
                           for n in ('emo-1m', 'emo2-1m') if n in train['rows'])
        lines.append(f'- Training step (forward + backward, batch 16) against EdgeNeXt-XXS: {ratios}.')
    return '\n'.join(lines)


def machine_line(run: dict) -> str:
    info, meta = run['meta']['machine'], run['meta']
    return (f'Measured by `make bench` on {info["cpu"]} ({info["logical_cpus"]} logical CPUs), '
            f'{info["threads"]} threads, torch {info["torch"]}, onnxruntime '
            f'{info.get("onnxruntime", "-")}, OMP_WAIT_POLICY={info.get("omp_wait_policy", "default")}, '
            f'{meta["date"][:10]}; load average at start {meta["load_start"]:.1f}: '
            + ('a machine shared with other jobs, expect ±20 % between runs.'
               if meta['load_start'] > 0.5 * info['logical_cpus'] else 'a quiet machine.'))


def replace_block(path: str, tag: str, text: str) -> None:
    """Replace the text between ``<!-- tag -->`` and ``<!-- /tag -->`` in ``path``."""
    full = osp.join(ROOT, path)
    with open(full) as f:
        content = f.read()
    start, end = f'<!-- {tag} -->', f'<!-- /{tag} -->'
    if start not in content or end not in content:
        raise ValueError(f'{path}: markers {start} ... {end} not found')
    head, rest = content.split(start, 1)
    tail = rest.split(end, 1)[1]
    with open(full, 'w') as f:
        f.write(f'{head}{start}\n{text}\n{end}{tail}')


def runtimes_table(out: str = OUT) -> Optional[str]:
    """docs/performance.md block: each of ours against its EdgeNeXt of equal FLOPs in every
    runtime of the last ``bench_runtimes.py`` runs in ``out`` (``runtime_<RT>/benchmark.json``):
    median-latency ratio (ms ours vs EdgeNeXt), bold where the target of issue 20 is met; None
    when no runtime was run."""
    import json

    from emo_mm.benchmark import runtimes
    runs = {}
    for runtime in RUNTIMES:
        path = osp.join(ROOT, out, f'runtime_{runtime}', 'benchmark.json')
        if osp.isfile(path):
            with open(path) as f:
                runs[runtime] = json.load(f)
    if not runs:
        return None
    header = ['ours (EdgeNeXt of equal FLOPs)']
    for runtime, run in runs.items():
        goals = sorted({runtimes.target(runtime, n) for n in runtimes.OURS} - {None})
        header.append(f'{runtime} {run["meta"]["runtime_version"]}'
                      + (f' (target {" / ".join(f"{g:.1f}×" for g in goals)})' if goals else ''))
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    met = total = 0
    for name, peer in runtimes.EQUAL_FLOPS.items():
        cells = [f'{name} ({peer})']
        for runtime, run in runs.items():
            rows = {r['name']: r for r in run['results']}
            mine, other = rows.get(name), rows.get(peer)
            goal = runtimes.target(runtime, name)
            if mine is None or other is None:  # not in this run
                cells.append('')
                continue
            total += bool(goal)
            if 'ms_per_image' not in mine or 'ms_per_image' not in other:  # a miss
                cells.append(f'not timed: {name if "ms_per_image" not in mine else peer} '
                             'does not load')
                continue
            ratio = other['ms_per_image'] / mine['ms_per_image']
            text = f'{ratio:.2f}× ({mine["ms_per_image"]:.1f} vs {other["ms_per_image"]:.1f} ms)'
            met += bool(goal) and ratio >= goal
            cells.append(f'**{text}**' if goal and ratio >= goal else text)
        lines.append('| ' + ' | '.join(cells) + ' |')
    run = next(iter(runs.values()))
    first, args, info = run['meta'], run['args'], run['meta']['machine']
    h, w = (args['shape'] * 2)[:2]
    lines = [f'Measured by `make bench BENCH_ARGS=\'--only runtimes\'` on {info["cpu"]} '
             f'({info["logical_cpus"]} logical CPUs), {info["threads"]} threads, torch '
             f'{info["torch"]}, {first["date"][:10]}, load average at start '
             f'{first["load_start"]:.1f}; batch 1, {h} x {w}, fp32 '
             f'{"classifiers" if args["part"] == "model" else "backbones"} in deploy form, the '
             f'{len(run["results"])} models of a runtime timed interleaved (median of '
             f'{args["repeats"]} measurements of >= {args["min_time"]:g} s; min-max, profiles '
             'and the peers in [benchmarks/runtimes.md](benchmarks/runtimes.md)). Ratio = '
             'EdgeNeXt latency / ours.', ''] + lines
    lines += ['', f'Targets met in this run: {met} of {total} (bold).']
    return '\n'.join(lines)


def summarise() -> None:
    table = runtimes_table()
    if table is not None:
        replace_block('docs/performance.md', 'bench:runtimes', table)
        print(table)
    bs1, bs32 = load('cpu_bs1'), load('cpu_bs32')
    table = speed_table(bs1, bs32)
    extra = other_lines(load('cpu_det'), load('cpu_train'))
    note = machine_line(bs1)
    block = f'{note}\n\n{table}\n\n{extra}'
    with open(osp.join(ROOT, OUT, 'summary.md'), 'w') as f:
        f.write(f'# Speed summary (generated by `make bench`)\n\n{block}\n')
    replace_block('README.md', 'bench:speed', block)
    replace_block('docs/performance.md', 'bench:speed', block)
    print(block)


def main(argv=None):
    parser = argparse.ArgumentParser(description='Regenerate the published speed tables')
    parser.add_argument('--only', nargs='+', choices=list(SUITES) + list(RUNTIME_SUITES),
                        help='run only these suites (runtimes: the per-runtime latency tables, '
                        'docs/benchmarks/runtimes.md; runtime_<RT>: one runtime)')
    parser.add_argument('--summary-only', action='store_true',
                        help='only rebuild the summary and doc blocks from the existing JSON')
    parser.add_argument('--threads', type=int, default=2, help='CPU threads (default 2)')
    parser.add_argument('--shared', action='store_true',
                        help='a machine loaded by other jobs: OMP_WAIT_POLICY=PASSIVE')
    args = parser.parse_args(argv)
    if not args.summary_only:
        for name in args.only or list(SUITES) + ['runtimes']:
            run_suite(name, args.threads, args.shared)
    summarise()


if __name__ == '__main__':
    main()

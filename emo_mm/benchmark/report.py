"""Benchmark outputs: machine description, markdown table, JSON and throughput chart."""
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Tuple

from .cases import VARIANTS


def settings_text(args, shapes: Dict[str, Tuple[int, int]]) -> str:
    """One line: what was timed, precision, batch, sizes, options, warm-up and repeats."""
    sizes = sorted({f'{h}x{w}' for h, w in shapes.values()})
    what = 'training step (forward + backward)' if args.mode == 'train' else \
        ('inference end to end (raw image to predictions)' if args.e2e else 'inference')
    precision = 'AMP' if args.amp else 'fp32'
    extras = [n for n, on in (('channels_last', args.channels_last), ('torch.compile', args.compile),
                              ('backbones only', args.backbone_only),
                              ('without the CPU fast path', args.no_fast_cpu)) if on]
    text = (f'{what}, {precision}, batch {args.batch_size}, {"raw image " if args.e2e else ""}'
            f'{"/".join(sizes)}{", " + ", ".join(extras) if extras else ""}; warm-up '
            f'{args.warmup}, median of {args.repeats} interleaved measurements of >= '
            f'{args.min_time:g} s')
    if str(args.device).startswith('cpu') and not args.no_fast_cpu:
        from ..models.fast_cpu import kernels_in_use
        text += f'; CPU fast path: {kernels_in_use()}'
    return text


def _table(rows: List[dict], reference: Optional[str]) -> List[str]:
    ref = next((r for r in rows if r['label'] == reference and 'img_per_s' in r), None)
    flops = any(r['flops'] for r in rows)
    header = ['model', 'params (M)'] + (['GFLOPs'] if flops else []) + \
        ['images/s', 'ms / image', 'range (ms / image)'] + ([f'vs {reference}'] if ref else [])
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    for r in rows:
        cells = [r['label'] if r['peer'] else f'**{r["label"]}**', f'{r["params"] / 1e6:.2f}']
        if flops:
            cells.append(f'{r["flops"] / 1e9:.3f}' if r['flops'] else '')
        if 'img_per_s' in r:
            cells += [f'{r["img_per_s"]:.1f}', f'{r["ms_per_image"]:.2f}',
                      f'{r["ms_per_image_min"]:.2f}-{r["ms_per_image_max"]:.2f}']
            if ref:
                cells.append(f'{r["img_per_s"] / ref["img_per_s"]:.2f}x')
        else:
            cells += [f'skipped: {r["error"]}', '', ''] + ([''] if ref else [])
        lines.append('| ' + ' | '.join(cells) + ' |')
    return lines


def header_lines(meta: dict) -> List[str]:
    """Title, machine, settings, load, date and command of a run (markdown lines)."""
    info = meta['machine']
    threads = f'{info["threads"]} thread{"s" if info["threads"] != 1 else ""}'
    device = info.get('gpu', f'{info["cpu"]} ({info["logical_cpus"]} logical CPUs), {threads}')
    lines = [f'### {meta["title"]}', '',
             f'- Machine: {device}; Python {info["python"]}, torch {info["torch"]}'
             + (f', onnxruntime {info["onnxruntime"]}' if 'onnxruntime' in info else '')
             + (f'; OMP_WAIT_POLICY={info["omp_wait_policy"]}' if 'omp_wait_policy' in info else ''),
             f'- Settings: {meta["settings"]}',
             f'- Load average (1 min) at start / end: {meta["load_start"]:.2f} / {meta["load_end"]:.2f}',
             f'- Date: {meta["date"]}', f'- Command: `{meta["command"]}`', '']
    return lines


def markdown(rows: List[dict], meta: dict) -> str:
    """The markdown section of a run: machine, settings, load, command, table and profiles."""
    lines = header_lines(meta)
    lines += _table(rows, meta['reference'])
    lines += ['', 'Bold: models of the given configs; others: upstream peers. Random weights; '
              'images/s = batch / median step time; ms / image = median step time / batch (the '
              'latency at batch 1), range over the measurements.', '']
    for r in rows:
        if r.get('profile'):
            lines += [f'Profile of one step of {r["label"]} (top operators by self CPU time):', '',
                      '| operator | input shapes | calls | ms | share |', '|---|---|---|---|---|']
            lines += [f'| {p["op"]} | {p["shapes"]} | {p["calls"]} | {p["ms"]:.1f} | '
                      f'{100 * p["share"]:.1f}% |' for p in r['profile']]
            lines.append('')
    return '\n'.join(lines)


def chart(rows: List[dict], meta: dict, path: str) -> None:
    """Throughput against parameters (log scale), ours in red, peers in grey."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=120)
    markers = dict(eval='o', deploy='D', onnxruntime='s', train='^')
    for variant in VARIANTS:
        for peer in (False, True):
            sel = [r for r in rows if r['variant'] == variant and r['peer'] == peer and 'img_per_s' in r]
            if not sel:
                continue
            ax.scatter([r['params'] / 1e6 for r in sel], [r['img_per_s'] for r in sel],
                       marker=markers[variant], s=55, color='tab:gray' if peer else 'tab:red',
                       label=f'{"peers" if peer else "ours"} ({variant})', zorder=3)
            for r in sel:
                ax.annotate(r['label'], (r['params'] / 1e6, r['img_per_s']), fontsize=7,
                            xytext=(4, 3), textcoords='offset points')
    ax.set_xscale('log')
    ax.set_xlabel('parameters (M, log scale)')
    ax.set_ylabel('images / s (median)')
    ax.set_title(f'{meta["title"]}\n{meta["settings"].split(";")[0]}', fontsize=9)
    ax.grid(True, which='both', alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_report(rows: List[dict], meta: dict, args: dict, out_dir: str) -> str:
    """Write ``benchmark.md``, ``benchmark.json`` and ``benchmark.png`` to ``out_dir``; returns
    the markdown text."""
    os.makedirs(out_dir, exist_ok=True)
    text = markdown(rows, meta)
    with open(osp.join(out_dir, 'benchmark.md'), 'w') as f:
        f.write(text)
    with open(osp.join(out_dir, 'benchmark.json'), 'w') as f:
        json.dump(dict(meta=meta, args=args, results=rows), f, indent=1)
    chart(rows, meta, osp.join(out_dir, 'benchmark.png'))
    return text

"""Run tools/deployment/export.py for models x parts x backends and print one Markdown table
(status, max abs error against PyTorch, artefact size, runtime latency, conversion time): the
table of docs/deployment.md.

    python tools/deployment/export_matrix.py [--models NAME ...] [--backends NAME ...]
        [--parts model backbone] [--shape H W] [--bench N] [--work-dir DIR] [--out FILE]

The models are random, scale-preserving ones (``tests/helpers/random_weights.py``: each BN's
statistics measured on a random batch, then perturbed, and random layer scales, so that BN
folding and the attention are exercised while every stage keeps an RMS of order 1; the released
weights are not downloaded here), saved as a checkpoint and exported through the tool with that
checkpoint, as a user would. Classifiers run at ``--shape`` (default 224 x 224); the detector and
the segmentor at the shape given in :data:`MODELS`. A cell that fails shows the tool's error.
"""
import argparse
import contextlib
import datetime
import io
import json
import os
import os.path as osp
import platform
import sys

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)

#: name -> (config, kind, input shape or None for --shape, parts it is exported with)
MODELS = {
    'EMO-1M': ('configs/cls/emo/emo-1m_8xb256_in1k.py', 'classifier', None,
               ('model', 'backbone')),
    'EMOv2-5M': ('configs/cls/emo2/emo2-5m_8xb128_in1k.py', 'classifier', None,
                 ('model', 'backbone')),
    'EdgeFormer-S': ('configs/cls/edgeformer/edgeformer-s_8xb128_in1k.py', 'classifier', None,
                     ('model', 'backbone')),
    'SSDLite-EMO-1M': ('configs/det/ssdlite/ssdlite_emo-1m_8xb24-600e_coco.py',
                       'detector (raw head outputs)', (320, 320), ('model', )),
    'DeepLabv3-EMO-1M': ('configs/seg/deeplabv3/deeplabv3_emo-1m_8xb4-80k_ade20k-512x512.py',
                         'segmentor (head logits)', (256, 256), ('model', )),
    'RetinaNet-EMO-1M': ('configs/det/retinanet/retinanet_emo-1m_fpn_8xb4-1x_coco.py',
                         'detector (raw head outputs)', (320, 320), ('model', )),
    'SegFormer-EMOv2-1M': ('configs/seg/segformer/segformer_emo2-1m_4xb8-160k_ade20k-512x512.py',
                           'segmentor (head logits)', (256, 256), ('model', )),
    'MaskRCNN-EMOv2-1M': ('configs/det/mask_rcnn/mask-rcnn_emo2-1m_fpn_4xb4-1x_coco.py',
                          'detector (two-stage)', (320, 320), ('model', )),
}


def parse_args(argv=None):
    from emo_mm.backends import BACKENDS
    parser = argparse.ArgumentParser(description='Export matrix: models x parts x backends')
    parser.add_argument('--models', nargs='+', default=list(MODELS), choices=list(MODELS))
    parser.add_argument('--backends', nargs='+', default=list(BACKENDS), choices=list(BACKENDS))
    parser.add_argument('--parts', nargs='+', default=['model', 'backbone'],
                        choices=['model', 'backbone'])
    parser.add_argument('--shape', type=int, nargs=2, default=[224, 224], metavar=('H', 'W'))
    parser.add_argument('--bench', type=int, default=0, metavar='N',
                        help='time N runs of each artefact (median, 2 threads)')
    parser.add_argument('--work-dir', default=osp.join('work_dirs', 'export_matrix'))
    parser.add_argument('--out', help='also write the Markdown to this file')
    return parser.parse_args(argv)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            cpu = next(line.split(':', 1)[1].strip() for line in f if line.startswith('model name'))
    except (OSError, StopIteration):
        pass
    return f'{cpu}, {os.cpu_count()} cores'


def run_cell(tool, config, ckpt, backend, shape, part, work_dir, bench):
    """One tool run; returns ``(status, details dict, error text)``."""
    from emo_mm.backends import BACKENDS
    name = osp.splitext(osp.basename(config))[0] + ('_backbone' if part == 'backbone' else '')
    info_path = osp.join(work_dir, name + '.json')
    if osp.isfile(info_path):  # (a stale one from an earlier run)
        os.remove(info_path)
    err, out = io.StringIO(), io.StringIO()
    argv = [config, ckpt, '--backend', backend, '--shape', str(shape[0]), str(shape[1]),
            '--part', part, '--work-dir', work_dir] + (['--bench', str(bench)] if bench else [])
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            code = tool.main(argv)
    except Exception as e:  # noqa: BLE001  (a cell reports what broke)
        return 'error', {}, f'{type(e).__name__}: {e}'
    text = err.getvalue().strip().splitlines()
    message = next((line for line in text if line.startswith('error:')), '')
    if code != 0 and not osp.isfile(info_path):
        return 'fails', {}, message or (text[-1] if text else f'exit status {code}')
    with open(info_path) as f:
        info = json.load(f)
    status = ('works' if BACKENDS[backend].runs_here else 'converts') if code == 0 else \
        'mismatch'
    return status, info, message


def fmt_cell(status, info, message):
    message = message.replace('|', '/')[:160]
    if not info:
        return [status, '', '', '', '', '', message]
    if info.get('max_error') is None:
        err, scale = f"not run (rank <= {info['details'].get('max_rank')}, Core ML ops)", ''
    else:
        err = f"{info['max_error']:.1e}"
        scale = f"{max(info['scales']):.3g}" if info.get('scales') else ''
        if info.get('relative_error') is not None and max(info['scales']) > 1:
            err += f" ({info['relative_error']:.1e} rel.)"
    latency = f"{info['latency_ms']:.1f}" if info.get('latency_ms') is not None else ''
    return [status, err, scale, f"{info['size'] / 2**20:.2f}", latency,
            f"{info['convert_s']:.0f}", message]


def main(argv=None):
    args = parse_args(argv)
    import torch

    from emo_mm.testing import load_script
    tool = load_script('tools/deployment/export.py')
    random_model = load_script('tests/helpers/random_weights.py').random_model
    os.makedirs(args.work_dir, exist_ok=True)
    header = ['model', 'part', 'input', 'backend', 'status', 'max abs error', 'largest abs output',
              'MiB', 'ms / image', 'convert s', 'note']
    rows = []
    for model_name in args.models:
        config, kind, shape, parts = MODELS[model_name]
        config = osp.join(ROOT, config) if not osp.isabs(config) else config
        shape = tuple(shape or args.shape)
        ckpt = osp.join(args.work_dir, osp.splitext(osp.basename(config))[0] + '.pth')
        torch.manual_seed(0)  # (inits that random_model leaves to the global generator)
        torch.save(dict(state_dict=random_model(config).state_dict(), meta=dict()), ckpt)
        for part in [p for p in args.parts if p in parts]:
            for backend in args.backends:
                cell = run_cell(tool, config, ckpt, backend, shape, part,
                                osp.join(args.work_dir, backend), args.bench)
                row = [model_name, kind if part == 'model' else part, f'{shape[0]}x{shape[1]}',
                       backend] + fmt_cell(*cell)
                rows.append(row)
                print(' | '.join(row), file=sys.stderr, flush=True)
    lines = [f'Machine: {machine()}; {datetime.date.today().isoformat()}; torch '
             f'{torch.__version__}.', '',
             'Command: `python tools/deployment/export_matrix.py ' + ' '.join(argv or sys.argv[1:])
             + '`', '',
             '| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    lines += ['| ' + ' | '.join(row) + ' |' for row in rows]
    text = '\n'.join(lines) + '\n'
    print(text)
    if args.out:
        with open(args.out, 'w') as f:
            f.write(text)
    return rows


if __name__ == '__main__':
    main()

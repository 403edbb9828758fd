"""Throughput and latency of classifiers, backbones, detectors and segmentors, with peer models
measured side by side in the same process (library: :mod:`emo_mm.benchmark`).

    python tools/analysis_tools/benchmark.py [CONFIG | NAME=CONFIG ...] [--peers auto|none|PEER ...]
        [--mode infer|train] [--batch-size N] [--shape H [W]] [--threads N] [--device cpu|cuda]
        [--deploy] [--onnx] [--e2e] [--backbone-only] [--no-fast-cpu] [--amp] [--channels-last]
        [--compile] [--warmup N] [--repeats N] [--min-time S] [--reference NAME] [--flops]
        [--profile N] [--out-dir DIR] [--title TEXT] [--cfg-options K=V ...]

Examples::

    # EMO-1M backbone against EdgeNeXt-XXS: batch-1 latency, also BN-folded and in onnxruntime
    python tools/analysis_tools/benchmark.py configs/cls/emo/emo-1m_8xb256_in1k.py \\
        --peers edgenext-xxsmall --backbone-only --batch-size 1 --min-time 1 --threads 2 \\
        --deploy --onnx
    # training step (forward + backward), batch 16
    python tools/analysis_tools/benchmark.py configs/cls/emo/emo-1m_8xb256_in1k.py --mode train \\
        --batch-size 16 --peers edgenext-xxsmall
    # detector end to end (pipeline, pre-processing, model, post-processing to boxes), batch 1
    python tools/analysis_tools/benchmark.py configs/det/ssdlite/ssdlite_emo2-1m_8xb24-600e_coco.py \\
        --e2e --batch-size 1 --shape 320
    # GPU, fp16 autocast, channels_last, torch.compile
    python tools/analysis_tools/benchmark.py configs/cls/emo2/emo2-5m_8xb128_in1k.py --device cuda \\
        --amp --channels-last --compile --batch-size 256

Method: every model (ours and the peers, built from their mmpretrain / mmdet / mmseg configs
with random weights) lives in this one process. Each is warmed up, then the repeats are
interleaved (model A, B, C, A, B, C, ... with the order rotated every round) so that load
changes on a shared machine hit all models alike; one measurement runs the model for at least
``--min-time`` seconds and the table reports the median over ``--repeats`` measurements, as
images/s and ms / image (the latency at batch 1) with its range. Inference runs under
``torch.inference_mode``; on the CPU our models run with their CPU fast path
(``emo_mm.models.fast_cpu.optimize_for_cpu``, as ``emo_mm.apis`` inference does; off with
``--no-fast-cpu``). ``--deploy`` also measures every model whose backbone has
``switch_to_deploy()`` (EMO, EMOv2, MobileOne) re-parameterised; ``--onnx`` exports every
classifier / backbone with ``emo_mm.deployment.export_onnx`` (EMO BatchNorms folded). ``train`` mode times forward + backward of the model's loss (``mode='loss'`` with
random labels / boxes / masks; the sum of the feature maps for ``--backbone-only``).

Outputs in ``--out-dir`` (default ``work_dirs/benchmark``): ``benchmark.md`` (a markdown section
with the machine, thread count, load average, command and table), ``benchmark.json`` (all
measurements) and ``benchmark.png`` (throughput against parameters).
"""
import argparse
import datetime
import os
import shlex
import sys


def parse_args(argv=None):
    from mmengine.config import DictAction

    from emo_mm.benchmark import PEER_CONFIGS
    parser = argparse.ArgumentParser(
        description='Throughput / latency of models and their peers, measured side by side',
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('configs', nargs='*', metavar='CONFIG',
                        help='configs to measure (NAME=CONFIG sets the table name)')
    parser.add_argument('--peers', nargs='+', default=['auto'], metavar='PEER',
                        help="'auto' (default peers of the first config's framework), 'none', or "
                        f'names / configs; names: {", ".join(PEER_CONFIGS)}')
    parser.add_argument('--mode', choices=('infer', 'train'), default='infer',
                        help='inference, or a training step (forward + backward)')
    parser.add_argument('--batch-size', type=int, default=32, help='images per step')
    parser.add_argument('--shape', type=int, nargs='+', metavar='H [W]',
                        help='input size (raw image size with --e2e); default 224 for '
                        'classifiers, the input_size of SSD, 1333x800 for other detectors, 512 '
                        'for segmentors')
    parser.add_argument('--threads', type=int, default=None,
                        help='CPU threads (torch.set_num_threads; also onnxruntime)')
    parser.add_argument('--device', default='cpu', help="'cpu' or 'cuda[:i]'")
    parser.add_argument('--deploy', action='store_true',
                        help='also measure the BN-folded form of models with switch_to_deploy()')
    parser.add_argument('--onnx', action='store_true',
                        help='also measure classifiers / backbones exported to ONNX with '
                        'onnxruntime (CPU)')
    parser.add_argument('--e2e', action='store_true',
                        help='end to end: test pipeline on raw uint8 images, data pre-processing, '
                        'model and post-processing (boxes / masks / labels)')
    parser.add_argument('--backbone-only', action='store_true',
                        help='measure the backbones of classifier configs')
    parser.add_argument('--no-fast-cpu', action='store_true',
                        help='run our models with the reference forwards only (no '
                        'emo_mm.models.fast_cpu)')
    parser.add_argument('--amp', action='store_true', help='autocast (CUDA: float16)')
    parser.add_argument('--channels-last', action='store_true',
                        help='channels_last model and input (all models)')
    parser.add_argument('--compile', action='store_true',
                        help='torch.compile every model (ours and the peers alike)')
    parser.add_argument('--warmup', type=int, default=2, help='warm-up steps per model')
    parser.add_argument('--repeats', type=int, default=5,
                        help='interleaved measurements per model (median reported)')
    parser.add_argument('--min-time', type=float, default=0.,
                        help='seconds of running per measurement (at least one step)')
    parser.add_argument('--reference', help='name of the row other rows are compared to '
                        '(default: the first peer)')
    parser.add_argument('--flops', action='store_true', help='also count FLOPs (slower)')
    parser.add_argument('--profile', type=int, default=0, metavar='N',
                        help='after the measurements, profile one step of each model and list '
                        'its N most expensive operators (with input shapes) in the outputs')
    parser.add_argument('--out-dir', default='work_dirs/benchmark', help='output folder')
    parser.add_argument('--title', help='title of the markdown section and the chart')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        metavar='K=V', help='overrides applied to the given configs (not peers)')
    args = parser.parse_args(argv)
    if not args.configs and args.peers in (['auto'], ['none']):
        parser.error('give at least one config or a list of --peers')
    if args.shape is not None and len(args.shape) not in (1, 2):
        parser.error('--shape takes H or H W')
    if args.batch_size < 1:
        parser.error(f'--batch-size must be >= 1, got {args.batch_size}')
    if args.e2e and (args.onnx or args.backbone_only or args.mode == 'train'):
        parser.error('--e2e measures inference of full models: not with --onnx, '
                     '--backbone-only or --mode train')
    if (args.amp or args.compile) and args.onnx:
        parser.error('--onnx measures onnxruntime in float32: not with --amp / --compile')
    return args


def main(argv=None):
    args = parse_args(argv)
    import torch

    from emo_mm.benchmark import build_cases, measure, profile_cases, write_report
    from emo_mm.benchmark.report import settings_text
    from emo_mm.benchmark.timing import summarise
    from emo_mm.machine import machine_info
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device.startswith('cuda') and not torch.cuda.is_available():
        raise SystemExit('--device cuda: CUDA is not available')
    load_start = os.getloadavg()[0]
    cases, shapes = build_cases(args)
    measure(cases, args.warmup, args.repeats, args.min_time, args.device, args.batch_size)
    load_end = os.getloadavg()[0]
    if args.profile:
        profile_cases(cases, args.profile)

    rows = [summarise(c, args.batch_size) for c in cases]
    info = machine_info(args.device)
    command = 'python tools/analysis_tools/benchmark.py ' + shlex.join(
        sys.argv[1:] if argv is None else argv)
    where = info.get('gpu', f'{info["threads"]}-thread CPU')
    info['omp_wait_policy'] = os.environ.get('OMP_WAIT_POLICY', 'default')
    meta = dict(title=args.title or f'Speed on {where}',
                machine=info, command=command, settings=settings_text(args, shapes),
                date=datetime.datetime.now().isoformat(' ', 'seconds'), load_start=load_start,
                load_end=load_end,
                reference=args.reference or next((r['label'] for r in rows if r['peer']), None))
    print(write_report(rows, meta, vars(args), args.out_dir))
    print(f'[benchmark] wrote {args.out_dir}/benchmark.{{md,json,png}}')
    return rows


if __name__ == '__main__':
    main()

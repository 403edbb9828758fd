#!/usr/bin/env python
"""The main job, end to end, on the built-in toy dataset (``make demo``).

ImageNet, COCO and ADE20K cannot be downloaded everywhere, so the demo runs the product on small
datasets in the same three layouts (tools/dataset_converters/make_toy_data.py), with the same
tools a user runs on the real ones, each as its own process: it pretrains an EMOv2-1M classifier
on toy-cls, converts it to a backbone checkpoint, finetunes SSDLite-EMOv2-1M (toy-det) and
SegFormer-EMOv2-1M (toy-seg) from it, evaluates the three models, runs single-image inference
with each and writes pictures and a markdown summary with the quality bar to ``--work-dir``
(default ``work_dirs/demo/``). The stages are listed in :mod:`emo_mm.demo.runner`.

``--seed N`` sets the training seed of every stage (``randomness.seed`` of the classifier, the
detector and the segmentor; default: the configs' own, 42 for all three); the toy data stay
the same (they are the dataset, generated with their own fixed seed). Keep runs apart with
``--work-dir``. ``--gpus N`` (or ``DEMO_GPUS=N``) trains with N processes through
tools/dist_train.sh (gloo on CPU, NCCL on GPUs) at the same total batch size. ``--quick`` is
the shortened run of the tests (the ``configs/*/toy/*_quick.py`` schedules on a few images),
which shows that the pipeline learns, not the quality bar.

Usage::

    python tools/demo.py [--work-dir work_dirs/demo] [--data-root data/toy] [--seed N]
                         [--gpus 1] [--quick] [--verbose]
    make demo DEMO_ARGS="--seed 3 --work-dir work_dirs/demo_seed3"
    python tools/demo.py --table work_dirs/demo work_dirs/demo_seed3   # one row per run

The exit status is 0 when every stage ran and (full run) the quality bar passed, 1 otherwise.
"""
import argparse
import json
import os
import os.path as osp
import sys

from emo_mm.demo import DemoRun
from emo_mm.demo.report import seed_table

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Run the main job (pretrain -> finetune -> evaluate -> visualise) on the '
        'built-in toy dataset.')
    parser.add_argument('--work-dir', help='output folder (default work_dirs/demo, '
                        'work_dirs/demo_quick with --quick)')
    parser.add_argument('--data-root', help='toy data folder (default data/toy, '
                        '<work-dir>/data with --quick); generated if missing')
    parser.add_argument('--seed', type=int,
                        help='training seed of every stage (default: each config\'s own)')
    parser.add_argument('--gpus', type=int, default=int(os.environ.get('DEMO_GPUS', '1')),
                        help='training processes (default: $DEMO_GPUS or 1); one per GPU '
                        'on GPU machines, CPU processes (gloo) otherwise')
    parser.add_argument('--quick', action='store_true',
                        help='shortened run (a few images and iterations) for the tests')
    parser.add_argument('--verbose', action='store_true',
                        help='print the tools\' full output (it always goes to <work-dir>/logs)')
    parser.add_argument('--table', nargs='+', metavar='WORK_DIR',
                        help='run nothing: print one Markdown row per finished run (the '
                        'summary.json of each work dir: seeds, metrics with their margins, '
                        'verdict, wall time)')
    args = parser.parse_args(argv)
    if args.gpus < 1:
        parser.error(f'--gpus / DEMO_GPUS must be >= 1, got {args.gpus}')
    if args.work_dir is None:
        args.work_dir = 'work_dirs/demo_quick' if args.quick else 'work_dirs/demo'
    if args.data_root is None:
        args.data_root = osp.join(args.work_dir, 'data') if args.quick else 'data/toy'
    return args


def print_table(work_dirs) -> int:
    summaries = []
    for work_dir in work_dirs:
        path = osp.join(work_dir, 'summary.json')
        if not osp.isfile(path):
            print(f'error: {path} not found: --table takes the work dirs of finished demo '
                  'runs', file=sys.stderr)
            return 1
        with open(path) as f:
            summaries.append(json.load(f))
    print(seed_table(summaries))
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.table:
        return print_table(args.table)
    demo = DemoRun(ROOT, args.work_dir, args.data_root, quick=args.quick, gpus=args.gpus,
                   verbose=args.verbose, seed=args.seed)
    try:
        return demo.run()
    except RuntimeError as e:
        print(f'\n[demo] FAILED: {e}', file=sys.stderr)
        return 1


if __name__ == '__main__':
    sys.exit(main())

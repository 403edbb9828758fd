# Copyright (c) OpenMMLab. All rights reserved. Adapted for emo_mm.
"""Test (and evaluate) with mmpretrain, mmdet or mmseg: the framework is the config's
``default_scope``.

Usage (the flags of the upstream ``tools/test.py``)::

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out FILE_OR_DIR] [--show]
        [--show-dir DIR] [--wait-time S] [--tta] [--cfg-options K=V ...]
        [--launcher {none,pytorch,slurm,mpi}]

``--out`` is a pickle of the predictions for mmpretrain / mmdet and a directory of predicted
maps for mmseg; ``--show-dir`` and ``--tta`` follow each framework's own tool.
"""
import emo_mm  # noqa: F401  (shims + registry)
from emo_mm.engine import check_dataset_files
from emo_mm.cli import (add_result_dumper, apply_test_args, base_parser, build_runner,
                        finish_distributed, load_config, named_annotation_errors, parse_args,
                        run_tool)


def parse_test_args(argv=None):
    parser = base_parser('Test (and evaluate) a classifier, detector or segmentor')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--out',
        help='dump the predictions: a .pkl file (mmpretrain, mmdet) or a directory of '
        'predicted maps (mmseg)')
    parser.add_argument('--show', action='store_true', help='show prediction results')
    parser.add_argument(
        '--show-dir',
        help='directory where painted images will be saved. '
        'If specified, it will be automatically saved '
        'to the work_dir/timestamp/show_dir')
    parser.add_argument(
        '--wait-time', type=float, default=2, help='the interval of show (s)')
    parser.add_argument('--tta', action='store_true', help='test-time augmentation')
    return parse_args(parser, argv)


def main(argv=None):
    args = parse_test_args(argv)
    cfg = load_config(args)
    apply_test_args(cfg, args)
    check_dataset_files(cfg, ('test_dataloader', ))
    with named_annotation_errors(cfg, ('test_dataloader', )):
        runner = build_runner(cfg)
        add_result_dumper(runner, args.out)
        runner.test()
    finish_distributed()


if __name__ == '__main__':
    run_tool(main)

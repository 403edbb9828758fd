# Copyright (c) OpenMMLab. All rights reserved. Adapted for emo_mm.
"""Train with mmpretrain, mmdet or mmseg: the framework is the config's ``default_scope``.

Usage (the flags of the upstream ``tools/train.py``)::

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp] [--compile]
        [--auto-scale-lr] [--no-validate] [--cfg-options K=V ...] [--launcher {none,pytorch,slurm,mpi}]

Importing :mod:`emo_mm` activates its upstream shims and registers the backbones, hooks and
loops. The run is the config's, as with the framework's own ``tools/train.py`` (this
repository's configs turn on crash safety themselves). A damaged or missing input, or a NaN /
Inf loss, ends the output with one line ``error: <cause>`` naming the file or iteration.
On a machine without CUDA a distributed run uses ``gloo`` and a DDP without ``device_ids``, and
SyncBN becomes BN in single-process or CPU runs (see :mod:`emo_mm.cli`).
"""
import emo_mm  # noqa: F401  (shims + registry)
from emo_mm.engine import check_dataset_files
from emo_mm.cli import (apply_train_args, base_parser, build_runner, finish_distributed,
                        load_config, named_annotation_errors, parse_args, run_tool)


def parse_train_args(argv=None):
    parser = base_parser('Train a classifier, detector or segmentor')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='If specify checkpoint path, resume from it, while if not '
        'specify, try to auto resume from the latest checkpoint '
        'in the work directory.')
    parser.add_argument(
        '--amp', action='store_true', help='enable automatic-mixed-precision training')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the learning rate by the actual over the config\'s base batch size')
    parser.add_argument(
        '--compile', action='store_true',
        help='torch.compile the model (opt-in: minutes of compilation first; faster steps after)')
    parser.add_argument(
        '--no-validate',
        action='store_true',
        help='whether not to evaluate the checkpoint during training')
    return parse_args(parser, argv)


def main(argv=None):
    args = parse_train_args(argv)
    cfg = load_config(args)
    apply_train_args(cfg, args)
    loaders = ('train_dataloader', 'val_dataloader')
    check_dataset_files(cfg, loaders)
    with named_annotation_errors(cfg, loaders):
        runner = build_runner(cfg)
        runner.train()
    finish_distributed()


if __name__ == '__main__':
    run_tool(main)

"""The command line shared by ``tools/train.py`` and ``tools/test.py``: the upstream tools' flags."""
import argparse
import os
import os.path as osp
from typing import Optional, Sequence

from mmengine.config import Config, DictAction

from ..frameworks import framework_of

__all__ = ['LAUNCHERS', 'base_parser', 'load_config', 'parse_args']

LAUNCHERS = ('none', 'pytorch', 'slurm', 'mpi')


def base_parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the positional ``config`` and the flags that both tools share.

    Further positionals (``checkpoint``) and flags are added by the tools.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('config', help='config file path')
    parser.add_argument('--work-dir', help='the directory to save logs, checkpoints and metrics')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override some settings in the used config, the key-value pair '
        'in xxx=yyy format will be merged into config file. If the value to '
        'be overwritten is a list, it should be like key="[a,b]" or key=a,b '
        'It also allows nested list/tuple values, e.g. key="[(a,b),(c,d)]" '
        'Note that the quotation marks are necessary and that no white space '
        'is allowed.')
    parser.add_argument('--launcher', choices=LAUNCHERS, default='none', help='job launcher')
    # torch >= 2.0 distributed launchers pass `--local-rank` instead of `--local_rank`.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    return parser


def parse_args(parser: argparse.ArgumentParser,
               argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse ``argv`` and export ``LOCAL_RANK`` as the upstream tools do."""
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def load_config(args: argparse.Namespace) -> Config:
    """Load ``args.config`` and apply the shared flags.

    ``--cfg-options`` are merged first; ``work_dir`` is taken from the CLI, else from the
    config, else ``./work_dirs/<config name>``.

    Raises:
        ValueError: If the config's ``default_scope`` names no supported framework.
    """
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    framework_of(cfg)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    return cfg

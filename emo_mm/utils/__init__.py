"""Utilities shared by the command-line tools (see :mod:`emo_mm.utils.tools`)."""
from .tools import (FRAMEWORKS, adapt_cfg_to_machine, add_result_dumper, apply_test_args,
                    apply_train_args, base_parser, build_runner, detect_framework,
                    finish_distributed, load_config, parse_args, revert_sync_bn)

__all__ = [
    'FRAMEWORKS', 'adapt_cfg_to_machine', 'add_result_dumper', 'apply_test_args',
    'apply_train_args', 'base_parser', 'build_runner', 'detect_framework', 'finish_distributed',
    'load_config', 'parse_args', 'revert_sync_bn'
]

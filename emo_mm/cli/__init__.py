"""What the command-line tools share: their flags (:mod:`.args`), how a run is set up
(:mod:`.runner`) and the one-line causes of the errors a user can fix (:mod:`.errors`)."""
from .args import LAUNCHERS, base_parser, load_config, parse_args
from .errors import USER_ERRORS, named_annotation_errors, run_tool
from .runner import (adapt_cfg_to_machine, add_result_dumper, apply_test_args, apply_train_args,
                     build_runner, finish_distributed, revert_sync_bn)

__all__ = [
    'LAUNCHERS', 'adapt_cfg_to_machine', 'add_result_dumper', 'apply_test_args',
    'apply_train_args', 'base_parser', 'build_runner', 'finish_distributed', 'load_config',
    'parse_args', 'revert_sync_bn', 'USER_ERRORS', 'named_annotation_errors', 'run_tool'
]

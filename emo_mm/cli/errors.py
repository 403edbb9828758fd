"""One-line causes for the errors a user can fix: the last line a tool prints.

A tool's ``main`` run through :func:`run_tool` prints, for a damaged or missing input, an
invalid loss or a missing dataset path, the traceback as usual and then one line
``error: <cause>`` naming the file (or the iteration), and exits with status 1. Other
exceptions propagate unchanged.
"""
import contextlib
import json
import sys
import traceback
from typing import Callable, Iterator, List, Optional

from ..engine.hooks import NonFiniteLossError
from ..engine.preflight import dataset_paths
from ..io.inputs import DamagedInputError, check_json_file, input_error_cause

__all__ = ['USER_ERRORS', 'run_tool', 'named_annotation_errors']

#: Errors whose cause the user can fix: reported in one line after the traceback.
USER_ERRORS = (DamagedInputError, NonFiniteLossError, FileNotFoundError)


def _annotation_files(cfg, dataloaders) -> List[str]:
    from ..engine.preflight import _leaf_datasets
    files = []
    for name in dataloaders:
        loader = cfg.get(name)
        if not isinstance(loader, dict) or not isinstance(loader.get('dataset'), dict):
            continue
        for key, dataset in _leaf_datasets(loader['dataset'], f'{name}.dataset'):
            files += [path for entry, path in dataset_paths(dataset, key)
                      if entry.endswith('.ann_file') and path.endswith('.json')]
    return files


@contextlib.contextmanager
def named_annotation_errors(cfg, dataloaders) -> Iterator[None]:
    """Turn a ``json.JSONDecodeError`` raised inside the block (a dataset reading its
    annotations) into a :class:`DamagedInputError` naming the config's annotation file that is
    not valid JSON (each one is parsed then, only on that failure)."""
    try:
        yield
    except json.JSONDecodeError as error:
        for path in _annotation_files(cfg, dataloaders):
            try:
                check_json_file(path, full=True)
            except DamagedInputError as damaged:
                raise damaged from error
        raise


def _is_user_error(error: BaseException) -> bool:
    # a data worker's error is re-raised by the dataloader under the worker's exception type
    # with the worker's traceback as message: recognised by the class name in it
    return isinstance(error, USER_ERRORS) or 'DamagedInputError' in str(error)


def run_tool(main: Callable, argv: Optional[list] = None):
    """Run a tool's ``main(argv)``; on one of :data:`USER_ERRORS` print the traceback, then
    ``error: <one-line cause>`` last, and exit with status 1."""
    try:
        return main(argv)
    except Exception as error:
        if not _is_user_error(error):
            raise
        traceback.print_exc()
        sys.stderr.flush()
        print(f'error: {input_error_cause(error)}', file=sys.stderr, flush=True)
        raise SystemExit(1)

"""A private name of mmengine <= 0.10.7 in use (no break): the process-wide default scope can be
set (``DefaultScope.get_instance`` / ``overwrite_default_scope``) but not unset; the instances
live in the private ``DefaultScope._instance_dict`` of mmengine's ``ManagerMixin``.
:func:`no_default_scope` runs a block with none set. Its guard checks that the private name is
still there and fails naming it otherwise (``tests/test_compat.py``)."""
import contextlib
from typing import Iterator

from .shim import dist_version

__all__ = ['no_default_scope']


def _instances() -> dict:
    from mmengine.registry import DefaultScope
    instances = getattr(DefaultScope, '_instance_dict', None)
    if not isinstance(instances, dict):
        raise RuntimeError('mmengine.registry.DefaultScope._instance_dict (private) is gone in '
                           f'mmengine {dist_version("mmengine")}: emo_mm.compat.default_scope '
                           'needs another way to unset the default scope')
    return instances


@contextlib.contextmanager
def no_default_scope() -> Iterator[None]:
    """Run the block with no mmengine default scope set, and restore the scopes of before on
    exit (dropping those created inside)."""
    instances = _instances()
    saved = dict(instances)
    instances.clear()
    try:
        yield
    finally:
        instances.clear()
        instances.update(saved)

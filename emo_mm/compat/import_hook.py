"""Run a callback right after a named module is imported, without importing it ourselves.

The shims (and :mod:`emo_mm.hub`) patch or extend upstream modules this way, so that
``import emo_mm`` imports no framework.
"""
import importlib.abc
import sys
from typing import Callable, Dict, List

__all__ = ['on_import', 'cancel_on_import']


class _PostImportFinder(importlib.abc.MetaPathFinder):
    """A ``sys.meta_path`` finder that runs callbacks right after a named module executes.

    It finds nothing itself: it asks the other finders for the spec and wraps its loader so that
    the callbacks run on the module once its code has run (also after a reload).
    """

    def __init__(self):
        self.callbacks: Dict[str, List[Callable]] = {}

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in self.callbacks:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, 'find_spec'):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, 'exec_module'):
                    spec.loader = _CallbackLoader(spec.loader, self.callbacks[fullname])
                return spec
        return None


class _CallbackLoader(importlib.abc.Loader):
    """Delegates to ``loader`` and runs ``callbacks`` on the module after ``exec_module``."""

    def __init__(self, loader, callbacks: List[Callable]):
        self._loader = loader
        self._callbacks = callbacks

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        for callback in list(self._callbacks):
            callback(module)

    def __getattr__(self, name):
        return getattr(self._loader, name)


_post_import_finder = _PostImportFinder()


def on_import(module_name: str, callback: Callable) -> None:
    """Run ``callback(module)`` now if ``module_name`` is imported, else right after its
    import."""
    _post_import_finder.callbacks.setdefault(module_name, [])
    if callback not in _post_import_finder.callbacks[module_name]:
        _post_import_finder.callbacks[module_name].append(callback)
    if _post_import_finder not in sys.meta_path:
        sys.meta_path.insert(0, _post_import_finder)
    if module_name in sys.modules:
        callback(sys.modules[module_name])


def cancel_on_import(module_name: str, callback: Callable) -> None:
    callbacks = _post_import_finder.callbacks.get(module_name, [])
    if callback in callbacks:
        callbacks.remove(callback)
    if not callbacks:
        _post_import_finder.callbacks.pop(module_name, None)
    if not _post_import_finder.callbacks and _post_import_finder in sys.meta_path:
        sys.meta_path.remove(_post_import_finder)

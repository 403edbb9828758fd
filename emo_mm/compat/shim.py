"""The pieces every shim is made of: version checks without imports, and :class:`Shim`."""
import importlib.metadata
from typing import Callable, Optional

from mmengine.utils import digit_version

__all__ = ['Shim', 'dist_version', 'version_le']


def dist_version(name: str) -> Optional[str]:
    """Installed version of the distribution ``name`` (``None`` if absent), without importing it."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def version_le(name: str, last_broken: str) -> bool:
    """Whether distribution ``name`` is installed at a version <= ``last_broken``."""
    version = dist_version(name)
    return version is not None and digit_version(version) <= digit_version(last_broken)


class Shim:
    """One removable patch: ``needed()`` is its version guard, ``apply``/``revert`` undo each
    other."""

    def __init__(self, name: str, needed: Callable[[], bool], apply: Callable[[], None],
                 revert: Callable[[], None]):
        self.name = name
        self.needed = needed
        self._apply = apply
        self._revert = revert
        self.active = False

    def apply(self) -> None:
        if not self.active and self.needed():
            self._apply()
            self.active = True

    def revert(self) -> None:
        if self.active:
            self._revert()
            self.active = False

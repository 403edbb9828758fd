"""Break 5 (``docs/upstream_issues.md``): the mmsegmentation wheel's top-level ``tests``
package. No patch: the project's ``tests/`` has no ``__init__.py`` and is collected with
``--import-mode=importlib``; :func:`upstream_tests_package` tells whether the wheel ships it."""
import importlib.metadata
import os.path as osp
from typing import Optional

__all__ = ['upstream_tests_package']


def upstream_tests_package() -> Optional[str]:
    """Directory of the top-level ``tests`` package that the installed mmsegmentation wheel
    ships, or ``None`` when it ships none (or mmsegmentation is not installed).

    That package can shadow a project's ``tests`` package; emo_mm's ``tests/`` therefore has no
    ``__init__.py`` and is collected with ``--import-mode=importlib``.
    """
    try:
        files = importlib.metadata.distribution('mmsegmentation').files or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for file in files:
        if file.parts[:2] == ('tests', '__init__.py'):
            return osp.dirname(osp.abspath(file.locate()))
    return None

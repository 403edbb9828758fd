"""Make the backbones reachable by their plain names (``type='EMOv2'``) from every framework."""
import sys
from typing import Iterable

from mmengine.registry import MODELS as ROOT_MODELS

from emo_mm.frameworks import FRAMEWORKS
from emo_mm.registry import MODELS


class RegistryClashError(KeyError):
    """Another model is registered under the plain name of an emo_mm model."""

    def __str__(self) -> str:  # KeyError would print the repr of the message
        return str(self.args[0])


def find_framework_clash(name: str, cls: type) -> str:
    """Return a description of a framework model that shadows ``name`` (``''`` if none).

    Only frameworks whose registry is already imported are inspected, so importing emo_mm never
    imports mmdet / mmseg / mmpretrain itself.
    """
    for framework in FRAMEWORKS:
        registry_module = sys.modules.get(f'{framework}.registry')
        if registry_module is None:
            continue
        registry = registry_module.MODELS
        registry.import_from_location()
        other = registry.module_dict.get(name)
        if other is not None and other is not cls:
            return f'{framework} registers its own {name!r} ({other.__module__}.{other.__qualname__})'
    return ''


def register_in_root(names: Iterable[str]) -> None:
    """Register emo_mm models in mmengine's root ``MODELS`` under their plain names.

    Every framework registry (mmpretrain, mmdet, mmseg) falls back to the root, so plain
    ``type='EMOv2'`` resolves in all three once emo_mm is imported (``custom_imports``). A clash
    with an existing model of the same name is an error, never a silent override.
    """
    for name in names:
        cls = MODELS.get(name)
        existing = ROOT_MODELS.module_dict.get(name)
        if existing is cls:
            continue
        clash = (f'mmengine registers {existing.__module__}.{existing.__qualname__}' if existing
                 else find_framework_clash(name, cls))
        if clash:
            raise RegistryClashError(f'Cannot register emo_mm model {name!r} under its plain name: {clash}. '
                           f'Use the scoped type "emo_mm.{name}" in configs.')
        ROOT_MODELS.register_module(name=name, module=cls)

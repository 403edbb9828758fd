"""Small helpers shared by the tools: build a model from any cls / det / seg config."""
from typing import Union

import torch.nn as nn
from mmengine.config import Config

FRAMEWORK_SCOPES = ('mmpretrain', 'mmdet', 'mmseg')


def config_scope(cfg: Config) -> str:
    """The framework of a config, from its ``default_scope`` (clear error otherwise)."""
    scope = cfg.get('default_scope')
    if scope not in FRAMEWORK_SCOPES:
        raise ValueError(f'Config default_scope must be one of {FRAMEWORK_SCOPES} to pick the '
                         f'framework, got {scope!r}')
    return scope


def build_model_from_cfg(cfg: Union[str, Config], device: str = 'cpu') -> nn.Module:
    """Build ``cfg.model`` in the config's framework scope (``custom_imports`` honoured)."""
    from mmengine.registry import MODELS, init_default_scope
    from mmengine.utils import import_modules_from_strings

    if isinstance(cfg, str):
        cfg = Config.fromfile(cfg)
    if cfg.get('custom_imports'):
        import_modules_from_strings(**cfg['custom_imports'])
    init_default_scope(config_scope(cfg))
    return MODELS.build(cfg.model).to(device)

"""Build, load and run any emo_mm config: classification, detection or segmentation.

One entry point for the three frameworks; the framework comes from the config's
``default_scope`` and its own API does the work (``mmpretrain.apis.get_model`` /
``ImageClassificationInferencer``, ``mmdet.apis.init_detector`` / ``inference_detector``,
``mmseg.apis.init_model`` / ``inference_model``; see :mod:`emo_mm.frameworks`). Checkpoints are
loaded safely: with ``weights_only=True`` and the allow-list (:mod:`emo_mm.io.safe_load`); a
checkpoint that references any other callable is refused.

Example:
    >>> from emo_mm.apis import inference, init_model
    >>> model = init_model('configs/det/retinanet/retinanet_emo2-1m_fpn_4xb4-1x_coco.py',
    ...                    'work_dirs/retinanet_emo2-1m/epoch_12.pth', device='cpu')  # doctest: +SKIP
    >>> result = inference(model, 'demo.jpg')  # a DetDataSample  # doctest: +SKIP
"""
import copy
import os.path as osp
from typing import Optional, Union

import torch.nn as nn
from mmengine.config import Config
from mmengine.registry import DefaultScope

from .frameworks import framework_of, get_adapter

__all__ = ['build_model_from_cfg', 'init_model', 'inference']


def build_model_from_cfg(cfg: Union[str, Config], device: str = 'cpu') -> nn.Module:
    """Build ``cfg.model`` in the config's framework scope (``custom_imports`` honoured), with
    the weights as initialised (no checkpoint, no ``init_weights``)."""
    from mmengine.registry import MODELS, init_default_scope
    from mmengine.utils import import_modules_from_strings

    if isinstance(cfg, str):
        cfg = Config.fromfile(cfg)
    if cfg.get('custom_imports'):
        import_modules_from_strings(**cfg['custom_imports'])
    init_default_scope(framework_of(cfg))
    return MODELS.build(cfg.model).to(device)


def init_model(config: Union[str, Config],
               checkpoint: Optional[str] = None,
               device: str = 'cpu',
               cfg_options: Optional[dict] = None) -> nn.Module:
    """Build the model of ``config`` in eval mode, with ``checkpoint`` loaded safely.

    Args:
        config (str | Config): A classification, detection or segmentation config.
        checkpoint (str, optional): A checkpoint of that model (a local file or URL). None
            leaves the weights as initialised. Defaults to None.
        device (str): Device to put the model on. Defaults to 'cpu'.
        cfg_options (dict, optional): Overrides merged into the config. Defaults to None.

    Returns:
        nn.Module: The model; ``model.cfg`` is its config.

    Raises:
        FileNotFoundError: The local ``checkpoint`` does not exist.
        emo_mm.io.UnsafeCheckpointError: The checkpoint references a callable or class
            outside the allow-list.
        emo_mm.io.CheckpointError: The checkpoint is truncated or corrupt.
    """
    cfg = Config.fromfile(config) if isinstance(config, str) else copy.deepcopy(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    adapter = get_adapter(cfg)
    if checkpoint is not None and '://' not in checkpoint and not osp.isfile(checkpoint):
        raise FileNotFoundError(f'Checkpoint file not found: {checkpoint!r}')
    model = adapter.init_model(cfg, checkpoint, device)
    model.cfg = cfg
    return model


def inference(model: nn.Module, images):
    """Run a model built by :func:`init_model` on an image or a list of images.

    Args:
        model (nn.Module): The model.
        images (str | np.ndarray | list): Image file(s) or BGR array(s).

    Returns:
        The framework's result per image (one result for a single image): a dict with
        ``pred_label`` / ``pred_score`` / ``pred_class`` (mmpretrain), a ``DetDataSample``
        (mmdet) or a ``SegDataSample`` (mmseg).
    """
    adapter = get_adapter(model.cfg)
    with DefaultScope.overwrite_default_scope(adapter.name):  # the pipeline's transforms
        return adapter.inference(model, images)

"""Inference with any emo_mm config: classification, detection or segmentation.

One entry point for the three frameworks, which picks the framework from the config's
``default_scope`` and uses that framework's own API (``mmpretrain.apis.get_model`` /
``ImageClassificationInferencer``, ``mmdet.apis.init_detector`` / ``inference_detector``,
``mmseg.apis.init_model`` / ``inference_model``). The checkpoint is loaded safely: with
``weights_only=True`` and the allow-list (see :mod:`emo_mm.checkpoint`); a checkpoint that
references any other callable is refused.

Example:
    >>> from emo_mm.inference import inference, init_model
    >>> model = init_model('configs/det/retinanet/retinanet_emo2-1m_fpn_4xb4-1x_coco.py',
    ...                    'work_dirs/retinanet_emo2-1m/epoch_12.pth', device='cpu')
    >>> result = inference(model, 'demo.jpg')  # a DetDataSample
"""
import copy
import os.path as osp
from typing import Optional, Union

import torch.nn as nn
from mmengine.config import Config
from mmengine.registry import DefaultScope

from . import engine  # noqa: F401  (safe checkpoint loading for the frameworks' loaders)
from .apis import config_scope

__all__ = ['init_model', 'inference']


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
        emo_mm.checkpoint.UnsafeCheckpointError: The checkpoint references a callable or class
            outside the allow-list.
        emo_mm.checkpoint.CheckpointError: The checkpoint is truncated or corrupt.
    """
    cfg = Config.fromfile(config) if isinstance(config, str) else copy.deepcopy(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    scope = config_scope(cfg)
    if checkpoint is not None and '://' not in checkpoint and not osp.isfile(checkpoint):
        raise FileNotFoundError(f'Checkpoint file not found: {checkpoint!r}')
    if scope == 'mmpretrain':
        from mmpretrain.apis import get_model
        model = get_model(cfg, pretrained=checkpoint or False, device=device)
    elif scope == 'mmdet':
        from mmdet.apis import init_detector
        model = init_detector(cfg, checkpoint, device=device)
    else:
        from mmseg.apis import init_model as init_segmentor
        model = init_segmentor(cfg, checkpoint, device=device)
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
    scope = config_scope(model.cfg)
    with DefaultScope.overwrite_default_scope(scope):  # the pipeline's transforms
        if scope == 'mmpretrain':
            from mmpretrain.apis import ImageClassificationInferencer
            results = ImageClassificationInferencer(model)(images)
            return results if isinstance(images, (list, tuple)) else results[0]
        if scope == 'mmdet':
            from mmdet.apis import inference_detector
            return inference_detector(model, images)
        from mmseg.apis import inference_model
        return inference_model(model, images)

"""The one place that knows the three frameworks: mmpretrain, mmdet and mmseg.

A config belongs to the framework named by its ``default_scope`` (:func:`framework_of`). Each
framework has one small adapter (:func:`get_adapter`) with what differs between them: the
default input size, how a model is built from a checkpoint and run on images, and how the
``tools/train.py`` / ``tools/test.py`` flags map onto its config (dataloader defaults,
visualization, test-time augmentation, result dumping), following that framework's own tools.
Tools and library code ask the adapter instead of branching on the framework name.

Nothing here imports mmdet, mmseg or mmpretrain before an adapter method needs it.

Example:
    >>> from mmengine.config import Config
    >>> cfg = Config(dict(default_scope='mmseg', model=dict(type='EncoderDecoder')))
    >>> framework_of(cfg)
    'mmseg'
    >>> get_adapter(cfg).input_shape(cfg)
    (512, 512)
"""
import warnings
from copy import deepcopy
from typing import Optional, Sequence, Tuple, Union

import torch
from mmengine.config import Config, ConfigDict

__all__ = ['FRAMEWORKS', 'Framework', 'framework_of', 'framework_of_model', 'get_adapter']

FRAMEWORKS = ('mmpretrain', 'mmdet', 'mmseg')


def framework_of(cfg: Config) -> str:
    """The framework that runs ``cfg``, from its ``default_scope``.

    Raises:
        ValueError: If ``default_scope`` is missing or names no supported framework.
    """
    scope = cfg.get('default_scope')
    if scope not in FRAMEWORKS:
        raise ValueError(f'Cannot tell which framework runs this config: default_scope={scope!r}. '
                         f'Valid scopes are {", ".join(map(repr, FRAMEWORKS))}; set e.g. '
                         "default_scope = 'mmdet' in the config.")
    return scope


def framework_of_model(model) -> Optional[str]:
    """The framework whose model class ``model`` is (``'mmdet'`` for a ``SingleStageDetector``),
    or None for another module (a bare backbone)."""
    package = type(model).__module__.split('.')[0]
    return package if package in FRAMEWORKS else None


def _flip_tta_pipeline(test_pipeline: list, pack_transform: dict) -> list:
    """The test pipeline with its last (packing) step replaced by a flip / no-flip TTA."""
    tta_pipeline = deepcopy(test_pipeline)
    tta_pipeline[-1] = dict(
        type='TestTimeAug',
        transforms=[[dict(type='RandomFlip', prob=1.),
                     dict(type='RandomFlip', prob=0.)], [pack_transform]])
    return tta_pipeline


def _set_dataloader_defaults(cfg: Config, fields: Sequence[str], **defaults) -> None:
    """Fill in dataloader arguments that the config leaves unset."""
    for field in fields:
        if cfg.get(field) is None:
            continue
        dataloader_cfg = ConfigDict(deepcopy(defaults))
        dataloader_cfg.update(cfg[field])
        if dataloader_cfg.get('num_workers', 0) == 0:
            dataloader_cfg.pop('persistent_workers', None)
        cfg[field] = dataloader_cfg


def _innermost_test_dataset(cfg: Config) -> dict:
    dataset = cfg.test_dataloader.dataset
    while 'dataset' in dataset:  # dataset wrappers
        dataset = dataset['dataset']
    return dataset


def _sample_meta(shape: Tuple[int, int]) -> dict:
    """Image metas of an unscaled ``(H, W)`` input."""
    return dict(img_shape=shape, ori_shape=shape, pad_shape=shape, batch_input_shape=shape,
                scale_factor=(1., 1.), img_id=0)


class Framework:
    """What one framework does its own way. Subclasses exist for the three frameworks."""

    name: str = ''
    #: Folder of the framework's configs in the repository (and in ``emo_mm/.mim``).
    config_folder: str = ''
    #: Default (H, W) input of :meth:`input_shape`.
    default_shape: Tuple[int, int] = (224, 224)

    def input_shape(self, cfg: Config) -> Tuple[int, int]:
        """The (H, W) input that params / FLOPs / speed are measured at by default."""
        return self.default_shape

    # ---------------------------------------------------------------- models and inference
    def init_model(self, cfg: Config, checkpoint: Optional[str], device: str):
        """Build ``cfg.model`` in eval mode with the framework's API, ``checkpoint`` loaded."""
        raise NotImplementedError

    def random_sample(self, shape: Tuple[int, int], train: bool, num_classes: int):
        """A data sample of an ``(H, W)`` input for ``mode='tensor'`` or, with ``train``, random
        targets for ``mode='loss'`` (what benchmarks feed a model)."""
        raise NotImplementedError

    def inference(self, model, images):
        """Run the framework's inference API on image file(s) / BGR array(s)."""
        raise NotImplementedError

    # ---------------------------------------------------------------- tools/train.py, test.py
    def apply_train_defaults(self, cfg: Config) -> None:
        """Settings that the framework's ``tools/train.py`` adds to every config."""

    def apply_test_defaults(self, cfg: Config) -> None:
        """Settings that the framework's ``tools/test.py`` adds to every config."""

    def turn_on_visualization(self, cfg: Config, show: bool, show_dir: Optional[str],
                              wait_time: float) -> dict:
        """``--show`` / ``--show-dir``: returns the visualization hook config to update."""
        hooks = cfg.get('default_hooks', {})
        if 'visualization' not in hooks:
            raise RuntimeError('--show/--show-dir need a VisualizationHook in the config: add '
                               "default_hooks = dict(visualization=dict(type='VisualizationHook')).")
        hook = hooks['visualization']
        hook['draw'] = True
        if show:
            hook.update(show=True, wait_time=wait_time)
        return hook

    def turn_on_tta(self, cfg: Config) -> None:
        """``--tta``: wrap the model in the TTA model and the test pipeline in the TTA one."""
        self._default_tta(cfg, _innermost_test_dataset(cfg))
        cfg.model = ConfigDict(**cfg.tta_model, module=cfg.model)
        _innermost_test_dataset(cfg).pipeline = cfg.tta_pipeline

    def _default_tta(self, cfg: Config, test_dataset: dict) -> None:
        raise NotImplementedError

    def set_output(self, cfg: Config, out: str) -> None:
        """``--out``: a pickle of the predictions (checked here, dumped by
        :meth:`result_dumper`)."""
        if not out.endswith(('.pkl', '.pickle')):
            raise ValueError(f'--out must be a .pkl or .pickle file for {self.name}, got {out!r}.')

    def result_dumper(self, out: str):
        """The metric that dumps the predictions to ``out`` (None: the framework writes them)."""
        from mmengine.evaluator import DumpResults
        return DumpResults(out_file_path=out)


class MMPretrain(Framework):
    name = 'mmpretrain'
    config_folder = 'configs/cls/'
    default_shape = (224, 224)

    def random_sample(self, shape, train, num_classes):
        from mmpretrain.structures import DataSample
        sample = DataSample()
        if train:
            sample.set_gt_label(int(torch.randint(num_classes, ())))
        return sample

    def init_model(self, cfg, checkpoint, device):
        from mmpretrain.apis import get_model
        return get_model(cfg, pretrained=checkpoint or False, device=device)

    def inference(self, model, images):
        from mmpretrain.apis import ImageClassificationInferencer
        results = ImageClassificationInferencer(model)(images)
        return results if isinstance(images, (list, tuple)) else results[0]

    @staticmethod
    def _dataloader_defaults() -> dict:
        return dict(pin_memory=torch.cuda.is_available(), persistent_workers=True,
                    collate_fn=dict(type='default_collate'))

    def apply_train_defaults(self, cfg):
        _set_dataloader_defaults(cfg, ('train_dataloader', 'val_dataloader', 'test_dataloader'),
                                 **self._dataloader_defaults())

    def apply_test_defaults(self, cfg):
        defaults = self._dataloader_defaults()
        defaults.pop('persistent_workers')
        _set_dataloader_defaults(cfg, ('test_dataloader', ), **defaults)

    def turn_on_visualization(self, cfg, show, show_dir, wait_time):
        hooks = cfg.get('default_hooks', {})
        if 'visualization' not in hooks:
            return super().turn_on_visualization(cfg, show, show_dir, wait_time)
        hook = hooks['visualization']
        hook.update(enable=True, show=show, wait_time=wait_time, out_dir=show_dir)
        return hook

    def _default_tta(self, cfg, test_dataset):
        if 'tta_model' not in cfg:
            cfg.tta_model = dict(type='mmpretrain.AverageClsScoreTTA')
        if 'tta_pipeline' not in cfg:
            cfg.tta_pipeline = _flip_tta_pipeline(test_dataset.pipeline, test_dataset.pipeline[-1])


class MMDet(Framework):
    name = 'mmdet'
    config_folder = 'configs/det/'
    default_shape = (800, 1333)

    def random_sample(self, shape, train, num_classes):
        from mmdet.structures import DetDataSample
        from mmengine.structures import InstanceData
        sample = DetDataSample(metainfo=_sample_meta(shape))
        if train:
            h, w = shape
            xy = torch.rand(4, 2) * torch.tensor([w / 2, h / 2])
            wh = torch.rand(4, 2) * torch.tensor([w / 2, h / 2]) + 8
            sample.gt_instances = InstanceData(bboxes=torch.cat([xy, xy + wh], 1),
                                               labels=torch.randint(num_classes, (4, )))
        return sample

    def input_shape(self, cfg):
        if 'SSD' in cfg.model.get('bbox_head', {}).get('type', ''):
            size = cfg.get('input_size', 320)
            return (size, size)
        return self.default_shape

    def init_model(self, cfg, checkpoint, device):
        from mmdet.apis import init_detector
        return init_detector(cfg, checkpoint, device=device)

    def inference(self, model, images):
        from mmdet.apis import inference_detector
        return inference_detector(model, images)

    def turn_on_visualization(self, cfg, show, show_dir, wait_time):
        hook = super().turn_on_visualization(cfg, show, show_dir, wait_time)
        if show_dir:
            hook['test_out_dir'] = show_dir
        return hook

    def _default_tta(self, cfg, test_dataset):
        if 'tta_model' not in cfg:
            warnings.warn('Cannot find ``tta_model`` in config, using DetTTAModel.')
            cfg.tta_model = dict(
                type='DetTTAModel',
                tta_cfg=dict(nms=dict(type='nms', iou_threshold=0.5), max_per_img=100))
        if 'tta_pipeline' not in cfg:
            warnings.warn('Cannot find ``tta_pipeline`` in config, using a flip TTA.')
            cfg.tta_pipeline = _flip_tta_pipeline(
                test_dataset.pipeline,
                dict(type='PackDetInputs',
                     meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor',
                                'flip', 'flip_direction')))

    def result_dumper(self, out):
        from mmdet.evaluation import DumpDetResults
        return DumpDetResults(out_file_path=out)


class MMSeg(Framework):
    name = 'mmseg'
    config_folder = 'configs/seg/'
    default_shape = (512, 512)

    def random_sample(self, shape, train, num_classes):
        from mmengine.structures import PixelData
        from mmseg.structures import SegDataSample
        sample = SegDataSample(metainfo=_sample_meta(shape))
        if train:
            sample.gt_sem_seg = PixelData(data=torch.randint(num_classes, (1, *shape)))
        return sample

    def init_model(self, cfg, checkpoint, device):
        from mmseg.apis import init_model
        return init_model(cfg, checkpoint, device=device)

    def inference(self, model, images):
        from mmseg.apis import inference_model
        return inference_model(model, images)

    def turn_on_visualization(self, cfg, show, show_dir, wait_time):
        hook = super().turn_on_visualization(cfg, show, show_dir, wait_time)
        if show_dir:  # the visualizer saves the painted images
            cfg.visualizer['save_dir'] = show_dir
        return hook

    def _default_tta(self, cfg, test_dataset):
        missing = [key for key in ('tta_model', 'tta_pipeline') if key not in cfg]
        if missing:
            raise RuntimeError(f'--tta for mmseg needs {" and ".join(missing)} in the config '
                               '(mmseg has no default test-time augmentation).')

    def set_output(self, cfg, out):  # a directory of predicted segmentation maps
        cfg.test_evaluator['output_dir'] = out
        cfg.test_evaluator['keep_results'] = True

    def result_dumper(self, out):
        return None


_ADAPTERS = {adapter.name: adapter for adapter in (MMPretrain(), MMDet(), MMSeg())}


def get_adapter(framework: Union[str, Config]) -> Framework:
    """The adapter of a framework, given by name or by a config (:func:`framework_of`)."""
    if not isinstance(framework, str):
        framework = framework_of(framework)
    if framework not in _ADAPTERS:
        raise ValueError(f'Unknown framework {framework!r}; valid: {", ".join(FRAMEWORKS)}')
    return _ADAPTERS[framework]

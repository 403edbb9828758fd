"""The demo's three tasks: their toy configs (full and quick run), names and quality bar, and the
size of the quick run's toy data."""
from typing import NamedTuple, Tuple


class Metric(NamedTuple):
    """A metric of the quality bar: its key in the metrics that tools/test.py dumps, the bar
    (the full run passes at ``value >= bar``) and its name in the summary."""
    key: str
    bar: float
    label: str


class Task(NamedTuple):
    """A task of the demo: what it is called, its model, its configs and its quality bar."""
    name: str
    model: str
    config: str
    quick_config: str
    metrics: Tuple[Metric, ...]


TASKS = {
    'cls': Task('classification', 'EMOv2-1M classifier', 'configs/cls/toy/emo2-1m_toy-cls.py',
                'configs/cls/toy/emo2-1m_toy-cls_quick.py',
                (Metric('accuracy/top1', 90.0, 'top-1 (%)'), )),
    'det': Task('detection', 'SSDLite-EMOv2-1M', 'configs/det/toy/ssdlite_emo2-1m_toy-det.py',
                'configs/det/toy/ssdlite_emo2-1m_toy-det_quick.py',
                (Metric('coco/bbox_mAP', 0.50, 'bbox mAP@[.5:.95]'),
                 Metric('coco/bbox_mAP_50', 0.80, 'bbox mAP@0.5'))),
    'seg': Task('segmentation', 'SegFormer-EMOv2-1M',
                'configs/seg/toy/segformer_emo2-1m_toy-seg.py',
                'configs/seg/toy/segformer_emo2-1m_toy-seg_quick.py',
                (Metric('mIoU', 70.0, 'mIoU (%)'), )),
}

#: The quick run's toy data (options of tools/dataset_converters/make_toy_data.py); its
#: schedules are the ``*_quick.py`` configs.
QUICK_DATA = dict(cls_train_per_class=100, cls_val_per_class=20, det_train=64, det_val=16,
                  seg_train=48, seg_val=12)

#: File name of the classifier converted to a backbone checkpoint (in ``<work-dir>/cls/``).
BACKBONE_NAME = 'emo2-1m_toy-cls_backbone.pth'

"""The "toy shapes" datasets of ``make demo`` and the tests.

One deterministic generator writes three small datasets in the *real* layouts that the stock
OpenMMLab datasets read, so the demo exercises the same configs / tools / code paths as ImageNet,
COCO and ADE20K runs::

    data/toy/
    ├── cls/    ImageNet layout (mmpretrain ImageNet / CustomDataset)   toy_data/imagenet.py
    ├── det/    COCO layout (mmdet CocoDataset)                         toy_data/coco.py
    └── seg/    ADE20K layout (mmseg BaseSegDataset / ADE20KDataset)    toy_data/ade20k.py

The scenes (filled shapes with occlusion on cluttered backgrounds) are drawn by
:mod:`emo_mm.toy_data.scene` from the outlines of :mod:`emo_mm.toy_data.shapes`;
:func:`make_toy_data` (:mod:`emo_mm.toy_data.generate`) checks the arguments and reuses a
complete generation with the same settings. The command line is
``tools/dataset_converters/make_toy_data.py``.

Example:
    >>> import tempfile
    >>> from emo_mm.toy_data import make_toy_data
    >>> out = tempfile.mkdtemp()
    >>> res = make_toy_data(out, tasks=['cls'], classes=['circle', 'square'],
    ...                     cls_train_per_class=2, cls_val_per_class=1, verbose=False)
    >>> res['cls']['generated'], make_toy_data(
    ...     out, tasks=['cls'], classes=['circle', 'square'], cls_train_per_class=2,
    ...     cls_val_per_class=1, verbose=False)['cls']['generated']  # complete: reused
    (True, False)
"""
from .generate import DEFAULTS, EXTRA_DEFAULTS, MASK_FORMATS, TASKS, make_toy_data
from .shapes import SHAPES

__all__ = ['make_toy_data', 'DEFAULTS', 'EXTRA_DEFAULTS', 'MASK_FORMATS', 'TASKS', 'SHAPES']

"""The segmentation set in the ADE20K layout (mmseg ``BaseSegDataset`` / ``ADE20KDataset``)::

    seg/
    ├── images/{training,validation}/toy_{train,val}_00000001.jpg
    ├── annotations/{training,validation}/toy_{train,val}_00000001.png
    └── classes.txt                    label order after ``reduce_zero_label=True``

PNG value ``0`` = "other" (reserved, never written; ignored with ``reduce_zero_label``), ``1`` =
background, ``k + 2`` = ``classes[k]``. With ``reduce_zero_label=True`` (the ADE20K default) the
training labels are ``0 = background, k + 1 = classes[k]``, i.e. ``num_classes = len(classes) +
1`` and ``metainfo=dict(classes=('background', *classes))``.
"""
import os
import os.path as osp

import numpy as np

from .files import save_jpg, save_png, write_text
from .scene import image_rng, random_names, render_scene

SEG_BACKGROUND = 1  # PNG value of the background; 0 ("other") is never written, shape k is k + 2


def write_seg(root, seed, classes, params, scene, log):
    """Write the segmentation set into the empty folder ``root``.

    Args:
        root (str): The task folder (``<out>/seg``).
        seed (int): The random seed.
        classes (list[str]): The shape classes, in label (alphabetical) order.
        params (dict): ``seg_size``, ``seg_train``, ``seg_val``, ``seg_max_objects``,
            ``clutter``.
        scene (dict): The scene settings (``SCENES['seg']``).
        log (callable): Prints a progress line.
    """
    size, max_obj = params['seg_size'], params['seg_max_objects']
    write_text(osp.join(root, 'classes.txt'), ('background', *classes))
    for split, n, sub in (('train', params['seg_train'], 'training'),
                          ('val', params['seg_val'], 'validation')):
        img_dir = osp.join(root, 'images', sub)
        ann_dir = osp.join(root, 'annotations', sub)
        os.makedirs(img_dir)
        os.makedirs(ann_dir)
        for i in range(n):
            rng = image_rng(seed, 'seg', split, i)
            names = random_names(rng, classes, max_obj)
            img, insts = render_scene(rng, size, names, scene, params['clutter'])
            label = np.full((size, size), SEG_BACKGROUND, np.uint8)
            for inst in insts:  # visible masks are disjoint
                label[inst['mask']] = classes.index(inst['name']) + 2
            stem = f'toy_{split}_{i + 1:08d}'
            save_jpg(img, osp.join(img_dir, stem + '.jpg'))
            save_png(label, osp.join(ann_dir, stem + '.png'))
        log(f'  seg/{sub}: {n} images ({size}x{size})')

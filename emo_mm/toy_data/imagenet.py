"""The classification set in the ImageNet layout (mmpretrain ``ImageNet`` / ``CustomDataset``)::

    cls/
    ├── train/<class>/<class>_00000.png    one shape per image
    ├── val/<class>/<class>_00000.png
    └── meta/{train,val}.txt               "<class>/<file>.png <label>" (paths in train/, val/)
        meta/classes.txt                   one class name per line, label order

Label ``i`` = ``classes[i]``; the classes are always in alphabetical order, so the label of
``meta/*.txt`` equals the index that folder mode (sorted sub-folder names) assigns.
"""
import os
import os.path as osp

from .files import save_png, write_text
from .scene import image_rng, render_scene
from .shapes import SHAPES


def write_cls(root, seed, classes, params, scene, log):
    """Write the classification set into the empty folder ``root``.

    Args:
        root (str): The task folder (``<out>/cls``).
        seed (int): The random seed.
        classes (list[str]): The shape classes, in label (alphabetical) order.
        params (dict): ``cls_size``, ``cls_train_per_class``, ``cls_val_per_class``, ``clutter``.
        scene (dict): The scene settings (``SCENES['cls']``).
        log (callable): Prints a progress line.
    """
    size = params['cls_size']
    counts = dict(train=params['cls_train_per_class'], val=params['cls_val_per_class'])
    os.makedirs(osp.join(root, 'meta'))
    write_text(osp.join(root, 'meta', 'classes.txt'), classes)
    for split, n in counts.items():
        lines = []
        for label, name in enumerate(classes):
            d = osp.join(root, split, name)
            os.makedirs(d)
            for i in range(n):
                rng = image_rng(seed, 'cls', split, SHAPES.index(name), i)
                img, _ = render_scene(rng, size, [name], scene, params['clutter'])
                fname = f'{name}_{i:05d}.png'
                save_png(img, osp.join(d, fname))
                lines.append(f'{name}/{fname} {label}')
        write_text(osp.join(root, 'meta', f'{split}.txt'), lines)
        log(f'  cls/{split}: {n * len(classes)} images ({n} per class, {size}x{size})')

"""The detection set in the COCO layout (mmdet ``CocoDataset``, pycocotools)::

    det/
    ├── train2017/000000000001.jpg
    ├── val2017/000001000001.jpg
    └── annotations/instances_{train,val}2017.json   boxes + instance masks (polygon / RLE)

COCO ``category_id = i + 1`` for ``classes[i]``; coordinates are pixel-edge coordinates (pixel
``(row i, col j)`` spans ``[j, j+1) x [i, i+1)``, as pycocotools rasterises polygons). Objects
hidden by no other object get a ``polygon`` segmentation (the drawn outline), ``bbox`` = the
polygon's extent and ``area`` = its (shoelace) area, like COCO polygon annotations; occluded
objects get an uncompressed ``RLE`` of their *visible* pixels with the tight box and pixel count
of that mask (``mask_format='mixed'``, default). ``mask_format='rle'`` uses RLE for all.

Example:
    >>> import numpy as np
    >>> from emo_mm.toy_data.coco import mask_bbox, rle_encode
    >>> mask = np.zeros((4, 4), bool)
    >>> mask[1:3, 2] = True
    >>> rle_encode(mask)  # column-major runs, starting with a run of zeros
    {'size': [4, 4], 'counts': [9, 2, 5]}
    >>> mask_bbox(mask)
    [2.0, 1.0, 1.0, 2.0]
"""
import os
import os.path as osp

import numpy as np

from .files import save_jpg, write_json
from .scene import GENERATOR_VERSION, image_rng, random_names, render_scene
from .shapes import shoelace_area


def rle_encode(mask):
    """Uncompressed COCO RLE (column-major run lengths, starting with a run of zeros)."""
    mask = np.asarray(mask, dtype=bool)
    flat = mask.T.reshape(-1)
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    counts = np.diff(np.concatenate([[0], change, [flat.size]])).tolist()
    if flat.size and flat[0]:
        counts = [0] + counts
    return {'size': [int(mask.shape[0]), int(mask.shape[1])], 'counts': counts}


def mask_bbox(mask):
    """Tight [x, y, w, h] box (pixel-edge coordinates) of a non-empty bool mask."""
    ys = np.flatnonzero(mask.any(1))
    xs = np.flatnonzero(mask.any(0))
    return [float(xs[0]), float(ys[0]), float(xs[-1] + 1 - xs[0]), float(ys[-1] + 1 - ys[0])]


def polygon_bbox(poly):
    """[x, y, w, h] extent of polygon vertices (as COCO boxes of polygon annotations)."""
    lo, hi = poly.min(0), poly.max(0)
    return [round(float(lo[0]), 2), round(float(lo[1]), 2),
            round(float(hi[0] - lo[0]), 2), round(float(hi[1] - lo[1]), 2)]


def polygon_area(poly):
    """Shoelace area of a simple polygon (rounded to 0.01, as the annotations)."""
    return round(shoelace_area(poly), 2)


def write_det(root, seed, classes, params, scene, log):
    """Write the detection set into the empty folder ``root``.

    Args:
        root (str): The task folder (``<out>/det``).
        seed (int): The random seed.
        classes (list[str]): The shape classes, in label (alphabetical) order.
        params (dict): ``det_size``, ``det_train``, ``det_val``, ``det_max_objects``,
            ``mask_format``, ``clutter``.
        scene (dict): The scene settings (``SCENES['det']``).
        log (callable): Prints a progress line.
    """
    size, max_obj, fmt = params['det_size'], params['det_max_objects'], params['mask_format']
    os.makedirs(osp.join(root, 'annotations'))
    categories = [dict(id=i + 1, name=c, supercategory='shape') for i, c in enumerate(classes)]
    for split, n, id0 in (('train', params['det_train'], 0),
                          ('val', params['det_val'], 1_000_000)):
        img_dir = osp.join(root, f'{split}2017')
        os.makedirs(img_dir)
        images, anns = [], []
        for i in range(n):
            rng = image_rng(seed, 'det', split, i)
            names = random_names(rng, classes, max_obj)
            img, insts = render_scene(rng, size, names, scene, params['clutter'])
            img_id = id0 + i + 1
            fname = f'{img_id:012d}.jpg'
            save_jpg(img, osp.join(img_dir, fname))
            images.append(dict(id=img_id, file_name=fname, width=size, height=size))
            for inst in insts:
                if fmt == 'rle' or inst['occluded']:
                    segm = rle_encode(inst['mask'])
                    bbox, area = mask_bbox(inst['mask']), float(inst['mask'].sum())
                else:
                    poly = np.round(inst['poly'], 2)
                    segm = [poly.reshape(-1).tolist()]
                    bbox, area = polygon_bbox(poly), polygon_area(poly)
                anns.append(dict(
                    id=len(anns) + 1, image_id=img_id,
                    category_id=classes.index(inst['name']) + 1,
                    bbox=bbox, area=area, iscrowd=0, segmentation=segm))
        write_json(osp.join(root, 'annotations', f'instances_{split}2017.json'), dict(
            info=dict(description='emo_mm toy shapes (synthetic)', version=str(GENERATOR_VERSION),
                      year=2017, contributor='tools/dataset_converters/make_toy_data.py'),
            licenses=[], images=images, annotations=anns, categories=categories))
        log(f'  det/{split}2017: {n} images, {len(anns)} objects ({size}x{size})')

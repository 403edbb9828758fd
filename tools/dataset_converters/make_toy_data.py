#!/usr/bin/env python
"""Generate the "toy shapes" datasets used by ``make demo`` and the tests.

One deterministic generator writes three small datasets in the *real* layouts that the stock
OpenMMLab datasets read, so the demo exercises the same configs/tools/code paths as ImageNet,
COCO and ADE20K runs::

    data/toy/
    ├── cls/                               ImageNet layout (mmpretrain ImageNet / CustomDataset)
    │   ├── train/<class>/<class>_00000.png    one shape per image
    │   ├── val/<class>/<class>_00000.png
    │   └── meta/{train,val}.txt               "<class>/<file>.png <label>" lines (in train/, val/)
    │       meta/classes.txt                   one class name per line, label order
    ├── det/                               COCO layout (mmdet CocoDataset)
    │   ├── train2017/000000000001.jpg
    │   ├── val2017/000001000001.jpg
    │   └── annotations/instances_{train,val}2017.json   boxes + instance masks (polygon / RLE)
    └── seg/                               ADE20K layout (mmseg BaseSegDataset / ADE20KDataset)
        ├── images/{training,validation}/toy_{train,val}_00000001.jpg
        ├── annotations/{training,validation}/toy_{train,val}_00000001.png
        └── classes.txt                    label order after ``reduce_zero_label=True``

Objects are filled shapes (``circle``, ``cross``, ``square``, ``star``, ``triangle``) with random
size, rotation, position, colour and shading, drawn with occlusion on cluttered backgrounds
(gradients, stripes, blotches, distractor lines and arcs, sensor noise; ``clutter`` scales them).
Objects are always *brighter* than the background beneath them (any hue): with random contrast
polarity a small CNN needed several times more steps to leave chance level, too slow for a CPU
demo; with it the task still takes a few hundred steps of real training. An object's colour
is also distinct from that of every object it covers: the edge between two overlapping objects
stays visible, so every label can be read off the pixels.

Label conventions
-----------------
* cls: label ``i`` = ``classes[i]``; classes are always in alphabetical order, so the label of
  ``meta/*.txt`` equals the index that folder mode (sorted sub-folder names) assigns.
* det: COCO ``category_id = i + 1`` for ``classes[i]``; coordinates are pixel-edge coordinates
  (pixel ``(row i, col j)`` spans ``[j, j+1) x [i, i+1)``, as pycocotools rasterises polygons).
  Objects hidden by no other object get a ``polygon`` segmentation (the drawn outline), ``bbox`` =
  the polygon's extent and ``area`` = its (shoelace) area, like COCO polygon annotations; occluded
  objects get an uncompressed ``RLE`` of their *visible* pixels with the tight box and pixel count
  of that mask (``mask_format='mixed'``, default). ``mask_format='rle'`` uses RLE for all.
* seg: PNG value ``0`` = "other" (reserved, never written; ignored with ``reduce_zero_label``),
  ``1`` = background, ``k + 2`` = ``classes[k]``. With ``reduce_zero_label=True`` (the ADE20K
  default) the training labels are ``0 = background, k + 1 = classes[k]``, i.e.
  ``num_classes = len(classes) + 1`` and ``metainfo=dict(classes=('background', *classes))``.

Every image has its own random stream (``seed``, task, split, index), so the data depend only on
the seed and the settings, and adding images does not change the existing ones.

A task folder that is complete for the same settings is skipped (``make demo`` calls this
unconditionally); a folder generated with other settings (options, generator version or the
per-task scene settings ``_SCENE``), or left incomplete, is regenerated; ``--force`` always
regenerates.

Usage::

    python tools/dataset_converters/make_toy_data.py [--out data/toy] [--seed 0] \
        [--tasks cls det seg] [--clutter 1.0] [--force] [--cls-size 64 ...]
"""
import argparse
import json
import math
import os
import os.path as osp
import shutil
import sys
import time

import numpy as np
from PIL import Image, ImageDraw

SHAPES = ('circle', 'cross', 'square', 'star', 'triangle')
TASKS = ('cls', 'det', 'seg')
MASK_FORMATS = ('mixed', 'rle')
GENERATOR_VERSION = 3  # 3: overlapping objects contrast with each other; 2: det / seg shapes
# sized by area (1: by circumradius)
MARKER = '.toy_complete.json'
MIN_IMAGE_SIZE = 32
SUPERSAMPLE = 4  # shapes are rasterised at 4x and box-filtered: anti-aliased edges
SEG_OTHER, SEG_BACKGROUND = 0, 1  # PNG values; shape k is written as k + 2

DEFAULTS = dict(
    cls_size=64, cls_train_per_class=200, cls_val_per_class=40,
    det_size=128, det_train=800, det_val=150, det_max_objects=4,
    seg_size=128, seg_train=1500, seg_val=100, seg_max_objects=5)
EXTRA_DEFAULTS = dict(clutter=1.0, mask_format='mixed')

# Per-task scene settings. ``radius`` is a range of fractions of the image side: the
# circumradius of the shapes in cls (``size_by='circumradius'``), their *area-equivalent* radius
# sqrt(area / pi) in det and seg (``size_by='area'``).
# * det / seg: every class covers the same number of pixels on average. Sized by circumradius, a
#   circle covers 2.4x the pixels of a triangle or a star, and a segmentation model trained on
#   the pixels learned the small-area classes several times slower (triangle IoU 12 vs circle
#   71 after the demo's schedule).
# * cls: sized by circumradius, the shape's area is a first, coarse cue that gets a classifier
#   trained from scratch off chance level quickly; sized by area, the demo's classifier stayed
#   at chance for about a third of its schedule.
# * Scale: at the images' own sizes the cls objects (circumradius 14-29 px at 64 px) are about as
#   large as the det objects (area radius 10-24 px at 128 px), so a classifier pretrained at
#   64 px hands the detector features of the right scale. The seg objects are somewhat larger
#   (15-33 px).
_SCENE = dict(
    cls=dict(radius=(0.22, 0.46), size_by='circumradius', min_visible=1.0, lines=(2, 6),
             arcs=(0, 2), fg_lines=(0, 2)),
    det=dict(radius=(0.08, 0.19), size_by='area', min_visible=0.7, lines=(3, 9), arcs=(0, 3),
             fg_lines=(0, 2)),
    # no lines over the objects in seg: every pixel's label stays unambiguous
    seg=dict(radius=(0.12, 0.26), size_by='area', min_visible=0.5, lines=(3, 9), arcs=(0, 3),
             fg_lines=(0, 0)),
)
_TASK_CODE = {'cls': 1, 'det': 2, 'seg': 3}
_SPLIT_CODE = {'train': 1, 'val': 2}
MIN_CONTRAST = 80.0  # RGB distance between an object's colour and the mean colour beneath it
MIN_BRIGHTER = 60.0  # objects are brighter (mean RGB) than the background beneath them by this
BG_MAX = 160.0  # background gradient colours are drawn from [0, BG_MAX]^3


# --------------------------------------------------------------------------- geometry / drawing
def shape_polygon(name, rng, radius, angle):
    """Vertices (N, 2) of a shape of circumradius ``radius`` centred on the origin."""
    if name == 'circle':
        t = np.linspace(0, 2 * np.pi, 48, endpoint=False)
        pts = np.stack([np.cos(t), np.sin(t)], 1)
    elif name == 'square':
        t = np.pi / 4 + np.arange(4) * np.pi / 2
        pts = np.stack([np.cos(t), np.sin(t)], 1)
    elif name == 'triangle':  # jittered equilateral triangle: every angle stays >= ~35 degrees
        t = np.pi / 2 + np.arange(3) * 2 * np.pi / 3 + rng.uniform(-0.25, 0.25, 3)
        r = rng.uniform(0.85, 1.0, 3)
        pts = np.stack([r * np.cos(t), r * np.sin(t)], 1)
    elif name == 'star':  # five points
        inner = rng.uniform(0.38, 0.5)
        t = np.pi / 2 + np.arange(10) * np.pi / 5
        r = np.where(np.arange(10) % 2 == 0, 1.0, inner)
        pts = np.stack([r * np.cos(t), r * np.sin(t)], 1)
    elif name == 'cross':  # plus sign, arm half-width a, arm tip at distance ~1 from the centre
        a = rng.uniform(0.26, 0.36)
        b = math.sqrt(1 - a * a)
        pts = np.array([(a, b), (a, a), (b, a), (b, -a), (a, -a), (a, -b),
                        (-a, -b), (-a, -a), (-b, -a), (-b, a), (-a, a), (-a, b)])
    else:
        raise ValueError(f'unknown shape {name!r}; known: {SHAPES}')
    c, s = math.cos(angle), math.sin(angle)
    return radius * pts @ np.array([[c, s], [-s, c]])


def rasterize(poly, size):
    """Anti-aliased coverage (float32 in [0, 1]) of a polygon given in pixel-edge coordinates
    (pixel (i, j) spans [j, j+1) x [i, i+1)), clipped to the ``size`` x ``size`` image."""
    k = SUPERSAMPLE
    x0, y0 = np.clip(np.floor(poly.min(0)).astype(int), 0, size)
    x1, y1 = np.clip(np.ceil(poly.max(0)).astype(int), 0, size)
    out = np.zeros((size, size), np.float32)
    if x1 <= x0 or y1 <= y0:
        return out
    # draw only the polygon's pixel box; PIL fills (sub)pixels by their centre at integer
    # coordinates -> shift by half a subpixel
    canvas = Image.new('L', ((x1 - x0) * k, (y1 - y0) * k), 0)
    ImageDraw.Draw(canvas).polygon([(k * (x - x0) - 0.5, k * (y - y0) - 0.5) for x, y in poly],
                                   fill=255)
    small = canvas.resize((x1 - x0, y1 - y0), Image.BOX)
    out[y0:y1, x0:x1] = np.asarray(small, dtype=np.float32) / 255.0
    return out


def _random_colour(rng):
    return rng.uniform(0, 255, 3)


def _lines(rng, canvas, n, max_width):
    draw = ImageDraw.Draw(canvas)
    size = canvas.size[0]
    for _ in range(n):
        x0, y0, x1, y1 = rng.uniform(-0.1, 1.1, 4) * size
        draw.line([(x0, y0), (x1, y1)], fill=tuple(int(v) for v in _random_colour(rng)),
                  width=int(rng.integers(1, max_width + 1)))


def _count(rng, lo_hi, clutter):
    """Random count in ``lo_hi`` scaled by ``clutter``."""
    lo, hi = (int(round(v * clutter)) for v in lo_hi)
    return int(rng.integers(lo, hi + 1))


def background(rng, size, scene, clutter=1.0):
    """Cluttered float32 HxWx3 background: gradient + stripes + blotches + lines + arcs; the
    amplitude / number of the last four scale with ``clutter`` (0 = smooth gradient only)."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    theta = rng.uniform(0, 2 * np.pi)
    t = (np.cos(theta) * (xx - 0.5) + np.sin(theta) * (yy - 0.5)) * math.sqrt(2) * 0.5 + 0.5
    # darker than the objects on average (they must be brighter than what lies beneath them)
    c0, c1 = rng.uniform(0, BG_MAX, 3), rng.uniform(0, BG_MAX, 3)
    img = c0 * (1 - t)[..., None] + c1 * t[..., None]
    if rng.random() < 0.6:  # stripes
        phi = rng.uniform(0, np.pi)
        period = rng.uniform(3.0, size / 4) / size
        wave = np.sin(2 * np.pi * (np.cos(phi) * xx + np.sin(phi) * yy) / period
                      + rng.uniform(0, 2 * np.pi))
        img += wave[..., None] * rng.uniform(-40, 40, 3) * clutter
    if rng.random() < 0.6:  # low-frequency colour blotches
        g = int(rng.integers(3, 8))
        grid = rng.uniform(-50, 50, (g, g, 3)).astype(np.float32)
        blot = np.stack([np.asarray(Image.fromarray(grid[..., c]).resize(
            (size, size), Image.BICUBIC)) for c in range(3)], -1)
        img += blot * clutter
    canvas = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    scale = max(1, size // 64)
    _lines(rng, canvas, _count(rng, scene['lines'], clutter), 2 * scale)
    draw = ImageDraw.Draw(canvas)
    for _ in range(_count(rng, scene['arcs'], clutter)):
        cx, cy = rng.uniform(0, 1, 2) * size
        r = rng.uniform(0.1, 0.4) * size
        a0 = rng.uniform(0, 360)
        draw.arc([cx - r, cy - r, cx + r, cy + r], a0, a0 + rng.uniform(60, 200),
                 fill=tuple(int(v) for v in _random_colour(rng)),
                 width=int(rng.integers(1, scale + 1)))
    return np.asarray(canvas, dtype=np.float32)


def _shoelace(poly):
    x, y = poly[:, 0], poly[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))


def _place(rng, name, size, radius_range, size_by='circumradius'):
    """Random polygon of shape ``name`` lying fully inside the image, with a circumradius
    (``size_by='circumradius'``) or an area-equivalent radius (``'area'``: the area of a circle of
    that radius) drawn from ``radius_range`` (fractions of ``size``)."""
    radius = rng.uniform(*radius_range) * size
    poly = shape_polygon(name, rng, radius, rng.uniform(0, 2 * np.pi))
    if size_by == 'area':
        poly = poly * math.sqrt(math.pi * radius**2 / _shoelace(poly))
    lo, hi = poly.min(0), poly.max(0)
    margin = 1.0
    span = size - 2 * margin - (hi - lo)
    if np.any(span < 0):  # cannot happen with the radius fractions above; keep it safe anyway
        poly = poly * ((size - 2 * margin) / (hi - lo).max())
        lo, hi = poly.min(0), poly.max(0)
        span = np.maximum(size - 2 * margin - (hi - lo), 0)
    offset = margin - lo + rng.uniform(0, 1, 2) * span
    return poly + offset


def _object_colour(rng, bg_mean, below_mean, overlapped=()):
    """Object colour: brighter than the background beneath it (mean RGB at least
    ``MIN_BRIGHTER`` above), at least ``MIN_CONTRAST`` (RGB distance) from whatever is beneath
    it now on average (background or an earlier object) and from the colour of every earlier
    object it overlaps, so that the edge between two overlapping objects stays visible; the
    best of 64 candidates if none qualifies."""
    cand = rng.uniform(0, 255, (64, 3))
    margin = np.minimum(cand.mean(1) - bg_mean.mean() - MIN_BRIGHTER,
                        np.linalg.norm(cand - below_mean, axis=1) - MIN_CONTRAST)
    for colour in overlapped:
        margin = np.minimum(margin, np.linalg.norm(cand - colour, axis=1) - MIN_CONTRAST)
    ok = np.flatnonzero(margin >= 0)
    return cand[ok[0] if ok.size else int(np.argmax(margin))]


def _paint(rng, img, bg, alpha, binary, overlapped=()):
    """Composite one shape (contrasting colour, see ``_object_colour``, plus mild shading);
    returns its colour."""
    colour = _object_colour(rng, bg[binary].mean(0), img[binary].mean(0), overlapped)
    theta = rng.uniform(0, 2 * np.pi)
    strength = rng.uniform(0, 40)
    rows, cols = np.flatnonzero(alpha.any(1)), np.flatnonzero(alpha.any(0))
    box = np.s_[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]  # work on the shape's box only
    yy, xx = np.mgrid[box].astype(np.float32) / img.shape[0]
    shade = np.cos(theta) * xx + np.sin(theta) * yy
    shade -= shade[binary[box]].mean()
    a = alpha[box][..., None]
    img[box] = img[box] * (1 - a) + a * (colour + strength * shade[..., None])
    return colour


def render_scene(rng, size, names, scene, clutter=1.0):
    """Draw shapes ``names`` (in drawing order) with occlusion.

    Returns (uint8 image, list of instances); an instance has keys ``name``, ``poly`` (pixel-edge
    vertices), ``mask`` (visible bool mask) and ``occluded`` (bool). Placements that would leave an
    earlier object less than ``scene['min_visible']`` of its area visible are re-drawn (and the
    object dropped after 30 attempts).
    """
    img = background(rng, size, scene, clutter)
    bg = img.copy()
    placed = []  # dicts with full / visible masks
    for name in names:
        for _ in range(30):
            poly = _place(rng, name, size, scene['radius'], scene['size_by'])
            alpha = rasterize(poly, size)
            binary = alpha >= 0.5
            ok = binary.any()
            for inst in placed:
                vis = inst['mask'] & ~binary
                if vis.sum() < scene['min_visible'] * inst['full'].sum():
                    ok = False
                    break
            if ok:
                break
        else:
            continue
        overlapped = []
        for inst in placed:
            hidden = inst['mask'] & binary
            if hidden.any():
                inst['mask'] = inst['mask'] & ~binary
                inst['occluded'] = True
                overlapped.append(inst['colour'])
        colour = _paint(rng, img, bg, alpha, binary, overlapped)
        placed.append(dict(name=name, poly=poly, full=binary, mask=binary.copy(),
                           occluded=False, colour=colour))
    n_fg = _count(rng, scene['fg_lines'], clutter)
    if n_fg:  # thin clutter over the objects (too thin to change boxes or class evidence)
        canvas = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
        _lines(rng, canvas, n_fg, 1)
        img = np.asarray(canvas, dtype=np.float32)
    sigma = rng.uniform(2, 2 + 8 * clutter)
    img += rng.normal(0, sigma, img.shape)
    img = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    for inst in placed:
        del inst['full'], inst['colour']
    return img, placed


# --------------------------------------------------------------------------- annotations
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
    return round(_shoelace(poly), 2)


# --------------------------------------------------------------------------- file helpers
def _rng(seed, task, split, *idx):
    return np.random.default_rng([seed, _TASK_CODE[task], _SPLIT_CODE[split], *idx])


def _save_png(arr, path):
    Image.fromarray(arr).save(path, format='PNG', compress_level=6)


def _save_jpg(arr, path):
    Image.fromarray(arr).save(path, format='JPEG', quality=95, subsampling=0)


def _write_text(path, lines):
    with open(path, 'w', newline='\n') as f:
        f.write(''.join(f'{line}\n' for line in lines))


def _write_json(path, obj):
    with open(path, 'w', newline='\n') as f:
        json.dump(obj, f, separators=(',', ':'))


def _count_files(root):
    return sum(len([f for f in files if f != MARKER]) for _, _, files in os.walk(root))


# --------------------------------------------------------------------------- the three tasks
def _gen_cls(root, seed, classes, p, log):
    size = p['cls_size']
    counts = dict(train=p['cls_train_per_class'], val=p['cls_val_per_class'])
    os.makedirs(osp.join(root, 'meta'))
    _write_text(osp.join(root, 'meta', 'classes.txt'), classes)
    for split, n in counts.items():
        lines = []
        for label, name in enumerate(classes):
            d = osp.join(root, split, name)
            os.makedirs(d)
            for i in range(n):
                rng = _rng(seed, 'cls', split, SHAPES.index(name), i)
                img, _ = render_scene(rng, size, [name], _SCENE['cls'], p['clutter'])
                fname = f'{name}_{i:05d}.png'
                _save_png(img, osp.join(d, fname))
                lines.append(f'{name}/{fname} {label}')
        _write_text(osp.join(root, 'meta', f'{split}.txt'), lines)
        log(f'  cls/{split}: {n * len(classes)} images ({n} per class, {size}x{size})')


def _gen_det(root, seed, classes, p, log):
    size, max_obj, fmt = p['det_size'], p['det_max_objects'], p['mask_format']
    os.makedirs(osp.join(root, 'annotations'))
    categories = [dict(id=i + 1, name=c, supercategory='shape') for i, c in enumerate(classes)]
    for split, n, id0 in (('train', p['det_train'], 0), ('val', p['det_val'], 1_000_000)):
        img_dir = osp.join(root, f'{split}2017')
        os.makedirs(img_dir)
        images, anns = [], []
        for i in range(n):
            rng = _rng(seed, 'det', split, i)
            k = int(rng.integers(1, max_obj + 1))
            names = [classes[j] for j in rng.integers(0, len(classes), k)]
            img, insts = render_scene(rng, size, names, _SCENE['det'], p['clutter'])
            img_id = id0 + i + 1
            fname = f'{img_id:012d}.jpg'
            _save_jpg(img, osp.join(img_dir, fname))
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
        _write_json(osp.join(root, 'annotations', f'instances_{split}2017.json'), dict(
            info=dict(description='emo_mm toy shapes (synthetic)', version=str(GENERATOR_VERSION),
                      year=2017, contributor='tools/dataset_converters/make_toy_data.py'),
            licenses=[], images=images, annotations=anns, categories=categories))
        log(f'  det/{split}2017: {n} images, {len(anns)} objects ({size}x{size})')


def _gen_seg(root, seed, classes, p, log):
    size, max_obj = p['seg_size'], p['seg_max_objects']
    _write_text(osp.join(root, 'classes.txt'), ('background', *classes))
    for split, n, sub in (('train', p['seg_train'], 'training'),
                          ('val', p['seg_val'], 'validation')):
        img_dir = osp.join(root, 'images', sub)
        ann_dir = osp.join(root, 'annotations', sub)
        os.makedirs(img_dir)
        os.makedirs(ann_dir)
        for i in range(n):
            rng = _rng(seed, 'seg', split, i)
            k = int(rng.integers(1, max_obj + 1))
            names = [classes[j] for j in rng.integers(0, len(classes), k)]
            img, insts = render_scene(rng, size, names, _SCENE['seg'], p['clutter'])
            label = np.full((size, size), SEG_BACKGROUND, np.uint8)
            for inst in insts:  # visible masks are disjoint
                label[inst['mask']] = classes.index(inst['name']) + 2
            stem = f'toy_{split}_{i + 1:08d}'
            _save_jpg(img, osp.join(img_dir, stem + '.jpg'))
            _save_png(label, osp.join(ann_dir, stem + '.png'))
        log(f'  seg/{sub}: {n} images ({size}x{size})')


_GENERATORS = dict(cls=_gen_cls, det=_gen_det, seg=_gen_seg)
_TASK_KEYS = dict(cls=('cls_size', 'cls_train_per_class', 'cls_val_per_class', 'clutter'),
                  det=('det_size', 'det_train', 'det_val', 'det_max_objects', 'mask_format',
                       'clutter'),
                  seg=('seg_size', 'seg_train', 'seg_val', 'seg_max_objects', 'clutter'))


# --------------------------------------------------------------------------- public API
def _check_args(seed, tasks, classes, params):
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f'seed must be a non-negative integer, got {seed!r}')
    if isinstance(tasks, str):
        tasks = (tasks, )
    tasks = tuple(tasks)
    bad = [t for t in tasks if t not in TASKS]
    if bad or not tasks:
        raise ValueError(f'tasks must be a non-empty subset of {TASKS}, got {tasks!r}')
    if isinstance(classes, str):
        classes = (classes, )
    classes = tuple(classes)
    bad = [c for c in classes if c not in SHAPES]
    if bad:
        raise ValueError(f'unknown classes {bad}; available: {SHAPES}')
    if len(set(classes)) != len(classes) or len(classes) < 2:
        raise ValueError(f'classes must be at least 2 distinct names, got {classes!r}')
    classes = tuple(sorted(classes))  # alphabetical = ImageNet folder-mode label order
    for key, value in params.items():
        if key == 'mask_format':
            if value not in MASK_FORMATS:
                raise ValueError(f'mask_format must be one of {MASK_FORMATS}, got {value!r}')
            continue
        if key == 'clutter':
            if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or \
                    not 0 <= value <= 1:
                raise ValueError(f'clutter must be a number in [0, 1], got {value!r}')
            params[key] = float(value)
            continue
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ValueError(f'{key} must be an integer, got {value!r}')
        if key.endswith('_size') and value < MIN_IMAGE_SIZE:
            raise ValueError(f'{key} must be >= {MIN_IMAGE_SIZE} pixels, got {value}')
        if value < 1:
            raise ValueError(f'{key} must be >= 1, got {value}')
    return int(seed), tasks, classes


def is_complete(task_dir, settings):
    """True when ``task_dir`` holds a finished generation with exactly these ``settings``."""
    marker = osp.join(task_dir, MARKER)
    if not osp.isfile(marker):
        return False
    try:
        with open(marker) as f:
            info = json.load(f)
    except (OSError, ValueError):
        return False
    return info.get('settings') == settings and info.get('num_files') == _count_files(task_dir)


def make_toy_data(out_dir='data/toy', seed=0, tasks=TASKS, classes=SHAPES, force=False,
                  verbose=True, **kwargs):
    """Generate (or reuse) the toy shapes datasets under ``out_dir``; see the module docstring.

    Args:
        out_dir (str): output root; tasks go to ``<out_dir>/{cls,det,seg}``.
        seed (int): random seed; same seed + settings -> byte-identical files.
        tasks (Sequence[str]): subset of ``('cls', 'det', 'seg')``.
        classes (Sequence[str]): subset (>= 2) of ``SHAPES``; always used in alphabetical order.
        force (bool): regenerate even when a complete matching generation exists.
        verbose (bool): print progress.
        **kwargs: sizes and counts, see ``DEFAULTS`` (``cls_size``, ``cls_train_per_class``,
            ``cls_val_per_class``, ``det_size``, ``det_train``, ``det_val``, ``det_max_objects``,
            ``seg_size``, ``seg_train``, ``seg_val``, ``seg_max_objects``), ``clutter`` (0..1,
            amount of background clutter and noise) and ``mask_format`` (``'mixed'`` |
            ``'rle'``, detection instance masks).

    Returns:
        dict: ``{task: {'path': str, 'generated': bool, 'seconds': float}}``.
    """
    unknown = sorted(set(kwargs) - set(DEFAULTS) - set(EXTRA_DEFAULTS))
    if unknown:
        raise TypeError(f'unknown options {unknown}; known: {sorted(DEFAULTS)} + '
                        f'{sorted(EXTRA_DEFAULTS)}')
    params = dict(DEFAULTS, **EXTRA_DEFAULTS)
    params.update(kwargs)
    seed, tasks, classes = _check_args(seed, tasks, classes, params)
    log = print if verbose else (lambda *a, **k: None)

    results = {}
    for task in tasks:
        task_dir = osp.join(out_dir, task)
        # the scene settings are part of the marker: data from other object sizes or clutter
        # settings is regenerated (JSON round trip: tuples compare as the lists read back)
        settings = json.loads(json.dumps(dict(
            generator='emo_mm toy shapes', version=GENERATOR_VERSION, task=task, seed=seed,
            classes=list(classes), scene=_SCENE[task],
            **{k: params[k] for k in _TASK_KEYS[task]})))
        if not force and is_complete(task_dir, settings):
            log(f'[toy-data] {task_dir}: complete, skipping (use --force to regenerate)')
            results[task] = dict(path=task_dir, generated=False, seconds=0.0)
            continue
        if osp.lexists(task_dir):
            ours = osp.exists(osp.join(task_dir, MARKER)) or osp.exists(
                osp.join(task_dir, MARKER + '.partial'))
            if not osp.isdir(task_dir) or osp.islink(task_dir):
                raise FileExistsError(f'{task_dir} exists and is not a directory')
            if not (ours or force or not os.listdir(task_dir)):
                raise FileExistsError(
                    f'{task_dir} exists, is not empty and was not written by this tool; '
                    'remove it or pass --force to overwrite it')
            log(f'[toy-data] {task_dir}: removing previous/incomplete data')
            shutil.rmtree(task_dir)
        os.makedirs(task_dir)
        partial = osp.join(task_dir, MARKER + '.partial')
        _write_json(partial, settings)
        t0 = time.time()
        log(f'[toy-data] generating {task_dir} (seed={seed}, classes={list(classes)})')
        _GENERATORS[task](task_dir, seed, list(classes), params, log)
        os.remove(partial)
        num_files = _count_files(task_dir)
        _write_json(osp.join(task_dir, MARKER), dict(settings=settings, num_files=num_files))
        dt = time.time() - t0
        log(f'[toy-data] {task_dir}: {num_files} files in {dt:.1f}s')
        results[task] = dict(path=task_dir, generated=True, seconds=dt)
    return results


_HELP = dict(size='image side in pixels', train_per_class='train images per class',
             val_per_class='val images per class',
             max_objects='at most this many objects per image (at least 1)')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Generate the toy shapes datasets (ImageNet / COCO / ADE20K layouts).',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--out', default='data/toy', help='output root')
    parser.add_argument('--seed', type=int, default=0, help='random seed')
    parser.add_argument('--tasks', nargs='+', choices=TASKS, default=list(TASKS),
                        help='datasets to write')
    parser.add_argument('--classes', nargs='+', choices=SHAPES, default=list(SHAPES),
                        help='shape classes (>= 2; used in alphabetical order)')
    parser.add_argument('--force', action='store_true',
                        help='regenerate even if a complete generation exists')
    parser.add_argument('--quiet', action='store_true', help='print nothing but errors')
    g = parser.add_argument_group('sizes and counts')
    for key, value in DEFAULTS.items():
        what = key.split('_', 1)[1]
        g.add_argument('--' + key.replace('_', '-'), type=int, default=value, dest=key,
                       help=_HELP.get(what, f'number of {what} images'))
    g.add_argument('--clutter', type=float, default=EXTRA_DEFAULTS['clutter'],
                   help='background clutter and noise, 0 (smooth gradient) .. 1 (busy)')
    g.add_argument('--mask-format', choices=MASK_FORMATS, default=EXTRA_DEFAULTS['mask_format'],
                   help='det instance masks: polygon for unoccluded + RLE for occluded objects '
                   '(mixed), or RLE for all')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    kwargs = {k: getattr(args, k) for k in DEFAULTS}
    try:
        make_toy_data(args.out, seed=args.seed, tasks=args.tasks, classes=args.classes,
                      force=args.force, verbose=not args.quiet, mask_format=args.mask_format,
                      clutter=args.clutter, **kwargs)
    except (ValueError, FileExistsError) as e:
        print(f'make_toy_data.py: error: {e}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())

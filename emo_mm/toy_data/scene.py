"""Toy scenes: shapes drawn with occlusion on cluttered backgrounds, and the per-task settings.

Objects are filled shapes (:data:`~emo_mm.toy_data.shapes.SHAPES`) with random size, rotation,
position, colour and shading, drawn with occlusion on cluttered backgrounds (gradients, stripes,
blotches, distractor lines and arcs, sensor noise; ``clutter`` scales them). Objects are always
*brighter* than the background beneath them (any hue): with random contrast polarity a small CNN
needed several times more steps to leave chance level, too slow for a CPU demo; with it the task
still takes a few hundred steps of real training. An object's colour is also distinct from that
of every object it covers: the edge between two overlapping objects stays visible, so every
label can be read off the pixels.

Every image has its own random stream (:func:`image_rng`: seed, task, split, index), so the
data depend only on the seed and the settings, and adding images does not change the existing
ones.

Example:
    >>> from emo_mm.toy_data.scene import SCENES, image_rng, render_scene
    >>> img, instances = render_scene(image_rng(0, 'det', 'train', 0), 128, ['circle', 'star'],
    ...                               SCENES['det'])
    >>> img.shape, img.dtype.name
    ((128, 128, 3), 'uint8')
    >>> sorted(instances[0])
    ['mask', 'name', 'occluded', 'poly']
"""
import math

import numpy as np
from PIL import Image, ImageDraw

from .shapes import rasterize, shape_polygon, shoelace_area

GENERATOR_VERSION = 3  # 3: overlapping objects contrast with each other; 2: det / seg shapes
# sized by area (1: by circumradius)

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
SCENES = dict(
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


def image_rng(seed, task, split, *idx):
    """The random stream of one image: a function of the seed, the task (``'cls'`` | ``'det'``
    | ``'seg'``), the split (``'train'`` | ``'val'``) and the image's index numbers only."""
    return np.random.default_rng([seed, _TASK_CODE[task], _SPLIT_CODE[split], *idx])


def random_names(rng, classes, max_objects):
    """1 to ``max_objects`` class names drawn from ``classes`` (with repetition)."""
    k = int(rng.integers(1, max_objects + 1))
    return [classes[j] for j in rng.integers(0, len(classes), k)]


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


def _place(rng, name, size, radius_range, size_by='circumradius'):
    """Random polygon of shape ``name`` lying fully inside the image, with a circumradius
    (``size_by='circumradius'``) or an area-equivalent radius (``'area'``: the area of a circle of
    that radius) drawn from ``radius_range`` (fractions of ``size``)."""
    radius = rng.uniform(*radius_range) * size
    poly = shape_polygon(name, rng, radius, rng.uniform(0, 2 * np.pi))
    if size_by == 'area':
        poly = poly * math.sqrt(math.pi * radius**2 / shoelace_area(poly))
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

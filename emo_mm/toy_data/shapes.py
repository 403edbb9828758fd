"""The toy shapes: their outlines as polygons and their anti-aliased rasterisation.

Coordinates are pixel-edge coordinates: pixel ``(row i, col j)`` spans ``[j, j+1) x [i, i+1)``,
as pycocotools rasterises polygons.

Example:
    >>> import numpy as np
    >>> from emo_mm.toy_data.shapes import rasterize, shape_polygon
    >>> square = shape_polygon('square', np.random.default_rng(0), radius=8, angle=0) + 16
    >>> square.shape
    (4, 2)
    >>> coverage = rasterize(square, 32)
    >>> coverage.shape, round(float(coverage.sum()))  # area 128, plus the edge subpixels PIL fills
    ((32, 32), 138)
"""
import math

import numpy as np
from PIL import Image, ImageDraw

SHAPES = ('circle', 'cross', 'square', 'star', 'triangle')
SUPERSAMPLE = 4  # shapes are rasterised at 4x and box-filtered: anti-aliased edges


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


def shoelace_area(poly):
    """Area of a simple polygon given by its vertices ``(N, 2)`` (shoelace formula)."""
    x, y = poly[:, 0], poly[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))

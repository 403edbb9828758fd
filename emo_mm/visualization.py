"""Pictures and summary tables for the demo (``tools/demo.py``): predicted boxes with labels,
colour masks over an image, captioned panels laid out side by side, and markdown tables.

Only numpy and Pillow are used (no OpenMMLab import), so the functions work on the outputs of
any framework: boxes as ``(N, 4)`` ``x1, y1, x2, y2`` arrays in image pixels, segmentation maps as
``(H, W)`` integer arrays of class indices.

Example:
    >>> import numpy as np
    >>> from emo_mm.visualization import draw_boxes, overlay_mask, hstack
    >>> img = np.zeros((64, 64, 3), np.uint8)
    >>> boxes = draw_boxes(img, np.array([[8., 8., 40., 40.]]), [0], [0.9], ['square'],
    ...                    [(255, 0, 0)], scale=2)
    >>> mask = overlay_mask(img, np.ones((64, 64), int), [(0, 0, 0), (0, 255, 0)], scale=2)
    >>> hstack([boxes, mask]).size
    (262, 128)
"""
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
from PIL import Image, ImageDraw, ImageFont

Colour = Tuple[int, int, int]
ImageLike = Union[str, np.ndarray, Image.Image]

#: Caption colours of a correct / a wrong prediction.
GOOD, BAD = (0, 140, 60), (200, 30, 30)


def font(size: int = 14) -> ImageFont.ImageFont:
    """Pillow's built-in font at ``size`` pixels (a fixed-size bitmap font on Pillow < 10.1)."""
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: no scalable default font
        return ImageFont.load_default()


def to_image(img: ImageLike, scale: int = 1) -> Image.Image:
    """An RGB :class:`PIL.Image.Image` from a path, an RGB ``(H, W, 3)`` uint8 array or an image,
    enlarged ``scale`` times (nearest neighbour: the pixels stay visible)."""
    if isinstance(img, str):
        img = Image.open(img)
    elif isinstance(img, np.ndarray):
        img = Image.fromarray(np.ascontiguousarray(img, dtype=np.uint8))
    img = img.convert('RGB')
    if scale != 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    return img


def _text_box(draw: ImageDraw.ImageDraw, xy: Tuple[float, float], text: str, fill: Colour,
              fnt: ImageFont.ImageFont) -> None:
    """``text`` in white on a ``fill`` label whose top-left corner is ``xy``."""
    left, top, right, bottom = draw.textbbox(xy, text, font=fnt)
    draw.rectangle((left - 2, top - 2, right + 2, bottom + 2), fill=fill)
    draw.text(xy, text, fill=(255, 255, 255), font=fnt)


def draw_boxes(img: ImageLike,
               bboxes: np.ndarray,
               labels: Sequence[int],
               scores: Optional[Sequence[float]],
               classes: Sequence[str],
               palette: Sequence[Colour],
               scale: int = 4,
               line_width: int = 3) -> Image.Image:
    """Draw boxes with their class name (and score) on a copy of ``img``.

    Args:
        img (str | np.ndarray | PIL.Image.Image): The image (RGB).
        bboxes (np.ndarray): ``(N, 4)`` boxes ``x1, y1, x2, y2`` in pixels of ``img``.
        labels (Sequence[int]): Class index of each box.
        scores (Sequence[float], optional): Score of each box; None draws ground truth (no
            score).
        classes (Sequence[str]): Class names.
        palette (Sequence[tuple]): An RGB colour per class.
        scale (int): Enlargement of the picture (toy images are small). Defaults to 4.
        line_width (int): Box line width in output pixels. Defaults to 3.

    Returns:
        PIL.Image.Image: The picture.
    """
    out = to_image(img, scale)
    draw = ImageDraw.Draw(out)
    fnt = font(max(10, 4 * scale))
    bboxes = np.asarray(bboxes, dtype=np.float64).reshape(-1, 4) * scale
    for i, (box, label) in enumerate(zip(bboxes, labels)):
        colour = tuple(int(c) for c in palette[int(label) % len(palette)])
        draw.rectangle(tuple(box), outline=colour, width=line_width)
        text = classes[int(label)] if scores is None else f'{classes[int(label)]} {scores[i]:.2f}'
        top = box[1] - fnt.size - 4 if box[1] >= fnt.size + 4 else box[1] + 2
        _text_box(draw, (box[0] + 2, top), text, colour, fnt)
    return out


def overlay_mask(img: ImageLike,
                 seg_map: np.ndarray,
                 palette: Sequence[Colour],
                 alpha: float = 0.55,
                 scale: int = 4,
                 skip: Sequence[int] = (0, ),
                 ignore_index: int = 255) -> Image.Image:
    """Blend a colour per class over ``img`` where ``seg_map`` has that class.

    Args:
        img (str | np.ndarray | PIL.Image.Image): The image (RGB), the size of ``seg_map``.
        seg_map (np.ndarray): ``(H, W)`` class indices.
        palette (Sequence[tuple]): An RGB colour per class.
        alpha (float): Opacity of the colours. Defaults to 0.55.
        scale (int): Enlargement of the picture. Defaults to 4.
        skip (Sequence[int]): Classes left uncoloured (the background). Defaults to ``(0, )``.
        ignore_index (int): Label of ignored pixels (left uncoloured). Defaults to 255.

    Returns:
        PIL.Image.Image: The picture.
    """
    base = np.asarray(to_image(img), dtype=np.float32)
    seg_map = np.asarray(seg_map)
    if seg_map.shape != base.shape[:2]:
        raise ValueError(f'seg_map shape {seg_map.shape} != image size {base.shape[:2]}')
    colours = np.zeros((max(len(palette), int(seg_map.max(initial=0)) + 1), 3), np.float32)
    colours[:len(palette)] = np.asarray(palette, np.float32)
    painted = (~np.isin(seg_map, list(skip))) & (seg_map != ignore_index)
    out = base.copy()
    out[painted] = (1 - alpha) * base[painted] + alpha * colours[seg_map[painted]]
    # a dark outline where the class changes makes adjacent regions readable
    edge = np.zeros_like(painted)
    edge[1:] |= seg_map[1:] != seg_map[:-1]
    edge[:, 1:] |= seg_map[:, 1:] != seg_map[:, :-1]
    out[edge] *= 0.3
    return to_image(np.clip(out, 0, 255).astype(np.uint8), scale)


def caption(img: Image.Image, text: str, colour: Colour = (40, 40, 40),
            size: int = 16) -> Image.Image:
    """``img`` with ``text`` (one or more lines) in a white strip above it."""
    fnt = font(size)
    lines = text.split('\n')
    strip = len(lines) * (size + 4) + 6
    out = Image.new('RGB', (img.width, img.height + strip), (255, 255, 255))
    out.paste(img, (0, strip))
    draw = ImageDraw.Draw(out)
    for i, line in enumerate(lines):
        draw.text((4, 3 + i * (size + 4)), line, fill=colour, font=fnt)
    return out


def legend(classes: Sequence[str], palette: Sequence[Colour], size: int = 16) -> Image.Image:
    """A one-line legend: a colour swatch and the name of every class."""
    fnt = font(size)
    probe = ImageDraw.Draw(Image.new('RGB', (1, 1)))
    widths = [probe.textbbox((0, 0), name, font=fnt)[2] for name in classes]
    out = Image.new('RGB', (sum(widths) + len(classes) * (size + 18) + 4, size + 10),
                    (255, 255, 255))
    draw = ImageDraw.Draw(out)
    x = 4
    for name, colour, width in zip(classes, palette, widths):
        draw.rectangle((x, 5, x + size, 5 + size), fill=tuple(int(c) for c in colour),
                       outline=(0, 0, 0))
        draw.text((x + size + 4, 4), name, fill=(40, 40, 40), font=fnt)
        x += size + width + 18
    return out


def hstack(images: Sequence[Image.Image], gap: int = 6,
           background: Colour = (255, 255, 255)) -> Image.Image:
    """Images side by side, top-aligned, ``gap`` pixels apart."""
    width = sum(im.width for im in images) + gap * (len(images) - 1)
    out = Image.new('RGB', (width, max(im.height for im in images)), background)
    x = 0
    for im in images:
        out.paste(im, (x, 0))
        x += im.width + gap
    return out


def vstack(images: Sequence[Image.Image], gap: int = 6,
           background: Colour = (255, 255, 255)) -> Image.Image:
    """Images one above the other, left-aligned, ``gap`` pixels apart."""
    height = sum(im.height for im in images) + gap * (len(images) - 1)
    out = Image.new('RGB', (max(im.width for im in images), height), background)
    y = 0
    for im in images:
        out.paste(im, (0, y))
        y += im.height + gap
    return out


def grid(images: Sequence[Image.Image], ncols: int, gap: int = 6) -> Image.Image:
    """Images in rows of ``ncols``."""
    rows = [hstack(images[i:i + ncols], gap) for i in range(0, len(images), ncols)]
    return vstack(rows, gap)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub markdown table (cells converted with ``str``; ``|`` escaped)."""
    def cells(row):
        return '| ' + ' | '.join(str(c).replace('|', '\\|') for c in row) + ' |'

    lines: List[str] = [cells(header), '|' + '|'.join('---' for _ in header) + '|']
    lines += [cells(row) for row in rows]
    return '\n'.join(lines) + '\n'

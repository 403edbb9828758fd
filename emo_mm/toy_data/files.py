"""File writing of the toy data (fixed encoder settings and newlines, so that the same seed and
settings give byte-identical files on every platform), and reading its text files back."""
import json

from PIL import Image


def save_png(arr, path):
    """Write a uint8 ``(H, W)`` or ``(H, W, 3)`` array as PNG (zlib level 6)."""
    Image.fromarray(arr).save(path, format='PNG', compress_level=6)


def save_jpg(arr, path):
    """Write a uint8 ``(H, W, 3)`` array as JPEG (quality 95, no chroma subsampling)."""
    Image.fromarray(arr).save(path, format='JPEG', quality=95, subsampling=0)


def write_text(path, lines):
    """Write ``lines`` as text, each ended by ``\\n``."""
    with open(path, 'w', newline='\n') as f:
        f.write(''.join(f'{line}\n' for line in lines))


def read_lines(path):
    """The non-empty lines of a text file, stripped (e.g. a ``classes.txt``)."""
    with open(path) as f:
        return [line.strip() for line in f if line.strip()]


def write_json(path, obj):
    """Write ``obj`` as compact JSON."""
    with open(path, 'w', newline='\n') as f:
        json.dump(obj, f, separators=(',', ':'))

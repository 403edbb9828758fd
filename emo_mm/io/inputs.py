"""Input files that cannot be used: a clear error naming the file and the reason.

* :func:`check_image_file`: a missing, empty, truncated or undecodable image (the tools check
  their image arguments with it; OpenCV would fail on an empty file with
  ``(-215:Assertion failed) !buf.empty()`` and decode a truncated JPEG half gray, silently);
* :func:`check_json_file`: an annotation file that is empty or not valid JSON;
* :func:`input_error_cause`: the one-line cause the tools print last for these errors, also
  when a data worker raised them (the dataloader wraps them in its own message).

This module imports nothing of emo_mm.
"""
import json
import os.path as osp
import re
from typing import Optional

__all__ = ['DamagedInputError', 'check_image_file', 'check_json_file', 'json_shape_problem',
           'input_error_cause']


class DamagedInputError(ValueError):
    """An input file (image, annotation) that cannot be used; the message names the file."""


def check_image_file(path: str) -> None:
    """Raise if ``path`` is not a complete, decodable image.

    Decodes the whole image with Pillow (which, unlike OpenCV, refuses a truncated JPEG).

    Raises:
        FileNotFoundError: No such file.
        DamagedInputError: An empty file, or one Pillow cannot decode completely; the
            message names the file and the decoder's reason.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: no such image file')
    if osp.getsize(path) == 0:
        raise DamagedInputError(f'{path}: empty image file (0 bytes)')
    from PIL import Image, UnidentifiedImageError
    try:
        with Image.open(path) as image:
            image.load()
    except UnidentifiedImageError as error:
        raise DamagedInputError(f'{path}: not an image file Pillow can read '
                                f'({osp.getsize(path)} bytes)') from error
    except (OSError, SyntaxError, ValueError) as error:  # truncated / corrupt data
        raise DamagedInputError(f'{path}: damaged image ({error})') from error


def json_shape_problem(path: str) -> Optional[str]:
    """A cheap look at the ends of a JSON file (its first and last bytes only): what is wrong
    with an empty or cut-off file, else None. Reads at most 128 bytes."""
    with open(path, 'rb') as f:
        head = f.read(64).lstrip()
        f.seek(0, 2)
        size = f.tell()
        f.seek(max(0, size - 64))
        tail = f.read().rstrip()
    if not head:
        return 'empty file' if size == 0 else 'only white space'
    if head[:1] not in (b'{', b'['):
        return f'does not start with {{ or [ (starts with {head[:16]!r})'
    if tail[-1:] != {b'{': b'}', b'[': b']'}[head[:1]]:
        return f'cut off: it does not end with the closing bracket (ends with {tail[-16:]!r})'
    return None


def check_json_file(path: str, full: bool = False) -> None:
    """Raise :class:`DamagedInputError` if ``path`` is empty or not valid JSON.

    Args:
        path (str): The file.
        full (bool): Parse the whole file (slow for large annotation files); otherwise check
            only that it starts and ends like a JSON document (:func:`json_shape_problem`).
    """
    problem = json_shape_problem(path)
    if problem is None and full:
        try:
            with open(path, 'rb') as f:
                json.load(f)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            problem = f'not valid JSON ({error})'
    if problem is not None:
        raise DamagedInputError(f'{path}: annotation file is {problem}'
                                if problem.startswith(('empty', 'only')) else
                                f'{path}: annotation file {problem}')


_WRAPPED = re.compile(r'^(?:[\w.]+\.)?DamagedInputError: (.*)$', re.MULTILINE)


def input_error_cause(error: BaseException) -> str:
    """The one-line cause of ``error``: its ``one_line`` attribute if it has one; for a
    :class:`DamagedInputError` raised in a data worker (re-raised by the dataloader with the
    worker's traceback in its message), the original message; else the last line of the
    message."""
    one_line = getattr(error, 'one_line', None)
    if one_line:
        return one_line
    text = str(error).strip()
    found = _WRAPPED.findall(text)
    if found:
        return found[-1].strip()
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1].strip() if lines else type(error).__name__

#!/usr/bin/env python
"""Generate the "toy shapes" datasets used by ``make demo`` and the tests.

Three small datasets in the ImageNet (``cls/``), COCO (``det/``) and ADE20K (``seg/``) layouts,
written by :mod:`emo_mm.toy_data` (the layouts, label conventions and scenes are described
there). Same seed and settings give byte-identical files. A task folder that is complete for
the same settings is skipped (``make demo`` calls this unconditionally); one generated with
other settings, or left incomplete, is regenerated; ``--force`` always regenerates.

Usage::

    python tools/dataset_converters/make_toy_data.py [--out data/toy] [--seed 0] \
        [--tasks cls det seg] [--clutter 1.0] [--force] [--cls-size 64 ...]
"""
import argparse
import sys

from emo_mm.toy_data import (DEFAULTS, EXTRA_DEFAULTS, MASK_FORMATS, SHAPES, TASKS,
                             make_toy_data)

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

"""Convert an official EMO / EMOv2 checkpoint to emo_mm (mmpretrain) format.

    python tools/model_converters/emo_to_mmpretrain.py EMOv2_1M_224.pth checkpoints/emo2_1m_in1k.pth
    python tools/model_converters/emo_to_mmpretrain.py net.pth checkpoints/emo_1m_in1k.pth --backbone-only

The input may be a flat state dict or one wrapped in ``net`` / ``net_E`` / ``state_dict`` /
``model``, with or without ``module.``; the version and arch are detected from the keys. The output
``{'state_dict', 'meta'}`` loads strictly into the matching ``configs/cls`` classifier; with
``--backbone-only`` it holds only ``backbone.*`` keys, for det / seg ``init_cfg`` Pretrained
(``prefix='backbone.'``). Converting a converted file again gives the same file.
"""
import argparse
import os.path as osp

import emo_mm  # noqa: F401  (registry, shims)
from emo_mm.io import load_checkpoint_file, save_checkpoint_atomic
from emo_mm.models.converters import convert_official_to_mmpretrain, detect_variant


def convert_file(src: str, dst: str, backbone_only: bool = False, prefer_ema: bool = True) -> dict:
    """Convert ``src`` into ``dst``; returns the written meta."""
    state_dict = convert_official_to_mmpretrain(load_checkpoint_file(src), backbone_only, prefer_ema)
    version, arch = detect_variant(state_dict)
    meta = dict(model=version, arch=arch, backbone_only=backbone_only, source=osp.basename(src),
                converter='emo_mm.models.converters.convert_official_to_mmpretrain')
    save_checkpoint_atomic(dict(state_dict=state_dict, meta=meta), dst)
    return meta


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('src', help='official EMO / EMOv2 checkpoint (.pth)')
    parser.add_argument('dst', help='output path')
    parser.add_argument('--backbone-only', action='store_true',
                        help='drop the classification head and final norm (for det / seg)')
    parser.add_argument('--no-ema', action='store_true',
                        help='take "net" rather than "net_E" (EMA) when a file holds both')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    meta = convert_file(args.src, args.dst, args.backbone_only, prefer_ema=not args.no_ema)
    print(f'Converted {meta["model"]}-{meta["arch"]} ({"backbone only" if args.backbone_only else "classifier"}) '
          f'-> {args.dst}')


if __name__ == '__main__':
    main()

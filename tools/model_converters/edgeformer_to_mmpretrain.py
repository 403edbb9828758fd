"""Convert an official EdgeFormer / ParC-Net checkpoint to emo_mm (mmpretrain) format, or back.

    python tools/model_converters/edgeformer_to_mmpretrain.py checkpoint_ema_avg.pt checkpoints/edgeformer_s_in1k.pth
    python tools/model_converters/edgeformer_to_mmpretrain.py det_checkpoint_ema_avg.pt checkpoints/edgeformer_s_coco_backbone.pth --backbone-only
    python tools/model_converters/edgeformer_to_mmpretrain.py work_dirs/edgeformer-s/epoch_300.pth official_s.pt --to-official

The output ``{'state_dict', 'meta'}`` loads strictly into ``configs/cls/edgeformer``'s classifier;
with ``--backbone-only`` it holds only ``backbone.*`` keys, for det / seg ``init_cfg`` Pretrained
(``prefix='backbone.'``); official detection / segmentation files need it (their heads do not
exist in mmdet / mmseg). ``--to-official`` writes the flat official state dict instead. Converting a
converted file again gives the same file.
"""
import argparse

from emo_mm.io import load_checkpoint_file, save_checkpoint_atomic
from emo_mm.models.converters import (detect_edgeformer_arch, edgeformer_mmpretrain_to_official,
                                      edgeformer_official_to_mmpretrain)


def convert_file(src: str, dst: str, backbone_only: bool = False, to_official: bool = False) -> str:
    """Convert ``src`` into ``dst``; returns a one-line summary."""
    checkpoint = load_checkpoint_file(src)
    if to_official:
        state_dict = edgeformer_mmpretrain_to_official(checkpoint)
        save_checkpoint_atomic(state_dict, dst)
        return f'Wrote the official layout ({len(state_dict)} keys) -> {dst}'
    state_dict = edgeformer_official_to_mmpretrain(checkpoint, backbone_only)
    arch = detect_edgeformer_arch(state_dict)
    meta = dict(model='EdgeFormer', arch=arch, backbone_only=backbone_only, source=src,
                converter='emo_mm.models.converters.edgeformer_official_to_mmpretrain')
    save_checkpoint_atomic(dict(state_dict=state_dict, meta=meta), dst)
    kind = 'backbone only' if backbone_only else 'classifier'
    return f'Converted EdgeFormer-{arch.upper()} ({kind}, {len(state_dict)} tensors) -> {dst}'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('src', help='official EdgeFormer checkpoint (or an emo_mm one with --to-official)')
    parser.add_argument('dst', help='output path')
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument('--backbone-only', action='store_true',
                      help='keep only the backbone (for det / seg; required for official det / seg files)')
    mode.add_argument('--to-official', action='store_true',
                      help='convert an emo_mm checkpoint back to the official layout')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    print(convert_file(args.src, args.dst, args.backbone_only, args.to_official))


if __name__ == '__main__':
    main()

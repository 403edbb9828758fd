"""Export an EMO / EMOv2 / EdgeFormer classifier (logits) or backbone (feature maps) to ONNX and check it
against PyTorch with onnxruntime.

    python tools/deployment/pytorch2onnx.py CONFIG CHECKPOINT --shape H W [--dynamic]
        [--out FILE] [--opset N] [--backbone-only] [--deploy] [--keep-bn] [--max-rank {4,8}]
        [--no-verify]
        [--verify-shapes B,H,W ...] [--cfg-options K=V ...]

``CHECKPOINT`` is a checkpoint of the config's model (e.g. converted with
``tools/model_converters/emo_to_mmpretrain.py``), or ``none`` for random weights. With
``--dynamic`` the batch, height and width are dynamic (33..8192 pixels, window padding computed
in the graph); without it the file is for ``1 x 3 x H x W`` only. The export is verified with
onnxruntime (max abs / rel error 1e-4) on the export size and, when dynamic, on other sizes that
include non-multiples of the attention window. The exported graph has the BatchNorms of our
backbones folded (``--keep-bn``: exported as BatchNormalization ops) and channels-last
attention projections (see docs/performance.md); ``--deploy`` also folds them in the PyTorch
model the export is verified against.
"""
import argparse
import os
import os.path as osp

#: Extra (batch, H, W) checked for dynamic exports: odd sizes, not multiples of 7 / 10 / 16.
DYNAMIC_CHECKS = ((2, 97, 131), (1, 250, 301))


def parse_args(argv=None):
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(description='Export a classifier / backbone to ONNX')
    parser.add_argument('config', help='config of the model (mmpretrain classifier)')
    parser.add_argument('checkpoint', help="checkpoint file, or 'none' for random weights")
    parser.add_argument('--shape', type=int, nargs=2, required=True, metavar=('H', 'W'),
                        help='input height and width of the export')
    parser.add_argument('--dynamic', action='store_true',
                        help='dynamic batch, height and width (33..8192)')
    parser.add_argument('--out', help='output .onnx file (default: next to the checkpoint, or '
                        'work_dirs/onnx/<config name>.onnx)')
    parser.add_argument('--opset', type=int, help='ONNX opset (>= 17; default: the exporter\'s)')
    parser.add_argument('--backbone-only', action='store_true',
                        help='export the backbone feature maps instead of the logits')
    parser.add_argument('--deploy', action='store_true',
                        help='fold the BatchNorms (switch_to_deploy) before exporting')
    parser.add_argument('--max-rank', type=int, default=4, choices=(4, 8),
                        help='highest tensor rank in the graph: 4 for every runtime (default), '
                        '8 for onnxruntime only (one-copy window partitions, a few %% faster)')
    parser.add_argument('--keep-bn', action='store_true',
                        help='export the BatchNorms as separate ops (default: folded)')
    parser.add_argument('--no-verify', action='store_true', help='skip the onnxruntime check')
    parser.add_argument('--verify-shapes', nargs='+', default=[], metavar='B,H,W',
                        help='extra input sizes to verify, e.g. 2,97,131')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={}, metavar='K=V',
                        help='config overrides, e.g. model.backbone.window_size=10')
    return parser.parse_args(argv)


def default_out(args) -> str:
    name = osp.splitext(osp.basename(args.config))[0] + ('_backbone' if args.backbone_only else '')
    if args.checkpoint.lower() != 'none':
        return osp.splitext(args.checkpoint)[0] + ('_backbone' if args.backbone_only else '') + '.onnx'
    return osp.join('work_dirs', 'onnx', name + '.onnx')


def build(args):
    """The eval-mode model of ``args.config`` with ``args.checkpoint`` loaded."""
    import emo_mm  # noqa: F401  (registry, shims)
    from mmengine.config import Config
    from mmengine.runner import load_checkpoint

    from emo_mm.apis import build_model_from_cfg
    from emo_mm.io import checkpoint_loading

    cfg = Config.fromfile(args.config)
    cfg.merge_from_dict(args.cfg_options)
    model = build_model_from_cfg(cfg).eval()
    if args.checkpoint.lower() != 'none':
        with checkpoint_loading(args.checkpoint):
            load_checkpoint(model, args.checkpoint, map_location='cpu', strict=True, logger='silent')
    if args.deploy:
        from emo_mm.models import emo_mm_backbones
        backbones = emo_mm_backbones(model)
        if not backbones:
            raise ValueError(f'--deploy: {type(model).__name__} holds no EMO / EMOv2 / EdgeFormer '
                             'backbone')
        for backbone in backbones:
            backbone.switch_to_deploy()
    return model


def main(argv=None):
    args = parse_args(argv)
    from emo_mm.deployment import export_onnx, onnx_opset, verify_onnx

    model = build(args)
    out = args.out or default_out(args)
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    h, w = args.shape
    names = export_onnx(model, out, (h, w), dynamic=args.dynamic, opset=args.opset,
                        backbone_only=args.backbone_only, fold_bn=not args.keep_bn,
                        max_rank=args.max_rank)
    print(f'Exported {out} (opset {onnx_opset(out)}, input 1x3x{h}x{w}'
          f'{", dynamic batch / height / width" if args.dynamic else ""}; outputs: {", ".join(names)})')
    if args.no_verify:
        return out
    shapes = [(1, h, w)] + (list(DYNAMIC_CHECKS) if args.dynamic else [])
    shapes += [tuple(int(v) for v in s.split(',')) for s in args.verify_shapes]
    errors = verify_onnx(model, out, shapes, backbone_only=args.backbone_only)
    for shape, err in zip(shapes, errors):
        print(f'  onnxruntime vs PyTorch at {shape[0]}x3x{shape[1]}x{shape[2]}: max abs error {err:.2e}')
    print('Verified: outputs match within rtol=atol=1e-4')
    return out


if __name__ == '__main__':
    main()

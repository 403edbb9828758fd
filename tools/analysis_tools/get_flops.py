"""Print the parameters and FLOPs of any emo_mm cls / det / seg config.

    python tools/analysis_tools/get_flops.py configs/cls/emo2/emo2-1m_8xb128_in1k.py
    python tools/analysis_tools/get_flops.py configs/det/ssdlite/ssdlite_emo2-1m_8xb24-600e_coco.py --shape 320 320

FLOPs follow the fvcore convention (one FLOP per multiply-add) and count the model's tensor
forward (backbone, neck, heads; no post-processing, no auxiliary heads at test time). Default
input: 224x224 for classifiers, 320x320 for SSD, 1333x800 for other detectors, 512x512 for
segmentors.
"""
import argparse


def main(argv=None):
    from mmengine.config import Config, DictAction
    parser = argparse.ArgumentParser(description='Params and FLOPs of a config')
    parser.add_argument('config', help='config file')
    parser.add_argument('--shape', type=int, nargs='+', help='input H W (or one size)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='override config settings, e.g. model.backbone.window_size=10')
    args = parser.parse_args(argv)

    import emo_mm  # noqa: F401
    from emo_mm.analysis import get_complexity
    from emo_mm.apis import build_model_from_cfg
    from emo_mm.frameworks import get_adapter

    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if args.shape:
        shape = tuple(args.shape) * (2 if len(args.shape) == 1 else 1)
    else:
        shape = get_adapter(cfg).input_shape(cfg)
    model = build_model_from_cfg(cfg)
    info = get_complexity(model, shape)
    print(f'Config: {args.config}\nInput shape: {shape[0]}x{shape[1]}\n'
          f'Params: {info["params"]:,} ({info["params"] / 1e6:.3f} M)\n'
          f'FLOPs: {info["flops"]:,} ({info["flops"] / 1e9:.3f} G)')
    return info


if __name__ == '__main__':
    main()

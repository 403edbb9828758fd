"""Fold the BatchNorms of an EMO / EMOv2 / EdgeFormer model into its convs (deploy form), as in
mmpretrain.

    python tools/model_converters/reparameterize_model.py CONFIG SRC DST

``SRC`` is a checkpoint of the model of ``CONFIG`` (e.g. a classifier trained with our configs or
converted with emo_to_mmpretrain.py). ``DST`` loads into the same config with
``--cfg-options model.backbone.deploy=True`` (the backbone is built BN-folded).
"""
import argparse
import os.path as osp


def reparameterize(config: str, src: str, dst: str) -> None:
    import emo_mm  # noqa: F401  (registers the models, applies the shims)
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmengine.runner import load_checkpoint

    from emo_mm.io import save_checkpoint_atomic
    from emo_mm.apis import build_model_from_cfg
    from emo_mm.models import is_emo_mm_backbone

    cfg = Config.fromfile(config)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    model = build_model_from_cfg(cfg)
    load_checkpoint(model, src, map_location='cpu', strict=True)
    model.eval()
    switched = [name for name, module in model.named_modules() if is_emo_mm_backbone(module)]
    if not switched:
        raise ValueError(f'{config} holds no EMO / EMOv2 / EdgeFormer backbone to re-parameterise')
    for name in switched:
        model.get_submodule(name).switch_to_deploy()
    save_checkpoint_atomic(dict(state_dict=model.state_dict(),
                                meta=dict(deploy=True, source=osp.basename(src))), dst)
    print(f'Re-parameterised {", ".join(switched)} -> {dst}')


def main(argv=None):
    parser = argparse.ArgumentParser(description='Fold BN into convs (deploy form)')
    parser.add_argument('config', help='config of the model')
    parser.add_argument('src', help='train-form checkpoint')
    parser.add_argument('dst', help='output deploy-form checkpoint')
    args = parser.parse_args(argv)
    reparameterize(args.config, args.src, args.dst)


if __name__ == '__main__':
    main()

"""Scale and drift of a backbone's outputs: what a head finetuned on them starts from.

Loads each checkpoint's backbone (``backbone.*`` keys: a classifier, detector or segmentor
checkpoint, or a ``--backbone-only`` file) into the model of CONFIG, runs the first images of
the config's test set through it and prints, per returned level:

* ``spread``: the standard deviation over images and positions, averaged over channels (how
  much the features vary at all; a head with BatchNorm eps 1e-3 after a conv of init std 1e-3
  sees nearly constant inputs when this is small);
* ``mean |x|``: the features' magnitude;
* from the second checkpoint on, ``cosine``: the cosine similarity with the first checkpoint's
  features of the same image (flattened per image, averaged over images), and ``moved``: the
  backbone parameters' relative distance ``||w - w_1|| / ||w_1||`` (BN statistics left out).

Example (the toy detector's start and its first epoch, ``make demo`` work dir)::

    python tools/analysis_tools/feature_stats.py configs/det/toy/ssdlite_emo2-1m_toy-det.py \\
        work_dirs/demo/cls/emo2-1m_toy-cls_backbone.pth work_dirs/demo/det/epoch_1.pth \\
        --cfg-options model.backbone.out_norms=False

(``model.backbone.out_norms=False`` shows the raw stage outputs that the detector's
``out_norms`` normalise.)
"""
import argparse
import sys


def parse_args(argv=None):
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(description='Scale and drift of backbone outputs')
    parser.add_argument('config', help='config whose model.backbone and test set are used')
    parser.add_argument('checkpoints', nargs='+', help='checkpoint(s) with backbone.* keys')
    parser.add_argument('--num-images', type=int, default=64,
                        help='first N images of the test set (default 64)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='override config settings, e.g. model.backbone.out_norms=False')
    args = parser.parse_args(argv)
    if args.num_images < 2:
        parser.error(f'--num-images must be >= 2 (a spread needs two images), '
                     f'got {args.num_images}')
    return args


def level_stats(features):
    """``spread`` and ``mean |x|`` of one level's features ``(N, C, H, W)``."""
    flat = features.transpose(0, 1).flatten(1)  # C x (N H W)
    return dict(spread=float(flat.std(dim=1).mean()), mean_abs=float(features.abs().mean()))


def cosine(a, b):
    """Cosine similarity of ``a`` and ``b`` per image (flattened), averaged over images."""
    import torch.nn.functional as F
    return float(F.cosine_similarity(a.flatten(1), b.flatten(1), dim=1).mean())


def relative_move(params, reference):
    """``||w - w_ref|| / ||w_ref||`` over the parameters (name -> tensor) of both."""
    diff = sum(float((params[k] - reference[k]).pow(2).sum()) for k in reference)
    norm = sum(float(reference[k].pow(2).sum()) for k in reference)
    return (diff / max(norm, 1e-30)) ** 0.5


def collect(model, batches):
    """Backbone outputs of ``batches`` (the data loader's batches), per level."""
    import torch
    levels = None
    with torch.no_grad():
        for batch in batches:
            inputs = model.data_preprocessor(batch, False)['inputs']
            outs = model.backbone(inputs)
            outs = outs if isinstance(outs, (tuple, list)) else (outs, )
            levels = [[o] for o in outs] if levels is None else \
                [acc + [o] for acc, o in zip(levels, outs)]
    return [torch.cat(level) for level in levels]


def main(argv=None) -> int:
    args = parse_args(argv)
    import copy

    from mmengine.config import Config
    from mmengine.runner import Runner

    import emo_mm  # noqa: F401
    from emo_mm.apis import build_model_from_cfg
    from emo_mm.models.pretrained import load_pretrained
    from emo_mm.visualization import markdown_table

    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    cfg.model.backbone.init_cfg = None
    model = build_model_from_cfg(cfg).eval()  # sets the config's default scope
    loader_cfg = copy.deepcopy(cfg.test_dataloader)
    loader_cfg.update(num_workers=0, persistent_workers=False)
    batches, seen = [], 0
    for batch in Runner.build_dataloader(loader_cfg):
        batches.append(batch)
        seen += len(batch['inputs'])
        if seen >= args.num_images:
            break
    initial = copy.deepcopy(model.backbone.state_dict())
    first_feats = first_params = None
    rows = []
    for ckpt in args.checkpoints:
        # layers a checkpoint lacks (fresh_keys, e.g. out_norms) start as initialised each time
        model.backbone.load_state_dict(initial)
        load_pretrained(model.backbone, ckpt)
        params = {k: v.detach().clone() for k, v in model.backbone.named_parameters()}
        feats = [f[:args.num_images] for f in collect(model, batches)]  # the first N
        if first_feats is None:
            first_feats, first_params = feats, params
        for i, f in enumerate(feats):
            s = level_stats(f)
            same = first_feats is feats
            rows.append([ckpt, i, f'{tuple(f.shape[1:])}', f"{s['spread']:.4g}",
                         f"{s['mean_abs']:.4g}",
                         '' if same else f'{cosine(f, first_feats[i]):.3f}',
                         '' if same else f'{relative_move(params, first_params) * 100:.2f} %'])
    print(f'{args.config}: backbone outputs on the first {min(seen, args.num_images)} test '
          'images')
    print(markdown_table(['checkpoint', 'level', 'C x H x W', 'spread', 'mean |x|',
                          'cosine with the first', 'moved'], rows))
    return 0


if __name__ == '__main__':
    sys.exit(main())

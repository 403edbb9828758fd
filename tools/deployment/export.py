"""Export a classifier, backbone, detector or segmentor to one runtime, run the artefact on a
sample and compare it with PyTorch (the deploy form: our backbones' BatchNorms folded).

    python tools/deployment/export.py CONFIG CHECKPOINT --backend BACKEND --shape H W
        [--work-dir DIR] [--part {model,backbone}] [--atol 1e-4] [--seed 0] [--bench N]
        [--cfg-options K=V ...]

``BACKEND`` is one of onnx, executorch, litert, ncnn, mnn, openvino, coreml
(``make install-mobile`` installs their packages). ``CHECKPOINT`` is a checkpoint of the
config's model, trained or deploy form (``tools/model_converters/reparameterize_model.py``; its
``meta.deploy`` is read and the backbone built BN-folded). ``--part model`` exports what the
model computes from a normalised ``1 x 3 x H x W`` image without post-processing: a classifier's
logits, a detector's raw head outputs, a segmentor's logits at the network's resolution;
``--part backbone`` the backbone's feature maps. Two-stage detectors (Mask R-CNN) are not
exported here (their RoI head needs image metas): export their backbone, or the whole
detector with tools/deployment/mmdeploy_onnx.py.

Writes ``DIR/<config name>[_backbone]<suffix>`` (``.onnx``, ``.pte``, ``.tflite``,
``.ncnn.param`` + ``.ncnn.bin``, ``.mnn``, ``.xml`` + ``.bin``, ``.mlpackage``) and a ``.json``
beside it (input, normalisation, outputs, check). Every backend but Core ML then runs the
artefact on a seeded standard-normal sample with its own runtime and prints the max absolute
error against PyTorch; Core ML, which runs only on Apple systems, is checked instead (Core ML
ops of the iOS 17 opset only, tensors of rank <= 5).

Exit status: 0 when the artefact was written and (where it runs here) matched within
``--atol`` (absolute for outputs within [-1, 1], relative to the largest ``|output|``
beyond); 1 when it differs or the backend cannot convert the model; 2 for bad arguments or a
backend whose packages are not installed.
"""
import argparse
import os.path as osp
import sys

BACKEND_NAMES = ('onnx', 'executorch', 'litert', 'ncnn', 'mnn', 'openvino', 'coreml')


def parse_args(argv=None):
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(
        description='Export to one runtime (onnx / executorch / litert / ncnn / mnn / openvino '
        '/ coreml) and check the artefact against PyTorch')
    parser.add_argument('config', help='config of the model')
    parser.add_argument('checkpoint', help='checkpoint of the model (trained or deploy form)')
    parser.add_argument('--backend', required=True, choices=BACKEND_NAMES,
                        help='runtime to export to')
    parser.add_argument('--shape', type=int, nargs=2, required=True, metavar=('H', 'W'),
                        help='input height and width (each >= 32)')
    parser.add_argument('--work-dir', default=osp.join('work_dirs', 'export'),
                        help='where the artefact goes (default: work_dirs/export)')
    parser.add_argument('--part', default='model', choices=('model', 'backbone'),
                        help='the whole model (logits / raw head outputs, default) or the '
                        "backbone's feature maps")
    parser.add_argument('--atol', type=float, default=1e-4,
                        help='largest difference from PyTorch accepted, absolute for outputs '
                        'within [-1, 1] and relative to the largest |output| beyond '
                        '(default 1e-4)')
    parser.add_argument('--seed', type=int, default=0, help='seed of the sample input')
    parser.add_argument('--bench', type=int, default=0, metavar='N',
                        help='also time N runs of the artefact in its runtime (CPU, 2 threads; '
                        'median after 2 warm-up runs)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={}, metavar='K=V',
                        help='config overrides, e.g. model.backbone.window_size=7')
    return parser.parse_args(argv)


def load_model(config: str, checkpoint: str, cfg_options=None):
    """The eval-mode model of ``config`` with ``checkpoint`` loaded (strictly); built in deploy
    form when the checkpoint's ``meta.deploy`` says so. Returns ``(model, cfg)``."""
    import emo_mm  # noqa: F401  (registry, shims)
    from mmengine.config import Config
    from mmengine.runner.checkpoint import _load_checkpoint_to_model

    from emo_mm.apis import build_model_from_cfg
    from emo_mm.io import load_checkpoint_file

    if not osp.isfile(checkpoint):
        raise FileNotFoundError(f'checkpoint not found: {checkpoint!r}')
    cfg = Config.fromfile(config)
    cfg.merge_from_dict(cfg_options or {})
    state = load_checkpoint_file(checkpoint)
    if (state.get('meta') or {}).get('deploy'):
        cfg.model.backbone.deploy = True
        cfg.model.backbone.init_cfg = None
    model = build_model_from_cfg(cfg).eval()
    _load_checkpoint_to_model(model, state, strict=True)
    return model, cfg


def normalisation(cfg) -> dict:
    """The image normalisation the model was trained with (its data preprocessor)."""
    pre = cfg.model.get('data_preprocessor') or cfg.get('data_preprocessor') or {}
    keys = ('mean', 'std', 'to_rgb', 'bgr_to_rgb')
    return {k: (list(pre[k]) if isinstance(pre[k], (list, tuple)) else pre[k])
            for k in keys if k in pre}


def class_names(cfg):
    """The class names of the config's test set, when it names them."""
    names = cfg.get('classes')
    if names is None:
        dataset = (cfg.get('test_dataloader') or {}).get('dataset') or {}
        names = dataset.get('classes') or (dataset.get('metainfo') or {}).get('classes')
    return list(names) if names else None


def main(argv=None) -> int:
    args = parse_args(argv)
    from emo_mm.backends import (BACKENDS, BackendUnavailable, UnsupportedModel, check_shape,
                                 export_model)
    backend = BACKENDS[args.backend]
    try:
        shape = check_shape(args.shape)
        backend.check_installed()
    except (ValueError, BackendUnavailable) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    model, cfg = load_model(args.config, args.checkpoint, args.cfg_options)
    name = osp.splitext(osp.basename(args.config))[0] + ('_backbone' if args.part == 'backbone'
                                                         else '')
    path = osp.join(args.work_dir, name + backend.suffix)
    norm = normalisation(cfg)
    try:
        result = export_model(model, args.backend, shape, path, part=args.part, atol=args.atol,
                              seed=args.seed, bench=args.bench,
                              meta=dict(config=args.config, normalisation=norm,
                                        classes=class_names(cfg)))
    except UnsupportedModel as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    print(f'[export] {args.backend}: {type(model).__name__} ({args.part}) 1x3x{shape[0]}x'
          f'{shape[1]} -> {result.path} ({result.size / 2**20:.2f} MiB'
          f'{", " + str(len(result.files)) + " files" if len(result.files) > 1 else ""}; '
          f'{result.convert_s:.1f} s)')
    print(f'[export] outputs: {", ".join("x".join(map(str, s)) for s in result.output_shapes)}; '
          f'input normalisation: {norm or "none in the config"}')
    if result.ran:
        verdict = 'OK' if result.ok else 'MISMATCH'
        scale = max(result.scales)
        print(f'[export] {args.backend} runtime vs PyTorch (deploy form): max abs error '
              f'{result.max_error:.2e} (largest |output| {scale:.3g}; tolerance {args.atol:g}'
              f'{" x " + format(scale, ".3g") if scale > 1 else ""}): {verdict}')
        if result.latency_ms is not None:
            print(f'[export] {args.backend} runtime: {result.latency_ms:.1f} ms per image (median '
                  f'of {args.bench}, 2 threads)')
    else:
        ops = result.details.get('ops', {})
        print(f'[export] {args.backend}: not run (no runtime on this system); checked: '
              f'{sum(ops.values())} ops of {len(ops)} kinds, all Core ML ops of the target '
              f"opset; max tensor rank {result.details.get('max_rank')}: OK")
    return 0 if result.ok else 1


if __name__ == '__main__':
    sys.exit(main())

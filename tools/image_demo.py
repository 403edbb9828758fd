"""Classify, detect or segment images with an emo_mm model and save the visualized results.

The framework comes from the config's ``default_scope``, and its own inferencer does the work
(mmpretrain ``ImageClassificationInferencer``, mmdet ``DetInferencer``, mmseg
``MMSegInferencer``), as in each framework's ``demo/image_demo.py``::

    python tools/image_demo.py IMAGE [IMAGE ...] MODEL [--weights CKPT] [--out-dir DIR]
        [--device cpu] [--pred-score-thr 0.3]

``MODEL`` is a config file or a model name (``python -c "import emo_mm.hub as h;
print(h.model_names('mmdet'))"``). ``CKPT`` is a local checkpoint of that model; without it the
weights are random (the inferencer warns). The pictures go to ``DIR/vis/`` (default
``outputs/vis/``), one per image, and a line per image with the prediction is printed.

Example (a photograph that matplotlib installs)::

    python tools/image_demo.py "$(python -c 'import matplotlib.cbook as c;
        print(c.get_sample_data("grace_hopper.jpg", asfileobj=False))')" \\
        configs/det/ssdlite/ssdlite_emo2-1m_8xb24-600e_coco.py --weights CKPT
"""
import argparse
import os
import os.path as osp
from typing import List

import emo_mm  # noqa: F401  (shims, registry, model names)
from emo_mm import hub
from emo_mm.frameworks import FRAMEWORKS, framework_of
from emo_mm.io import DamagedInputError, check_image_file


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Image demo of a classifier, detector or '
                                     'segmentor (framework from the config)')
    parser.add_argument('inputs', nargs='+', help='image file(s)')
    parser.add_argument('model', help='config file or model name')
    parser.add_argument('--weights', help='local checkpoint (default: random weights)')
    parser.add_argument('--out-dir', default='outputs', help='output folder (pictures in vis/)')
    parser.add_argument('--device', default='cpu', help='device, e.g. cpu or cuda:0')
    parser.add_argument('--pred-score-thr', type=float, default=0.3,
                        help='detection: lowest score of the boxes drawn')
    args = parser.parse_args(argv)
    missing = [path for path in args.inputs if not osp.isfile(path)]
    if missing:
        parser.error(f'image file(s) not found: {", ".join(missing)}')
    for path in args.inputs:  # an empty or truncated file, named before any model is built
        try:
            check_image_file(path)
        except DamagedInputError as error:
            parser.error(str(error))
    if args.weights and not osp.isfile(args.weights):
        parser.error(f'--weights: checkpoint file not found: {args.weights}')
    return args


def resolve_model(model: str):
    """``(config path, framework)`` of a config file or an emo_mm model name."""
    from mmengine.config import Config
    if osp.isfile(model):
        return model, framework_of(Config.fromfile(model))
    for framework in FRAMEWORKS:
        config = hub.find_model(model, framework)
        if config is not None:
            return config, framework
    names = ', '.join(n for f in FRAMEWORKS for n in hub.model_names(f))
    raise ValueError(f'{model!r} is neither a config file nor an emo_mm model name. '
                     f'Valid names: {names}')


def classify(config, args) -> List[str]:
    from mmpretrain.apis import ImageClassificationInferencer
    inferencer = ImageClassificationInferencer(config, pretrained=args.weights or True,
                                               device=args.device)
    vis_dir = osp.join(args.out_dir, 'vis')
    os.makedirs(vis_dir, exist_ok=True)
    results = inferencer(args.inputs, show_dir=vis_dir)
    return [f'{r["pred_class"]} ({r["pred_score"]:.3f})' for r in results]


def _name(classes, label: int) -> str:
    # without weights the inferencers fall back to COCO / Cityscapes names
    return classes[label] if label < len(classes) else f'class {label}'


def detect(config, args) -> List[str]:
    from mmdet.apis import DetInferencer
    inferencer = DetInferencer(config, weights=args.weights, device=args.device)
    results = inferencer(args.inputs, out_dir=args.out_dir, pred_score_thr=args.pred_score_thr)
    classes = inferencer.model.dataset_meta['classes']
    lines = []
    for pred in results['predictions']:
        kept = [(_name(classes, label), score) for label, score in zip(pred['labels'], pred['scores'])
                if score >= args.pred_score_thr]
        lines.append(f'{len(kept)} boxes with score >= {args.pred_score_thr}'
                     + ''.join(f'; {name} {score:.2f}' for name, score in kept[:5]))
    return lines


def segment(config, args) -> List[str]:
    import numpy as np
    from mmseg.apis import MMSegInferencer
    inferencer = MMSegInferencer(config, weights=args.weights, device=args.device)
    results = inferencer(args.inputs, out_dir=args.out_dir, return_datasamples=True)
    results = results if isinstance(results, list) else [results]
    classes = inferencer.model.dataset_meta['classes']
    lines = []
    for result in results:
        mask = result.pred_sem_seg.data.cpu().numpy()[0]
        labels, counts = np.unique(mask, return_counts=True)
        top = sorted(zip(counts, labels), reverse=True)[:3]
        lines.append(', '.join(f'{_name(classes, label)} {count / mask.size:.0%}'
                               for count, label in top))
    return lines


RUNNERS = {'mmpretrain': classify, 'mmdet': detect, 'mmseg': segment}


def main(argv=None) -> List[str]:
    """Run the demo; returns the paths of the pictures written."""
    args = parse_args(argv)
    config, framework = resolve_model(args.model)
    lines = RUNNERS[framework](config, args)
    vis_dir = osp.join(args.out_dir, 'vis')
    written = []
    for image, line in zip(args.inputs, lines):
        stem = osp.splitext(osp.basename(image))[0]
        picture = next((osp.join(vis_dir, f) for f in sorted(os.listdir(vis_dir))
                        if osp.splitext(f)[0] == stem), None)
        if picture is None:
            raise RuntimeError(f'the {framework} inferencer wrote no picture of {image} to {vis_dir}')
        written.append(picture)
        print(f'{image}: {line} -> {picture}')
    return written


if __name__ == '__main__':
    main()

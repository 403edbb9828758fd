"""Run an artefact of tools/deployment/export.py on an image with its own runtime, as an app
does: no PyTorch model, no config; the input size, normalisation and class names come from the
``.json`` the export wrote beside the artefact.

    python tools/deployment/run_exported.py ARTEFACT IMAGE [--topk 5]

``ARTEFACT`` is a ``.onnx``, ``.pte``, ``.tflite``, ``.ncnn.param``, ``.mnn`` or ``.xml`` file
(Core ML's ``.mlpackage`` runs on Apple systems only). The image is read, converted to RGB when
the model was trained on RGB, resized to the export's input size (bilinear) and normalised
(``(x - mean) / std``); a classifier's logits are printed as the top-k classes with softmax
scores, any other output as its shape and range.
"""
import argparse
import json
import os.path as osp
import sys


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Run an exported model on an image')
    parser.add_argument('artefact', help='file written by tools/deployment/export.py')
    parser.add_argument('image', help='image file')
    parser.add_argument('--topk', type=int, default=5, help='classes to print (classifiers)')
    return parser.parse_args(argv)


def backend_of(path: str):
    """The backend whose artefact suffix ``path`` has (the longest match)."""
    from emo_mm.backends import BACKENDS
    matches = [b for b in BACKENDS.values() if path.endswith(b.suffix)]
    if not matches:
        raise ValueError(f'{path!r} is no artefact of tools/deployment/export.py; suffixes: '
                         f'{", ".join(b.suffix for b in BACKENDS.values())}')
    return max(matches, key=lambda b: len(b.suffix))


def preprocess(image: str, info: dict):
    """``1 x 3 x H x W`` float32 tensor of ``image`` as the export's input expects it."""
    import mmcv
    import numpy as np
    import torch
    _, _, h, w = info['input']['shape']
    norm = info.get('normalisation') or {}
    img = mmcv.imread(image)  # BGR
    if img is None:
        raise FileNotFoundError(f'cannot read image {image!r}')
    if norm.get('to_rgb') or norm.get('bgr_to_rgb'):
        img = mmcv.bgr2rgb(img)
    img = mmcv.imresize(img, (w, h), interpolation='bilinear').astype(np.float32)
    mean = np.asarray(norm.get('mean', [0., 0., 0.]), np.float32)
    std = np.asarray(norm.get('std', [1., 1., 1.]), np.float32)
    img = (img - mean) / std
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))[None]


def main(argv=None):
    args = parse_args(argv)
    import numpy as np
    backend = backend_of(args.artefact)
    if not backend.runs_here:
        print(f"error: {backend.name} artefacts run on Apple systems only (load the "
              f"{backend.suffix} in Xcode / with coremltools on macOS)", file=sys.stderr)
        return 2
    backend.check_installed()
    with open(args.artefact[:-len(backend.suffix)] + '.json') as f:
        info = json.load(f)
    outputs = backend.load(args.artefact)(preprocess(args.image, info))
    print(f'{backend.name}: {osp.basename(args.artefact)} on {osp.basename(args.image)} '
          f"(input {'x'.join(map(str, info['input']['shape']))})")
    classes = info.get('classes')
    if len(outputs) == 1 and np.asarray(outputs[0]).ndim == 2:
        logits = np.asarray(outputs[0], np.float64)[0]
        scores = np.exp(logits - logits.max())
        scores /= scores.sum()
        for rank, index in enumerate(np.argsort(-scores)[:args.topk], 1):
            name = classes[index] if classes and index < len(classes) else f'class {index}'
            print(f'  {rank}. {name} ({index}): {scores[index]:.4f}')
        return 0
    for i, out in enumerate(outputs):
        out = np.asarray(out)
        print(f"  output {i}: {'x'.join(map(str, out.shape))}, range [{out.min():.3g}, "
              f'{out.max():.3g}]')
    return 0


if __name__ == '__main__':
    sys.exit(main())

"""The demo's pictures: single-image inference with each trained model through
:mod:`emo_mm.apis`, drawn with :mod:`emo_mm.visualization`.

Each function takes the model's config and checkpoint and the toy data root, runs the model on a
few toy val images, one image per call (as a user runs it on their own images), and writes one
PNG.
"""
import glob
import json
import os.path as osp
from typing import List, Sequence, Tuple

import numpy as np
from PIL import Image

from .. import visualization as vis
from ..apis import inference, init_model
from ..toy_data.files import read_lines


def _palette(meta: dict, n: int) -> List[Tuple[int, int, int]]:
    """The dataset's palette, or ``n`` fixed random colours if it has none (or too few)."""
    palette = meta.get('palette') if meta else None
    if palette and len(palette) >= n:
        return [tuple(int(c) for c in p) for p in palette]
    rng = np.random.default_rng(0)
    return [tuple(int(c) for c in rng.integers(40, 256, 3)) for _ in range(n)]


def draw_classification(config: str, checkpoint: str, data_root: str, out: str, device: str,
                        per_class: int = 2) -> None:
    """Classify ``per_class`` val images of every class and write a grid of them captioned with
    the predicted class and score (green: right, red: wrong)."""
    import mmpretrain.utils.progress
    mmpretrain.utils.progress.disable_progress_bar = True  # one line per image is enough here
    model = init_model(config, checkpoint, device=device)
    classes = read_lines(osp.join(data_root, 'cls', 'meta', 'classes.txt'))
    panels = []
    for name in classes:
        for path in sorted(glob.glob(osp.join(data_root, 'cls', 'val', name, '*.png')))[:per_class]:
            pred = inference(model, path)
            predicted = classes[int(pred['pred_label'])]
            colour = vis.GOOD if predicted == name else vis.BAD
            text = f'{predicted} {float(pred["pred_score"]):.2f}\n(true: {name})'
            panels.append(vis.caption(vis.to_image(path, scale=3), text, colour, size=14))
    vis.grid(panels, ncols=len(classes) * per_class // 2).save(out)


def draw_detection(config: str, checkpoint: str, data_root: str, out: str, device: str,
                   num_images: int = 3, score_thr: float = 0.3) -> None:
    """Detect objects in ``num_images`` val images and write each as its predicted boxes (score
    >= ``score_thr``) next to the ground truth."""
    model = init_model(config, checkpoint, device=device)
    classes = model.dataset_meta['classes']
    palette = _palette(model.dataset_meta, len(classes))
    with open(osp.join(data_root, 'det', 'annotations', 'instances_val2017.json')) as f:
        coco = json.load(f)
    rows = []
    for image in coco['images'][:num_images]:
        path = osp.join(data_root, 'det', 'val2017', image['file_name'])
        pred = inference(model, path).pred_instances
        keep = pred.scores >= score_thr
        boxes, labels, scores = (pred[keep].bboxes.cpu().numpy(), pred[keep].labels.tolist(),
                                 pred[keep].scores.tolist())
        anns = [a for a in coco['annotations'] if a['image_id'] == image['id']]
        gt = [[x, y, x + w, y + h] for x, y, w, h in (a['bbox'] for a in anns)]
        gt_labels = [a['category_id'] - 1 for a in anns]
        rows.append(vis.hstack([
            vis.caption(vis.draw_boxes(path, boxes, labels, scores, classes, palette),
                        f'prediction (score >= {score_thr})'),
            vis.caption(vis.draw_boxes(path, gt, gt_labels, None, classes, palette),
                        'ground truth'),
        ]))
    vis.vstack(rows, gap=12).save(out)


def _toy_seg_label(image_path: str) -> np.ndarray:
    """The training labels of a toy seg image (``reduce_zero_label``: PNG value - 1, 255 =
    ignored)."""
    ann = image_path.replace(osp.join('images', 'validation'),
                             osp.join('annotations', 'validation'))[:-len('.jpg')] + '.png'
    label = np.asarray(Image.open(ann)).astype(np.int64) - 1
    label[label < 0] = 255
    return label


def draw_segmentation(config: str, checkpoint: str, data_root: str, out: str, device: str,
                      num_images: int = 3) -> None:
    """Segment ``num_images`` val images and write each as image | predicted mask | ground
    truth mask, colours over the image."""
    model = init_model(config, checkpoint, device=device)
    classes = model.dataset_meta['classes']
    palette = _palette(model.dataset_meta, len(classes))
    paths: Sequence[str] = sorted(
        glob.glob(osp.join(data_root, 'seg', 'images', 'validation', '*.jpg')))
    rows = []
    for path in paths[:num_images]:
        pred = inference(model, path).pred_sem_seg.data[0].cpu().numpy()
        rows.append(vis.hstack([
            vis.caption(vis.to_image(path, scale=4), 'image'),
            vis.caption(vis.overlay_mask(path, pred, palette), 'prediction'),
            vis.caption(vis.overlay_mask(path, _toy_seg_label(path), palette), 'ground truth'),
        ]))
    vis.vstack([vis.legend(classes[1:], palette[1:])] + rows, gap=8).save(out)


#: The drawing function of each task.
DRAW = dict(cls=draw_classification, det=draw_detection, seg=draw_segmentation)

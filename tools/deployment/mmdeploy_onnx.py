"""Export a detector / segmentor in deploy form (BNs folded) with mmdeploy's ``torch2onnx`` and
check mmdeploy's onnxruntime backend against PyTorch on an image.

    python tools/deployment/mmdeploy_onnx.py DEPLOY_CFG MODEL_CFG DEPLOY_CKPT IMAGE
        [--work-dir DIR] [--device cpu]

``DEPLOY_CKPT`` is a deploy-form checkpoint of ``MODEL_CFG``'s model
(``tools/model_converters/reparameterize_model.py MODEL_CFG CKPT DEPLOY_CKPT``); the model is
built with ``model.backbone.deploy=True``. ``DEPLOY_CFG`` is an mmdeploy deploy config, e.g.
``configs/deploy/detection_onnxruntime_static.py`` / ``segmentation_onnxruntime_static.py``
(mmdeploy's own, written out: its wheel ships no configs). Writes ``DIR/end2end.onnx`` and
prints the largest differences; exits with an error when onnxruntime and PyTorch disagree:

* detection: the same number of boxes, each matched to one of the same class with scores within
  ``1e-4`` and corners within ``1e-2`` pixels. mmdeploy's graph post-processes differently from
  mmdet in two ways, which the PyTorch reference is set to match: it takes the best
  ``pre_top_k`` (5000) boxes over all levels before NMS (mmdet: ``nms_pre`` per level) and it
  keeps boxes of zero width or height (mmdet: ``min_bbox_size``);
* segmentation: the same class at every pixel except where PyTorch's two best classes are
  within ``1e-3`` (a tie that rounding may flip), at most 0.1% of the pixels. mmdeploy's graph
  takes the argmax at the network's input size and the mask is then resized (nearest) to the
  image, while mmseg resizes the logits and then takes the argmax, which differs along region
  borders; so the image is first rescaled as the test pipeline's ``Resize`` would, and both
  run on that.
"""
import argparse
import os.path as osp
from typing import Dict

import mmcv
import numpy as np
import torch

import emo_mm  # noqa: F401  (shims incl. mmdeploy's, registry)

SCORE_ATOL, BOX_ATOL = 1e-4, 1e-2
LOGIT_TIE, MAX_FLIPPED = 1e-3, 1e-3


def deploy_model_cfg(model_cfg):
    """``model_cfg`` (path or Config) with the backbone built BN-folded and no ``init_cfg``."""
    from mmengine.config import Config
    cfg = Config.fromfile(model_cfg) if isinstance(model_cfg, str) else model_cfg.copy()
    cfg.model.backbone.deploy = True
    cfg.model.backbone.init_cfg = None
    return cfg


def export_and_compare(deploy_cfg: str, model_cfg, checkpoint: str, image: str, work_dir: str,
                       device: str = 'cpu') -> Dict[str, float]:
    """Run ``torch2onnx`` on the deploy form, then both backends on ``image``.

    Returns:
        dict: Differences found (``max_score_err`` / ``max_box_err`` / ``boxes`` for detection,
        ``flipped`` / ``max_flip_margin`` for segmentation).

    Raises:
        AssertionError: onnxruntime and PyTorch disagree beyond the tolerances above.
    """
    from mmdeploy.apis import torch2onnx
    from mmdeploy.apis.utils import build_task_processor
    from mmdeploy.utils import load_config

    cfg = deploy_model_cfg(model_cfg)
    torch2onnx(image, work_dir, 'end2end.onnx', deploy_cfg, cfg, checkpoint, device=device)
    deploy_cfg, cfg = load_config(deploy_cfg, cfg)
    processor = build_task_processor(cfg, deploy_cfg, device)
    backend = processor.build_backend_model(
        [osp.join(work_dir, 'end2end.onnx')],
        data_preprocessor_updater=processor.update_data_preprocessor)
    cfg = cfg.copy()
    if 'test_cfg' in cfg.model and 'nms_pre' in cfg.model.test_cfg:  # see the module docstring
        cfg.model.test_cfg.update(
            nms_pre=deploy_cfg.codebase_config.post_processing.pre_top_k, min_bbox_size=-1)
    pytorch = build_task_processor(cfg, deploy_cfg, device).build_pytorch_model(checkpoint)
    if not getattr(pytorch.backbone, 'deploy', False):
        raise AssertionError('the PyTorch backbone is not in deploy form (deploy=False)')
    img = mmcv.imread(image)
    if 'pred_instances' not in _task_outputs(cfg):
        img = _rescale_like_test_pipeline(img, cfg)
    data, _ = processor.create_input(img, None)
    with torch.no_grad():
        ours, ref = backend.test_step(data)[0], pytorch.test_step(data)[0]
    if _task_outputs(cfg) == 'pred_instances':
        return compare_detections(ours.pred_instances, ref.pred_instances)
    return compare_masks(ours.pred_sem_seg.data[0], ref.pred_sem_seg.data[0],
                         ref.seg_logits.data)


def _task_outputs(cfg) -> str:
    return 'pred_instances' if cfg.get('default_scope') == 'mmdet' else 'pred_sem_seg'


def _rescale_like_test_pipeline(img, cfg):
    resize = next(t for t in cfg.test_pipeline if t['type'] == 'Resize')
    if resize.get('keep_ratio', False):
        return mmcv.imrescale(img, resize['scale'])
    return mmcv.imresize(img, tuple(resize['scale']))


def compare_detections(ours, ref) -> Dict[str, float]:
    """Match each reference box to an unmatched box of the same class (closest corners)."""
    assert len(ours) == len(ref), f'onnxruntime found {len(ours)} boxes, PyTorch {len(ref)}'
    free = list(range(len(ours)))
    score_err = box_err = 0.
    for i in torch.argsort(ref.scores, descending=True).tolist():
        same = [j for j in free if ours.labels[j] == ref.labels[i]]
        assert same, f'PyTorch box {i} (class {int(ref.labels[i])}) has no onnxruntime match'
        dists = [float((ours.bboxes[j] - ref.bboxes[i]).abs().max()) for j in same]
        j = same[int(np.argmin(dists))]
        free.remove(j)
        box_err = max(box_err, min(dists))
        score_err = max(score_err, float((ours.scores[j] - ref.scores[i]).abs()))
    assert score_err <= SCORE_ATOL and box_err <= BOX_ATOL, (
        f'max score error {score_err:.2e} (tolerance {SCORE_ATOL}), max corner error '
        f'{box_err:.2e} px (tolerance {BOX_ATOL})')
    return dict(boxes=len(ref), max_score_err=score_err, max_box_err=box_err)


def compare_masks(ours, ref, logits) -> Dict[str, float]:
    """Pixels of different class must be near-ties of the reference logits."""
    assert ours.shape == ref.shape, f'mask shape {tuple(ours.shape)} vs {tuple(ref.shape)}'
    flipped = ours != ref
    top2 = logits.topk(2, dim=0).values
    margin = (top2[0] - top2[1])[flipped]
    max_margin = float(margin.max()) if margin.numel() else 0.
    share = float(flipped.float().mean())
    assert max_margin <= LOGIT_TIE and share <= MAX_FLIPPED, (
        f'{int(flipped.sum())} pixels ({share:.3%}) differ, at PyTorch logit margins up to '
        f'{max_margin:.2e} (tolerance: ties within {LOGIT_TIE}, at most {MAX_FLIPPED:.1%})')
    return dict(pixels=int(ref.numel()), flipped=int(flipped.sum()), max_flip_margin=max_margin)


def main(argv=None):
    parser = argparse.ArgumentParser(description='mmdeploy torch2onnx + onnxruntime check')
    parser.add_argument('deploy_cfg', help='mmdeploy deploy config (configs/deploy/*.py)')
    parser.add_argument('model_cfg', help='detector / segmentor config')
    parser.add_argument('checkpoint', help='deploy-form checkpoint (reparameterize_model.py)')
    parser.add_argument('image', help='image for the export and the comparison')
    parser.add_argument('--work-dir', default='work_dirs/mmdeploy', help='output folder')
    parser.add_argument('--device', default='cpu')
    args = parser.parse_args(argv)
    for path in (args.deploy_cfg, args.model_cfg, args.checkpoint, args.image):
        if not osp.isfile(path):
            parser.error(f'file not found: {path}')
    diffs = export_and_compare(args.deploy_cfg, args.model_cfg, args.checkpoint, args.image,
                               args.work_dir, args.device)
    print(f'{osp.join(args.work_dir, "end2end.onnx")}: onnxruntime matches PyTorch: '
          + ', '.join(f'{k}={v:.3g}' for k, v in diffs.items()))
    return diffs


if __name__ == '__main__':
    main()

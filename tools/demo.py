#!/usr/bin/env python
"""The main job, end to end, on the built-in toy dataset (``make demo``).

ImageNet, COCO and ADE20K cannot be downloaded everywhere, so the demo runs the product on small
datasets in the same three layouts (tools/dataset_converters/make_toy_data.py), with the same
tools a user runs on the real ones, each as its own process:

1. generate the toy data if missing                 tools/dataset_converters/make_toy_data.py
2. pretrain an EMOv2-1M classifier on toy-cls        tools/train.py  configs/cls/toy/...
3. evaluate it (top-1)                               tools/test.py
4. convert it to a backbone checkpoint               tools/model_converters/emo_to_mmpretrain.py
                                                     --backbone-only
5. finetune SSDLite-EMOv2-1M on toy-det from it      tools/dist_train.sh configs/det/toy/...
   (``init_cfg`` Pretrained, ``prefix='backbone.'``)
6. evaluate it (COCO bbox mAP)                       tools/test.py
7. finetune SegFormer-EMOv2-1M on toy-seg from it    tools/train.py  configs/seg/toy/...
8. evaluate it (mIoU)                                tools/test.py
9. single-image inference with each model: pictures (labels, boxes, colour masks) and a
   markdown summary with the quality bar, in ``--work-dir`` (default ``work_dirs/demo/``).

``--gpus N`` (or ``DEMO_GPUS=N``) trains with N processes through tools/dist_train.sh (gloo on
CPU, NCCL on GPUs) at the same total batch size. ``--quick`` is the shortened run of the tests:
a few images and iterations, which shows that the pipeline learns, not the quality bar.

Usage::

    python tools/demo.py [--work-dir work_dirs/demo] [--data-root data/toy] [--gpus 1]
                         [--quick] [--verbose]

The exit status is 0 when every stage ran and (full run) the quality bar passed, 1 otherwise.
"""
import argparse
import glob
import json
import os
import os.path as osp
import platform
import re
import shlex
import socket
import subprocess
import sys
import time
import warnings
from datetime import datetime

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)

CLS_CONFIG = 'configs/cls/toy/emo2-1m_toy-cls.py'
DET_CONFIG = 'configs/det/toy/ssdlite_emo2-1m_toy-det.py'
SEG_CONFIG = 'configs/seg/toy/segformer_emo2-1m_toy-seg.py'
BACKBONE_NAME = 'emo2-1m_toy-cls_backbone.pth'

# Quality bar of the full run on toy val (metric key in the test json, bar, shown as, scale)
QUALITY_BAR = {
    'cls': [('accuracy/top1', 90.0, 'top-1 (%)', 1.0)],
    'det': [('coco/bbox_mAP', 0.50, 'bbox mAP@[.5:.95]', 1.0),
            ('coco/bbox_mAP_50', 0.80, 'bbox mAP@0.5', 1.0)],
    'seg': [('mIoU', 70.0, 'mIoU (%)', 1.0)],
}

# --quick: data counts (make_toy_data.py options) and schedules (--cfg-options per task)
QUICK_DATA = dict(cls_train_per_class=24, cls_val_per_class=10, det_train=64, det_val=16,
                  seg_train=48, seg_val=12)
QUICK_CFG = {
    'cls': ['train_dataloader.batch_size=16', 'train_cfg.max_epochs=16',
            'train_cfg.val_interval=16', 'param_scheduler.0.end=1', 'param_scheduler.1.begin=1',
            'param_scheduler.1.end=16', 'default_hooks.logger.interval=8',
            'default_hooks.checkpoint.interval=16', 'val_dataloader.batch_size=10'],
    'det': ['train_dataloader.batch_size=8', 'train_cfg.max_epochs=6', 'train_cfg.val_interval=6',
            'param_scheduler.0.end=8', 'param_scheduler.1.begin=3', 'param_scheduler.1.end=6',
            'param_scheduler.1.T_max=3', 'default_hooks.logger.interval=4',
            'default_hooks.checkpoint.interval=6', 'val_dataloader.batch_size=8'],
    'seg': ['train_dataloader.batch_size=8', 'train_cfg.max_iters=80', 'train_cfg.val_interval=80',
            'param_scheduler.0.end=5', 'param_scheduler.1.begin=40', 'param_scheduler.1.end=80',
            'default_hooks.logger.interval=5', 'default_hooks.checkpoint.interval=80'],
}

TASK_NAMES = {'cls': 'classification', 'det': 'detection', 'seg': 'segmentation'}
MODEL_NAMES = {'cls': 'EMOv2-1M classifier', 'det': 'SSDLite-EMOv2-1M',
               'seg': 'SegFormer-EMOv2-1M'}
CONFIGS = {'cls': CLS_CONFIG, 'det': DET_CONFIG, 'seg': SEG_CONFIG}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Run the main job (pretrain -> finetune -> evaluate -> visualise) on the '
        'built-in toy dataset.')
    parser.add_argument('--work-dir', help='output folder (default work_dirs/demo, '
                        'work_dirs/demo_quick with --quick)')
    parser.add_argument('--data-root', help='toy data folder (default data/toy, '
                        '<work-dir>/data with --quick); generated if missing')
    parser.add_argument('--gpus', type=int, default=int(os.environ.get('DEMO_GPUS', '1')),
                        help='training processes (default: $DEMO_GPUS or 1); one per GPU '
                        'on GPU machines, CPU processes (gloo) otherwise')
    parser.add_argument('--quick', action='store_true',
                        help='shortened run (a few images and iterations) for the tests')
    parser.add_argument('--verbose', action='store_true',
                        help='print the tools\' full output (it always goes to <work-dir>/logs)')
    args = parser.parse_args(argv)
    if args.gpus < 1:
        parser.error(f'--gpus / DEMO_GPUS must be >= 1, got {args.gpus}')
    if args.work_dir is None:
        args.work_dir = 'work_dirs/demo_quick' if args.quick else 'work_dirs/demo'
    if args.data_root is None:
        args.data_root = osp.join(args.work_dir, 'data') if args.quick else 'data/toy'
    return args


# ------------------------------------------------------------------------------------ progress
class Progress:
    """Stage banners with the elapsed time, and the tools' output: all of it to a log file per
    stage, the informative part of it to the console."""

    # mmengine log records: "11/22 07:45:00 - mmengine - INFO - message"
    RECORD = re.compile(r'^\d\d/\d\d \d\d:\d\d:\d\d - \S+ - [A-Z]+ - ?(.*)$')

    def __init__(self, num_stages: int, log_dir: str, verbose: bool = False):
        self.t0 = time.time()
        self.num_stages = num_stages
        self.stage = 0
        self.log_dir = log_dir
        self.verbose = verbose
        self.times = {}

    def elapsed(self) -> str:
        return _fmt_time(time.time() - self.t0)

    def banner(self, title: str) -> None:
        self.stage += 1
        print(f'\n[demo {self.elapsed()}] ==== {self.stage}/{self.num_stages} {title}',
              flush=True)

    def info(self, msg: str) -> None:
        print(f'[demo {self.elapsed()}] {msg}', flush=True)

    def _shown(self, line: str, muted: bool):
        """(show the line, new muted state): the config dump, the environment dump and the
        per-parameter optimizer settings stay in the log file."""
        record = self.RECORD.match(line)
        if record:
            message = record.group(1)
            muted = message.strip() in ('', 'Config:') or 'paramwise_options' in message
            return not muted, muted
        if re.search(r'Traceback|Error|error:', line):
            return True, muted
        if 'pkg_resources' in line or '_bootstrap._exec' in line:
            return False, muted
        return not muted, muted

    def run(self, name: str, cmd, env=None) -> float:
        """Run ``cmd``; its output goes to ``<log_dir>/<name>.log``. Returns the seconds taken.

        Raises:
            RuntimeError: if the command fails (the end of its output is printed).
        """
        os.makedirs(self.log_dir, exist_ok=True)
        log_path = osp.join(self.log_dir, f'{name}.log')
        self.info('$ ' + ' '.join(shlex.quote(c) for c in cmd))
        t = time.time()
        muted = False
        with open(log_path, 'w') as log:
            proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True, bufsize=1)
            for line in proc.stdout:
                log.write(line)
                show, muted = self._shown(line.rstrip('\n'), muted)
                if self.verbose or show:
                    print(line, end='', flush=True)
            rc = proc.wait()
        seconds = time.time() - t
        self.times[name] = seconds
        if rc != 0:
            with open(log_path) as f:
                tail = f.readlines()[-40:]
            print(''.join(tail), end='', file=sys.stderr)
            raise RuntimeError(f'stage "{name}" failed (exit status {rc}); full log: {log_path}')
        self.info(f'{name}: done in {_fmt_time(seconds)} (log: {log_path})')
        return seconds


def _fmt_time(seconds: float) -> str:
    seconds = int(round(seconds))
    return f'{seconds // 60:02d}:{seconds % 60:02d}'


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


# ----------------------------------------------------------------------------- run outputs
def _latest(pattern: str) -> str:
    paths = sorted(glob.glob(pattern), key=osp.getmtime)
    if not paths:
        raise FileNotFoundError(f'nothing matches {pattern}')
    return paths[-1]


def last_checkpoint(work_dir: str) -> str:
    """The checkpoint written last by a training run (mmengine's ``last_checkpoint`` file)."""
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        path = f.read().strip()
    return path if osp.isabs(path) else osp.join(ROOT, path)


def train_losses(work_dir: str) -> list:
    """The logged training losses of a run, in order (from mmengine's json scalars)."""
    log = _latest(osp.join(work_dir, '*', 'vis_data', '*.json'))
    losses = []
    with open(log) as f:
        for line in f:
            record = json.loads(line)
            if 'loss' in record:
                losses.append(float(record['loss']))
    return losses


def test_metrics(work_dir: str) -> dict:
    """The metrics dumped by tools/test.py into ``work_dir``."""
    with open(_latest(osp.join(work_dir, '*', '*.json'))) as f:
        return json.load(f)


# ------------------------------------------------------------- inference and pictures
def _cuda() -> bool:
    import torch
    return torch.cuda.is_available()


def _read_lines(path):
    with open(path) as f:
        return [line.strip() for line in f if line.strip()]


def trivial_baselines(data_root: str) -> dict:
    """What a model that learned nothing scores on toy val: chance top-1, no boxes (mAP 0), and
    "everything is background" for segmentation (IoU of the background = its pixel share, 0 for
    the other classes)."""
    import numpy as np
    from PIL import Image
    classes = _read_lines(osp.join(data_root, 'cls', 'meta', 'classes.txt'))
    seg_classes = _read_lines(osp.join(data_root, 'seg', 'classes.txt'))
    background = total = 0
    for path in glob.glob(osp.join(data_root, 'seg', 'annotations', 'validation', '*.png')):
        label = np.asarray(Image.open(path))
        background += int((label == 1).sum())  # PNG value 1 = background, 0 = ignored
        total += int((label > 0).sum())
    return {
        'accuracy/top1': 100.0 / len(classes),
        'coco/bbox_mAP': 0.0,
        'coco/bbox_mAP_50': 0.0,
        'mIoU': 100.0 * background / max(total, 1) / len(seg_classes),
    }


def _palette(meta: dict, n: int) -> list:
    palette = meta.get('palette') if meta else None
    if palette and len(palette) >= n:
        return [tuple(int(c) for c in p) for p in palette]
    import numpy as np
    rng = np.random.default_rng(0)
    return [tuple(int(c) for c in rng.integers(40, 256, 3)) for _ in range(n)]


def draw_classification(config, checkpoint, data_root, out, device, per_class=2):
    """Classify ``per_class`` val images of every class, one image per call, and write a grid of
    them captioned with the predicted class and score (green: right, red: wrong)."""
    import mmpretrain.utils.progress
    from mmpretrain.apis import ImageClassificationInferencer

    from emo_mm import visualization as vis
    mmpretrain.utils.progress.disable_progress_bar = True  # one line per image is enough here
    inferencer = ImageClassificationInferencer(model=config, pretrained=checkpoint, device=device)
    classes = _read_lines(osp.join(data_root, 'cls', 'meta', 'classes.txt'))
    panels = []
    for name in classes:
        for path in sorted(glob.glob(osp.join(data_root, 'cls', 'val', name, '*.png')))[:per_class]:
            pred = inferencer(path)[0]
            predicted = classes[int(pred['pred_label'])]
            colour = vis.GOOD if predicted == name else vis.BAD
            panels.append(vis.caption(vis.to_image(path, scale=3),
                                      f'{predicted} {float(pred["pred_score"]):.2f}\n(true: {name})',
                                      colour, size=14))
    vis.grid(panels, ncols=len(classes) * per_class // 2).save(out)


def draw_detection(config, checkpoint, data_root, out, device, num_images=3, score_thr=0.3):
    """Detect objects in ``num_images`` val images, one image per call, and write each as
    predicted boxes (score >= ``score_thr``) next to the ground truth."""
    from mmdet.apis import inference_detector, init_detector

    from emo_mm import visualization as vis
    model = init_detector(config, checkpoint, device=device)
    classes = model.dataset_meta['classes']
    palette = _palette(model.dataset_meta, len(classes))
    with open(osp.join(data_root, 'det', 'annotations', 'instances_val2017.json')) as f:
        coco = json.load(f)
    rows = []
    for image in coco['images'][:num_images]:
        path = osp.join(data_root, 'det', 'val2017', image['file_name'])
        pred = inference_detector(model, path).pred_instances
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


def draw_segmentation(config, checkpoint, data_root, out, device, num_images=3):
    """Segment ``num_images`` val images, one image per call, and write each as image |
    predicted mask | ground truth mask, colours over the image."""
    import numpy as np
    from mmseg.apis import inference_model, init_model
    from PIL import Image

    from emo_mm import visualization as vis
    model = init_model(config, checkpoint, device=device)
    classes = model.dataset_meta['classes']
    palette = _palette(model.dataset_meta, len(classes))
    paths = sorted(glob.glob(osp.join(data_root, 'seg', 'images', 'validation', '*.jpg')))
    rows = []
    for path in paths[:num_images]:
        pred = inference_model(model, path).pred_sem_seg.data[0].cpu().numpy()
        ann = path.replace(osp.join('images', 'validation'),
                           osp.join('annotations', 'validation'))[:-len('.jpg')] + '.png'
        label = np.asarray(Image.open(ann)).astype(np.int64) - 1  # reduce_zero_label
        label[label < 0] = 255
        rows.append(vis.hstack([
            vis.caption(vis.to_image(path, scale=4), 'image'),
            vis.caption(vis.overlay_mask(path, pred, palette), 'prediction'),
            vis.caption(vis.overlay_mask(path, label, palette), 'ground truth'),
        ]))
    vis.vstack([vis.legend(classes[1:], palette[1:])] + rows, gap=8).save(out)


# --------------------------------------------------------------------------------- the demo
class Demo:

    def __init__(self, args):
        self.args = args
        self.work_dir = osp.abspath(args.work_dir)
        self.data_root = osp.abspath(args.data_root)
        self.quick = args.quick
        self.gpus = args.gpus
        self.progress = Progress(10, osp.join(self.work_dir, 'logs'), args.verbose)
        self.env = dict(os.environ, EMO_MM_TOY_DATA=self.data_root, PYTHONUNBUFFERED='1',
                        PYTHONPATH=os.pathsep.join(
                            [ROOT] + [p for p in [os.environ.get('PYTHONPATH')] if p]))
        self.py = sys.executable
        self.results = {}  # task -> dict
        self.started = datetime.now()

    # ---------------------------------------------------------------------------- stages
    def make_data(self):
        self.progress.banner(f'Toy data in {self.data_root} (generated if missing)')
        cmd = [self.py, 'tools/dataset_converters/make_toy_data.py', '--out', self.data_root]
        if self.quick:
            for key, value in QUICK_DATA.items():
                cmd += ['--' + key.replace('_', '-'), str(value)]
        self.progress.run('data', cmd, self.env)

    def _cfg_options(self, task, extra=()):
        from mmengine.config import Config
        opts = list(QUICK_CFG[task]) if self.quick else []
        if self.gpus > 1:  # the same total batch, split over the processes
            cfg = Config.fromfile(osp.join(ROOT, CONFIGS[task]))
            batch = cfg.train_dataloader.batch_size
            for opt in opts:
                if opt.startswith('train_dataloader.batch_size='):
                    batch = int(opt.split('=')[1])
            opts.append(f'train_dataloader.batch_size={max(1, batch // self.gpus)}')
        return opts + list(extra)

    def train(self, task, title, extra=(), distributed=False):
        """Train ``task`` with tools/train.py, or tools/dist_train.sh when ``distributed`` or
        ``--gpus`` > 1."""
        self.progress.banner(title)
        work_dir = osp.join(self.work_dir, task)
        opts = self._cfg_options(task, extra)
        if distributed or self.gpus > 1:
            cmd = ['bash', 'tools/dist_train.sh', CONFIGS[task], str(self.gpus)]
            env = dict(self.env, PORT=str(_free_port()))
        else:
            cmd = [self.py, 'tools/train.py', CONFIGS[task]]
            env = self.env
        cmd += ['--work-dir', work_dir]
        # no validation inside the training run: tools/test.py evaluates the model next
        cmd += ['--cfg-options'] + opts + ['train_cfg.val_begin=1000000000']
        seconds = self.progress.run(f'{task}_train', cmd, env)
        losses = train_losses(work_dir)
        self.results[task] = dict(train_seconds=seconds, checkpoint=last_checkpoint(work_dir),
                                  losses=losses)

    def test(self, task, title):
        self.progress.banner(title)
        work_dir = osp.join(self.work_dir, task, 'test')
        cmd = [self.py, 'tools/test.py', CONFIGS[task], self.results[task]['checkpoint'],
               '--work-dir', work_dir]
        seconds = self.progress.run(f'{task}_test', cmd, self.env)
        self.results[task].update(test_seconds=seconds, metrics=test_metrics(work_dir))

    def convert(self):
        self.progress.banner('Convert the classifier to a backbone checkpoint (--backbone-only)')
        self.backbone = osp.join(self.work_dir, 'cls', BACKBONE_NAME)
        cmd = [self.py, 'tools/model_converters/emo_to_mmpretrain.py',
               self.results['cls']['checkpoint'], self.backbone, '--backbone-only']
        self.progress.run('convert', cmd, self.env)

    def draw(self):
        self.progress.banner('Single-image inference with each model: pictures')
        t = time.time()
        os.environ['EMO_MM_TOY_DATA'] = self.data_root  # the toy configs read it
        import emo_mm  # noqa: F401  (shims + registry, as the tools import it)
        warnings.filterwarnings('ignore')  # upstream deprecation notices; the tools' logs keep them
        device = 'cuda' if _cuda() else 'cpu'
        self.pictures = {}
        for task, draw in (('cls', draw_classification), ('det', draw_detection),
                           ('seg', draw_segmentation)):
            out = osp.join(self.work_dir, f'demo_{task}.png')
            draw(osp.join(ROOT, CONFIGS[task]), self.results[task]['checkpoint'],
                 self.data_root, out, device)
            self.pictures[task] = out
            self.progress.info(f'wrote {out}')
        self.progress.times['pictures'] = time.time() - t

    # --------------------------------------------------------------------------- summary
    def evaluate_bar(self):
        """PASS / FAIL per metric (full run), and the learning checks of the quick run."""
        baselines = trivial_baselines(self.data_root)
        checks = []
        for task in ('cls', 'det', 'seg'):
            res = self.results[task]
            losses = res['losses']
            k = max(1, len(losses) // 4)
            first, last = sum(losses[:k]) / k, sum(losses[-k:]) / k
            res['loss_first'], res['loss_last'] = first, last
            for key, bar, label, _ in QUALITY_BAR[task]:
                value = float(res['metrics'][key])
                baseline = baselines[key]
                checks.append(dict(task=task, metric=key, label=label, value=value, bar=bar,
                                   passed=value >= bar, baseline=baseline,
                                   beats_baseline=value > baseline))
            res['loss_falls'] = last < first
        return checks

    def summary(self, checks, total_seconds):
        from emo_mm.visualization import markdown_table
        rows = []
        for c in checks:
            res = self.results[c['task']]
            value = f'{c["value"]:.3f}' if c['bar'] < 1 else f'{c["value"]:.2f}'
            status = ('PASS' if c['passed'] else 'FAIL') if not self.quick else (
                'learns' if c['beats_baseline'] and res['loss_falls'] else 'NO LEARNING')
            rows.append([
                TASK_NAMES[c['task']], MODEL_NAMES[c['task']], f'`{CONFIGS[c["task"]]}`',
                f'{res["loss_first"]:.3f} → {res["loss_last"]:.3f}',
                _fmt_time(res['train_seconds']), c['label'], value,
                f'{c["baseline"]:.3g}', f'≥ {c["bar"]:g}', status])
        table = markdown_table(['task', 'model', 'config', 'train loss (first → last quarter)',
                                'train time', 'metric (toy val)', 'result', 'trivial baseline',
                                'bar', 'status' if not self.quick else 'status (quick run)'],
                               rows)
        passed = all(c['passed'] for c in checks)
        learned = all(c['beats_baseline'] for c in checks) and all(
            self.results[t]['loss_falls'] for t in ('cls', 'det', 'seg'))
        command = 'make demo' if not self.quick else 'python tools/demo.py --quick'
        if self.gpus > 1:
            command = f'DEMO_GPUS={self.gpus} ' + command
        machine = _machine()
        stage_times = ', '.join(f'{k} {_fmt_time(v)}' for k, v in self.progress.times.items())
        verdict = (f'**quality bar: {"PASS" if passed else "FAIL"}**' if not self.quick else
                   f'**quick run: {"the pipeline learns" if learned else "NO LEARNING"}** '
                   '(the quality bar applies to the full run)')
        text = [
            '# emo_mm demo: pretrain → finetune → evaluate on the toy dataset', '',
            f'Command: `{command}` — {verdict}', '',
            table, '',
            f'- total wall time: {_fmt_time(total_seconds)} ({stage_times})',
            f'- machine: {machine["summary"]}; load average at start / end: '
            f'{machine["load_start"]} / {_load()}',
            f'- training processes: {self.gpus}; started {self.started:%Y-%m-%d %H:%M}',
            f'- data: `{self.data_root}`; work dir: `{self.work_dir}` (logs in `logs/`)',
            '- pictures: `demo_cls.png` (predicted class and score, green = right), '
            '`demo_det.png` (predicted boxes | ground truth), `demo_seg.png` (image | predicted '
            'mask | ground truth)', '',
            '![classification](demo_cls.png)', '', '![detection](demo_det.png)', '',
            '![segmentation](demo_seg.png)', '',
        ]
        with open(osp.join(self.work_dir, 'summary.md'), 'w') as f:
            f.write('\n'.join(text))
        summary = dict(
            command=command, quick=self.quick, gpus=self.gpus, passed=passed, learned=learned,
            total_seconds=total_seconds, stage_seconds=self.progress.times, machine=machine,
            checks=checks, pictures=self.pictures,
            results={t: {k: v for k, v in r.items()} for t, r in self.results.items()})
        with open(osp.join(self.work_dir, 'summary.json'), 'w') as f:
            json.dump(summary, f, indent=1)
        print('\n' + table)
        print('\n'.join(text[2:3] + text[5:9]))
        return passed if not self.quick else learned

    def run(self) -> int:
        os.makedirs(self.work_dir, exist_ok=True)
        _MACHINE['load_start'] = _load()
        self.progress.info(
            f'emo_mm demo ({"quick run" if self.quick else "full run"}, {self.gpus} training '
            f'process(es)) -> {self.work_dir}')
        self.make_data()
        self.train('cls', 'Pretrain the EMOv2-1M classifier on toy-cls (tools/train.py)')
        self.test('cls', 'Evaluate the classifier: top-1 (tools/test.py)')
        self.convert()
        pretrained = [f'model.backbone.init_cfg.checkpoint={self.backbone}']
        self.train('det', 'Finetune SSDLite-EMOv2-1M on toy-det from the converted backbone '
                   '(tools/dist_train.sh)', pretrained, distributed=True)
        self.test('det', 'Evaluate the detector: COCO bbox mAP (tools/test.py)')
        self.train('seg', 'Finetune SegFormer-EMOv2-1M on toy-seg from the converted backbone '
                   f'({"tools/dist_train.sh" if self.gpus > 1 else "tools/train.py"})',
                   pretrained)
        self.test('seg', 'Evaluate the segmentor: mIoU (tools/test.py)')
        self.draw()
        self.progress.banner(f'Summary: {osp.join(self.work_dir, "summary.md")}')
        checks = self.evaluate_bar()
        ok = self.summary(checks, time.time() - self.progress.t0)
        return 0 if ok else 1


_MACHINE = {}


def _load() -> str:
    try:
        return '{:.1f}'.format(os.getloadavg()[0])
    except OSError:
        return 'n/a'


def _machine() -> dict:
    import torch
    cpu = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            names = [line.split(':', 1)[1].strip() for line in f if line.startswith('model name')]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    summary = (f'{os.cpu_count()} CPU cores ({cpu}), torch {torch.__version__} with '
               f'{torch.get_num_threads()} threads, '
               + (f'{len(gpus)} GPU(s): {", ".join(gpus)}' if gpus else 'no GPU'))
    return dict(_MACHINE, summary=summary, cpu=cpu, cores=os.cpu_count(), gpus=gpus)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        return Demo(args).run()
    except RuntimeError as e:
        print(f'\n[demo] FAILED: {e}', file=sys.stderr)
        return 1


if __name__ == '__main__':
    sys.exit(main())

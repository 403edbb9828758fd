"""The demo's stages, in order, each a tool of the repository run as its own process:

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
9. single-image inference with each model: pictures  (in this process, :mod:`.pictures`)
10. the summary with the quality bar                 (:mod:`.report`)

The quick run (``quick=True``) uses the ``*_quick.py`` toy configs and the smaller toy data of
:data:`~emo_mm.demo.tasks.QUICK_DATA`.
"""
import os
import os.path as osp
import socket
import sys
import time
import warnings
from datetime import datetime
from typing import Dict, Optional, Sequence

from ..machine import describe_machine, load_average
from .outputs import last_checkpoint, test_metrics, train_losses
from .pictures import DRAW
from .progress import Progress
from .report import learning_checks, write_summary
from .tasks import BACKBONE_NAME, QUICK_DATA, TASKS


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class DemoRun:
    """One run of the demo.

    Args:
        root (str): The repository root (its ``tools/`` and ``configs/`` are run).
        work_dir (str): The output folder.
        data_root (str): The toy data folder (generated if missing).
        quick (bool): The shortened run of the tests. Defaults to False.
        gpus (int): Training processes (tools/dist_train.sh when > 1). Defaults to 1.
        verbose (bool): Print the tools' full output. Defaults to False.
        seed (int, optional): The training seed of every stage (``randomness.seed`` of the
            classifier, the detector and the segmentor); None keeps each config's own.
            Defaults to None.
    """

    def __init__(self, root: str, work_dir: str, data_root: str, quick: bool = False,
                 gpus: int = 1, verbose: bool = False, seed: Optional[int] = None):
        self.root = root
        self.work_dir = osp.abspath(work_dir)
        self.data_root = osp.abspath(data_root)
        self.quick = quick
        self.gpus = gpus
        self.seed = seed
        self.configs = {key: task.quick_config if quick else task.config
                        for key, task in TASKS.items()}
        self.progress = Progress(10, osp.join(self.work_dir, 'logs'), root, verbose)
        self.env = dict(os.environ, EMO_MM_TOY_DATA=self.data_root, PYTHONUNBUFFERED='1')
        self.py = sys.executable
        self.results = {}  # task -> dict
        self.pictures = {}
        self.backbone = osp.join(self.work_dir, 'cls', BACKBONE_NAME)
        self.started = datetime.now()

    # ---------------------------------------------------------------------------- stages
    def make_data(self) -> None:
        self.progress.banner(f'Toy data in {self.data_root} (generated if missing)')
        cmd = [self.py, 'tools/dataset_converters/make_toy_data.py', '--out', self.data_root]
        if self.quick:
            for key, value in QUICK_DATA.items():
                cmd += ['--' + key.replace('_', '-'), str(value)]
        self.progress.run('data', cmd, self.env)

    def seeds(self) -> Dict[str, int]:
        """The training seed of each task: ``seed``, or the config's ``randomness.seed``."""
        if self.seed is not None:
            return {task: self.seed for task in TASKS}
        from mmengine.config import Config
        return {task: Config.fromfile(osp.join(self.root, config)).randomness.seed
                for task, config in self.configs.items()}

    def _cfg_options(self, task: str, extra: Sequence[str]) -> list:
        opts = [] if self.seed is None else [f'randomness.seed={self.seed}']
        if self.gpus > 1:  # the same total batch, split over the processes
            from mmengine.config import Config
            batch = Config.fromfile(osp.join(self.root, self.configs[task])).train_dataloader
            opts.append(f'train_dataloader.batch_size={max(1, batch.batch_size // self.gpus)}')
        # no validation inside the training run: tools/test.py evaluates the model next
        return opts + list(extra) + ['train_cfg.val_begin=1000000000']

    def train(self, task: str, title: str, extra: Sequence[str] = (),
              distributed: bool = False) -> None:
        """Train ``task`` with tools/train.py, or tools/dist_train.sh when ``distributed`` or
        ``gpus`` > 1."""
        self.progress.banner(title)
        work_dir = osp.join(self.work_dir, task)
        if distributed or self.gpus > 1:
            cmd = ['bash', 'tools/dist_train.sh', self.configs[task], str(self.gpus)]
            # the launcher runs the demo's interpreter too (it would pick the repository's
            # .venv/bin/python, or `python` on the PATH)
            env = dict(self.env, PORT=str(_free_port()), PYTHON=self.py)
        else:
            cmd = [self.py, 'tools/train.py', self.configs[task]]
            env = self.env
        cmd += ['--work-dir', work_dir, '--cfg-options'] + self._cfg_options(task, extra)
        seconds = self.progress.run(f'{task}_train', cmd, env)
        self.results[task] = dict(train_seconds=seconds,
                                  checkpoint=last_checkpoint(work_dir, self.root),
                                  losses=train_losses(work_dir))

    def test(self, task: str, title: str) -> None:
        self.progress.banner(title)
        work_dir = osp.join(self.work_dir, task, 'test')
        cmd = [self.py, 'tools/test.py', self.configs[task], self.results[task]['checkpoint'],
               '--work-dir', work_dir]
        seconds = self.progress.run(f'{task}_test', cmd, self.env)
        self.results[task].update(test_seconds=seconds, metrics=test_metrics(work_dir))

    def convert(self) -> None:
        self.progress.banner('Convert the classifier to a backbone checkpoint (--backbone-only)')
        cmd = [self.py, 'tools/model_converters/emo_to_mmpretrain.py',
               self.results['cls']['checkpoint'], self.backbone, '--backbone-only']
        self.progress.run('convert', cmd, self.env)

    def draw(self) -> None:
        self.progress.banner('Single-image inference with each model: pictures')
        import torch
        t = time.time()
        os.environ['EMO_MM_TOY_DATA'] = self.data_root  # the toy configs read it
        device = 'cuda' if torch.cuda.is_available() else 'cpu'
        with warnings.catch_warnings():
            # upstream deprecation notices (the tools' logs keep them)
            warnings.simplefilter('ignore')
            for task, draw in DRAW.items():
                out = osp.join(self.work_dir, f'demo_{task}.png')
                draw(osp.join(self.root, self.configs[task]), self.results[task]['checkpoint'],
                     self.data_root, out, device)
                self.pictures[task] = out
                self.progress.info(f'wrote {out}')
        self.progress.times['pictures'] = time.time() - t

    # ---------------------------------------------------------------------------- the run
    def run(self) -> int:
        """Run every stage and write the summary.

        Returns:
            int: 0 when every stage ran and the run passed (full run: the quality bar; quick
            run: every model learned), 1 otherwise.

        Raises:
            RuntimeError: A stage's tool failed.
        """
        os.makedirs(self.work_dir, exist_ok=True)
        load_start = load_average()
        self.progress.info(
            f'emo_mm demo ({"quick run" if self.quick else "full run"}, {self.gpus} training '
            f'process(es), seed {"of each config" if self.seed is None else self.seed}) '
            f'-> {self.work_dir}')
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
        checks = learning_checks(self.results, self.data_root)
        ok = write_summary(
            self.work_dir, results=self.results, checks=checks, configs=self.configs,
            quick=self.quick, gpus=self.gpus, seed=self.seed, seeds=self.seeds(),
            data_root=self.data_root, started=self.started,
            total_seconds=time.time() - self.progress.t0, stage_seconds=self.progress.times,
            machine=dict(describe_machine(), load_start=load_start), load_end=load_average(),
            pictures=self.pictures)
        return 0 if ok else 1

"""Crash-safe training (emo_mm.engine, emo_mm.io): atomic writes, the clean-up order,
SIGTERM, exact resumption, and ``tools/train.py`` killed at random moments reaching the weights
and metrics of an uninterrupted run."""
import copy
import os
import os.path as osp
import queue
import random
import re
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.dataset import BaseDataset
from mmengine.evaluator import BaseMetric
from mmengine.fileio import LocalBackend
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import Dataset

import emo_mm  # noqa: F401
from emo_mm.io import (TEMPORARY_FILE, atomic_path, load_checkpoint_file, remove_stale_temporaries,
                       save_checkpoint_atomic)
from emo_mm.engine import make_crash_safe, step_seed
from emo_mm.testing import load_script

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TINY_CLS = osp.join(ROOT, 'tests', 'data', 'configs', 'tiny_cls.py')


def _temporaries(folder):
    return [name for name in os.listdir(folder) if TEMPORARY_FILE.match(name)]


def _same_tensors(a, b):
    return list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)


# --------------------------------------------------------------------------------------------
# Atomic writes
# --------------------------------------------------------------------------------------------
def test_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / 'ckpt.pth'
    save_checkpoint_atomic({'w': torch.ones(3)}, str(path))
    with pytest.raises(RuntimeError, match='disk full'):
        with atomic_path(str(path)) as tmp:
            with open(tmp, 'wb') as f:
                f.write(b'partial')
            raise RuntimeError('disk full')
    assert torch.equal(load_checkpoint_file(str(path))['w'], torch.ones(3))
    assert _temporaries(tmp_path) == []
    assert oct(path.stat().st_mode & 0o777) == oct(0o666 & ~_umask())  # not mkstemp's 0600


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Runs emo_mm/io/atomic.py alone (it needs only torch) and dies of SIGKILL while writing.
KILLED_WRITER = """
import os, signal, sys, torch
sys.path.insert(0, sys.argv[1])
from emo_mm.io import atomic

class KillDuringPickling:
    def __reduce__(self):
        os.kill(os.getpid(), signal.SIGKILL)

atomic.save_checkpoint_atomic({'w': torch.zeros(10**6), 'x': KillDuringPickling()},
                                  sys.argv[2])
"""


def test_sigkill_mid_write_keeps_the_old_file(tmp_path):
    path = tmp_path / 'ckpt.pth'
    save_checkpoint_atomic({'w': torch.ones(3)}, str(path))
    writer = subprocess.run(
        [sys.executable, '-c', KILLED_WRITER, ROOT,
         str(path)], capture_output=True, text=True, timeout=300)
    assert writer.returncode == -signal.SIGKILL, writer.stderr
    assert torch.equal(load_checkpoint_file(str(path))['w'], torch.ones(3))
    left = _temporaries(tmp_path)
    assert len(left) == 1  # the killed write's temporary file, removed as stale:
    assert remove_stale_temporaries(str(tmp_path)) == [str(tmp_path / left[0])]
    assert _temporaries(tmp_path) == []


# --------------------------------------------------------------------------------------------
# A small mmengine run with every source of randomness: random augmentation in the dataset
# (numpy, random, torch), dropout, a shuffled sampler, and validation in between.
# --------------------------------------------------------------------------------------------
class NoisyDataset(Dataset):

    def __init__(self, n=12):
        generator = torch.Generator().manual_seed(0)
        self.x = torch.randn(n, 4, generator=generator)
        self.y = self.x.sum(1, keepdim=True)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        noise = np.random.randn(4).astype(np.float32) * 0.1 + random.random() * 0.1
        return dict(inputs=self.x[i] + torch.from_numpy(noise) + torch.rand(4) * 0.1,
                    data_samples=self.y[i])


class DropoutRegressor(BaseModel):

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 16), nn.Dropout(0.3), nn.Linear(16, 1))

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = self.net(torch.stack(inputs))
        if mode == 'loss':
            return dict(loss=(out - torch.stack(data_samples)).pow(2).mean())
        return out


class ZeroMetric(BaseMetric):
    """A placeholder metric: what matters is that validation runs between iterations."""

    def process(self, data_batch, data_samples):
        self.results.append(0.)

    def compute_metrics(self, results):
        return dict(zero=sum(results))


class SendSignal(Hook):
    """Sends ``signum`` to this process in ``after_<stage>_iter`` of iteration ``at`` (0-based
    batch index), as a scheduler would."""

    def __init__(self, at, stage='train', signum=signal.SIGTERM):
        self.at, self.stage, self.signum = at, stage, signum

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if self.stage == 'train' and runner.iter == self.at:
            os.kill(os.getpid(), self.signum)

    def after_val_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if self.stage == 'val' and runner.iter == self.at and batch_idx == 0:
            os.kill(os.getpid(), self.signum)


class RecordSamples(Hook):
    """Keeps the targets (one per sample, all distinct) of every training batch, in order."""

    def __init__(self):
        self.seen = []

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.seen.append((runner.iter + 1, [float(y) for y in data_batch['data_samples']]))


def toy_runner(work_dir, max_iters=8, by_epoch=False, checkpoint=None, seed_hook=True,
               extra_hooks=(), resume=False, load_from=None, loop=None,
               sampler='DefaultSampler', workers=0):
    train_cfg = dict(by_epoch=True, max_epochs=max_iters // 4, val_interval=1) if by_epoch \
        else dict(by_epoch=False, max_iters=max_iters, val_interval=3)
    if loop is not None and 'Iter' in loop:
        train_cfg = dict(type=loop, max_iters=max_iters, val_interval=3)
    elif loop is not None:
        train_cfg = dict(type=loop, max_epochs=max_iters // 4, val_interval=1)
    checkpoint = dict(dict(type='CrashSafeCheckpointHook', interval=2, by_epoch=by_epoch),
                      **(checkpoint or {}))
    hooks = ([dict(type='StepSeedHook')] if seed_hook else []) + list(extra_hooks)
    torch.manual_seed(0)  # the model is built here, before the runner seeds
    return Runner(
        model=DropoutRegressor(),
        work_dir=str(work_dir),
        experiment_name=f'{osp.basename(work_dir)}_{time.monotonic_ns()}',
        train_dataloader=dict(dataset=NoisyDataset(), sampler=dict(type=sampler, shuffle=True),
                              batch_size=3, num_workers=workers,
                              persistent_workers=workers > 0),
        val_dataloader=dict(dataset=NoisyDataset(4), sampler=dict(type='DefaultSampler',
                                                                  shuffle=False),
                            batch_size=2, num_workers=0),
        val_evaluator=[ZeroMetric()],
        val_cfg=dict(),
        optim_wrapper=dict(optimizer=dict(type='AdamW', lr=0.01)),
        train_cfg=train_cfg,
        default_hooks=dict(checkpoint=checkpoint, logger=dict(type='LoggerHook', interval=1)),
        custom_hooks=hooks,
        randomness=dict(seed=7),
        resume=resume,
        load_from=load_from)


def _weights(runner):
    return {k: v.clone() for k, v in runner.model.state_dict().items()}


@pytest.fixture(scope='module')
def uninterrupted(tmp_path_factory):
    """Final weights of uninterrupted 8-iteration runs, with and without StepSeedHook."""
    result = {}
    for seed_hook in (True, False):
        runner = toy_runner(tmp_path_factory.mktemp('ref'), seed_hook=seed_hook)
        runner.train()
        result[seed_hook] = _weights(runner)
    return result


def test_resume_is_exact_with_step_seed_hook_only(uninterrupted, tmp_path):
    """Resuming from iteration 4 reaches the uninterrupted weights bitwise with the hook, and
    other weights without it (the run does draw random numbers that matter)."""
    for seed_hook in (True, False):
        work_dir = tmp_path / f'hook_{seed_hook}'
        toy_runner(work_dir, max_iters=4, seed_hook=seed_hook).train()
        resumed = toy_runner(work_dir, seed_hook=seed_hook, resume=True)
        resumed.train()
        assert _same_tensors(_weights(resumed), uninterrupted[seed_hook]) is seed_hook
    assert not _same_tensors(uninterrupted[True], uninterrupted[False])


def test_step_seed_depends_on_seed_and_step():
    seeds = {step_seed(seed, step) for seed in (0, 1, 2**31 - 1) for step in range(100)}
    assert len(seeds) == 300 and all(0 <= s < 2**64 for s in seeds)
    assert step_seed(5, 9) == step_seed(5, 9)


@pytest.mark.parametrize('stage', ['train', 'val'])
def test_sigterm_saves_a_checkpoint_and_resume_is_exact(uninterrupted, tmp_path, stage):
    """SIGTERM after iteration 5 (index 4; no periodic checkpoint there) or during the
    validation after iteration 3: the hook saves that state, exits with 143 and restores the
    previous SIGTERM handler; resuming gives the uninterrupted weights."""
    handler = signal.getsignal(signal.SIGTERM)
    at = 4 if stage == 'train' else 3
    runner = toy_runner(tmp_path, extra_hooks=[SendSignal(at, stage)])
    with pytest.raises(SystemExit) as stop:
        runner.train()
    assert stop.value.code == 128 + signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is handler
    saved = 5 if stage == 'train' else 3
    last = (tmp_path / 'last_checkpoint').read_text()
    assert last == str(tmp_path / f'iter_{saved}.pth')
    assert load_checkpoint_file(last)['meta']['iter'] == saved
    resumed = toy_runner(tmp_path, resume=True)
    resumed.train()
    assert _same_tensors(_weights(resumed), uninterrupted[True])


def _epoch_run(work_dir, loop, signal_at=None, resume=False):
    """An epoch-based 2 x 4-iteration run with ``loop``; returns (runner, samples per
    iteration), after SIGTERM following 0-based iteration ``signal_at`` if given."""
    record = RecordSamples()
    hooks = [record] + ([SendSignal(signal_at)] if signal_at is not None else [])
    runner = toy_runner(work_dir, loop=loop, extra_hooks=hooks, resume=resume)
    if signal_at is None:
        runner.train()
    else:
        with pytest.raises(SystemExit):
            runner.train()
    return runner, record.seen


@pytest.mark.parametrize('at', [1, 3, 5, 6])
def test_epoch_based_run_resumes_mid_epoch_exactly(tmp_path, at):
    """ResumableEpochBasedTrainLoop: stopped by SIGTERM inside epoch 1 or 2 (or after an
    epoch's last batch) and resumed, the run trains each remaining batch of the same epoch
    order once, ends at iteration 8 and reaches the uninterrupted weights bitwise."""
    loop = 'ResumableEpochBasedTrainLoop'
    reference, ref_seen = _epoch_run(tmp_path / 'ref', loop)
    assert [i for i, _ in ref_seen] == list(range(1, 9))
    _, first = _epoch_run(tmp_path / 'run', loop, signal_at=at)
    meta = load_checkpoint_file((tmp_path / 'run' / 'last_checkpoint').read_text())['meta']
    assert meta['iter'] == at + 1
    resumed, rest = _epoch_run(tmp_path / 'run', loop, resume=True)
    assert first + rest == ref_seen
    assert resumed.iter == 8 and resumed.epoch == 2
    assert _same_tensors(_weights(resumed), _weights(reference))


@pytest.mark.parametrize('sampler, workers, at', [
    ('DefaultSampler', 0, 5), ('DefaultSampler', 0, 4), ('DefaultSampler', 2, 5),
    ('InfiniteSampler', 0, 5), ('InfiniteSampler', 2, 5)])
def test_iteration_based_run_resumes_without_reloading(tmp_path, monkeypatch, sampler, workers,
                                                       at):
    """ResumableIterBasedTrainLoop resumed after iteration 5 (SIGTERM) or 4 (where a finite
    sampler of 4 batches ends its pass; mmengine restarts it within the run), with a finite
    sampler or mmengine's InfiniteSampler, in the main process or 2 workers: it trains the
    remaining batches of the uninterrupted run, loads none of the trained batches again, and
    (num_workers=0) reaches its weights bitwise."""
    loop = 'ResumableIterBasedTrainLoop'

    def run(work_dir, **kwargs):
        record = RecordSamples()
        runner = toy_runner(work_dir, max_iters=10, loop=loop, sampler=sampler,
                            workers=workers, extra_hooks=[record] + kwargs.pop('hooks', []),
                            **kwargs)
        return runner, record.seen

    reference, ref_seen = run(tmp_path / 'ref')
    reference.train()
    first_runner, first = run(tmp_path / 'run', hooks=[SendSignal(at - 1)])
    with pytest.raises(SystemExit):
        first_runner.train()
    resumed, rest = run(tmp_path / 'run', resume=True)
    loaded = []
    get_item = NoisyDataset.__getitem__
    monkeypatch.setattr(NoisyDataset, '__getitem__',
                        lambda self, i: loaded.append(len(self)) or get_item(self, i))
    resumed.train()
    assert [i for i, _ in first] == list(range(1, at + 1))
    assert [i for i, _ in rest] == list(range(at + 1, 11))
    assert first + rest == ref_seen
    if workers == 0:  # (data workers load in other processes)
        assert loaded.count(12) == (10 - at) * 3  # the remaining batches of the 12 samples only
        assert _same_tensors(_weights(resumed), _weights(reference))


def test_mmengine_epoch_loop_replays_the_interrupted_epoch(tmp_path):
    """What ResumableEpochBasedTrainLoop fixes: mmengine's loop resumed after iteration 6 runs
    epoch 2 from its first batch, 10 iterations in all instead of 8."""
    _, first = _epoch_run(tmp_path, 'EpochBasedTrainLoop', signal_at=5)
    resumed, rest = _epoch_run(tmp_path, 'EpochBasedTrainLoop', resume=True)
    assert len(first) == 6 and len(rest) == 4 and resumed.iter == 10
    assert rest[0][1] == first[4][1]  # epoch 2's first batch, seen twice


class PoisonWeights(Hook):
    """Makes the model's weights NaN before iteration ``at`` (0-based), as a diverging run."""

    def __init__(self, at):
        self.at = at

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.iter == self.at:
            with torch.no_grad():
                runner.model.net[0].weight.fill_(float('nan'))


@pytest.mark.parametrize('loop', [None, 'ResumableEpochBasedTrainLoop'])
def test_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path, loop):
    """The loss of iteration 4 is NaN: FiniteLossHook stops the run there, naming the iteration
    and the loss terms, before iter_4.pth is written; last_checkpoint names iter_2.pth, which
    holds finite weights, and --resume takes it. Without the hook the run goes on and saves
    NaN weights."""
    from emo_mm.engine import NonFiniteLossError
    runner = toy_runner(tmp_path, loop=loop,
                        extra_hooks=[PoisonWeights(3), dict(type='FiniteLossHook')])
    with pytest.raises(NonFiniteLossError) as stop:
        runner.train()
    message = str(stop.value)
    where = 'iteration 4 (epoch 1, batch 4)' if loop else 'iteration 4:'
    assert f'Training stopped at {where}' in message and 'loss=nan' in message, message
    assert f'the last good checkpoint is {tmp_path / "iter_2.pth"}' in message
    assert (tmp_path / 'last_checkpoint').read_text() == str(tmp_path / 'iter_2.pth')
    assert not osp.exists(tmp_path / 'iter_4.pth')
    weights = load_checkpoint_file(str(tmp_path / 'iter_2.pth'))['state_dict']
    assert all(torch.isfinite(w).all() for w in weights.values())

    unchecked = toy_runner(tmp_path / 'unchecked', loop=loop, extra_hooks=[PoisonWeights(3)])
    unchecked.train()
    last = load_checkpoint_file(str(tmp_path / 'unchecked' / 'iter_8.pth'))['state_dict']
    assert not all(torch.isfinite(w).all() for w in last.values())


def _failing_put(put):
    """``LocalBackend.put`` that writes half of ``iter_4.pth`` and fails, as a kill would."""

    def failing_put(backend, obj, filepath):
        if 'iter_4.pth' in str(filepath):
            with open(filepath, 'wb') as f:
                f.write(obj[:len(obj) // 2])
            raise KeyboardInterrupt('killed while writing')
        return put(backend, obj, filepath)

    return failing_put


@pytest.mark.parametrize('hook', ['CheckpointHook', 'CrashSafeCheckpointHook'])
def test_interrupted_write_with_max_keep_ckpts(tmp_path, monkeypatch, hook):
    """Interrupted while writing iter_4.pth with max_keep_ckpts=1: mmengine's hook has already
    deleted iter_2.pth, which last_checkpoint still names (resume impossible) and leaves a
    partial iter_4.pth; ours keeps iter_2.pth named and loadable, and no partial file."""
    monkeypatch.setattr(LocalBackend, 'put', _failing_put(LocalBackend.put))
    runner = toy_runner(tmp_path, checkpoint=dict(type=hook, max_keep_ckpts=1))
    with pytest.raises(KeyboardInterrupt):
        runner.train()
    last = (tmp_path / 'last_checkpoint').read_text()
    assert last == str(tmp_path / 'iter_2.pth')
    if hook == 'CheckpointHook':
        assert not osp.exists(last) and osp.exists(tmp_path / 'iter_4.pth')
    else:
        assert load_checkpoint_file(last)['meta']['iter'] == 2
        assert not osp.exists(tmp_path / 'iter_4.pth') and _temporaries(tmp_path) == []


def test_outdated_checkpoints_are_still_removed(tmp_path):
    toy_runner(tmp_path, checkpoint=dict(max_keep_ckpts=2)).train()
    kept = sorted(n for n in os.listdir(tmp_path) if n.endswith('.pth'))
    assert kept == ['iter_6.pth', 'iter_8.pth'] and _temporaries(tmp_path) == []


def test_make_crash_safe():
    cfg = Config(dict(default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=5,
                                                          max_keep_ckpts=3)),
                      custom_hooks=[dict(type='EMAHook')]))
    make_crash_safe(cfg)
    assert cfg.default_hooks.checkpoint == dict(type='CrashSafeCheckpointHook', interval=5,
                                                max_keep_ckpts=3)
    assert [h['type'] for h in cfg.custom_hooks] == ['EMAHook', 'StepSeedHook', 'FiniteLossHook']
    again = copy.deepcopy(cfg)
    assert make_crash_safe(again).to_dict() == cfg.to_dict()
    assert make_crash_safe(Config()).default_hooks.checkpoint.type == 'CrashSafeCheckpointHook'
    disabled = make_crash_safe(Config(dict(default_hooks=dict(checkpoint=None))))
    assert disabled.default_hooks.checkpoint is None


# --------------------------------------------------------------------------------------------
# tools/train.py on a tiny EMOv2 classifier, killed at random moments.
# --------------------------------------------------------------------------------------------
MAX_ITERS = 16
# tiny_cls.py as it is (tools/train.py makes it crash-safe), run longer.
KILL_CONFIG = f"""
_base_ = {TINY_CLS!r}
train_cfg = dict(max_iters={MAX_ITERS}, val_interval=8)
param_scheduler = dict(end={MAX_ITERS})
default_hooks = dict(checkpoint=dict(interval=2, max_keep_ckpts=2))
log_processor = dict(by_epoch=False)  # log lines 'Iter(train) [ 5/16] ...'
"""


@pytest.fixture(scope='module')
def kill_setup(tmp_path_factory):
    root = tmp_path_factory.mktemp('kill')
    toy = load_script('tools/dataset_converters/make_toy_data.py')
    toy.make_toy_data(str(root / 'toy'), seed=0, tasks=('cls', ), classes=('circle', 'square'),
                      cls_size=32, cls_train_per_class=12, cls_val_per_class=4, verbose=False)
    config = root / 'kill_cls.py'
    config.write_text(KILL_CONFIG)
    env = dict(os.environ, EMO_MM_TEST_DATA=str(root / 'toy' / 'cls'), OMP_NUM_THREADS='1',
               PYTHONWARNINGS='ignore')
    return str(config), env


class TrainProcess:
    """``tools/train.py CONFIG --work-dir W --resume``, its output read line by line."""

    def __init__(self, config, work_dir, env):
        self.proc = subprocess.Popen(
            [sys.executable, osp.join(ROOT, 'tools', 'train.py'), config, '--work-dir',
             str(work_dir), '--resume'], cwd=ROOT, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True)
        self.lines, self._queue = [], queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, pattern, timeout=240):
        """Wait for a new line matching ``pattern``; None if the process ended first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=1)
            except queue.Empty:
                continue
            if line is None:
                return None
            self.lines.append(line)
            match = re.search(pattern, line)
            if match:
                return match
        raise TimeoutError(f'no line matching {pattern!r}:\n{"".join(self.lines[-30:])}')

    def finish(self, timeout=240):
        while self.wait_for(r'(?!)', timeout) is not None:
            pass
        return self.proc.wait(timeout)

    @property
    def output(self):
        return ''.join(self.lines)


def _final_accuracy(output):
    return re.findall(r'accuracy/top1: ([\d.]+)', output)[-1]


def _final_state(work_dir):
    checkpoint = load_checkpoint_file(osp.join(work_dir, f'iter_{MAX_ITERS}.pth'))
    return checkpoint['state_dict'], checkpoint['optimizer']['state']


def _resume_point(work_dir):
    last = work_dir / 'last_checkpoint'
    return int(re.search(r'iter_(\d+)\.pth', last.read_text()).group(1)) if last.exists() else 0


@pytest.mark.slow
def test_train_killed_at_random_moments_resumes_to_the_same_result(kill_setup, tmp_path):
    """Killed three times with SIGKILL and once with SIGTERM, each time at a random moment (a
    random 0-0.25 s after a random iteration's log line: while training, validating, or
    writing a checkpoint) and resumed with ``--resume``: the final weights, optimizer state and
    accuracy equal those of an uninterrupted run. SIGTERM exits with 143 after saving the
    iteration it reached. Set EMO_MM_KILL_SEED to replay a schedule."""
    config, env = kill_setup
    reference = TrainProcess(config, tmp_path / 'reference', env)
    assert reference.finish() == 0, reference.output[-3000:]

    seed = int(os.environ.get('EMO_MM_KILL_SEED', time.time_ns() % 2**32))
    rng = random.Random(seed)
    work_dir = tmp_path / 'killed'
    kills = 0
    for signum in (signal.SIGKILL, signal.SIGTERM, signal.SIGKILL, signal.SIGKILL):
        start = _resume_point(work_dir)
        if start + 1 > MAX_ITERS - 6:
            break  # a late kill left no room for another before the run's end
        # kill early enough that the run cannot reach its last iteration meanwhile
        target = rng.randint(start + 1, min(start + 4, MAX_ITERS - 6))
        run = TrainProcess(config, work_dir, env)
        assert run.wait_for(rf'Iter\(train\)\s+\[\s*{target}/') is not None, run.output
        time.sleep(rng.uniform(0, 0.25))
        run.proc.send_signal(signum)
        code = run.finish()
        assert code == 128 + signum if signum == signal.SIGTERM else -signum, \
            (seed, run.output[-3000:])
        kills += 1
        if signum == signal.SIGTERM:
            reached = int(re.findall(r'Iter\(train\)\s+\[\s*(\d+)/', run.output)[-1])
            assert _resume_point(work_dir) == reached, seed  # nothing lost
    assert kills >= 2, seed  # at least one SIGKILL and the SIGTERM
    final = TrainProcess(config, work_dir, env)
    assert final.finish() == 0, final.output[-3000:]
    assert 'Advance dataloader' in final.output  # it did resume

    weights, optimizer = _final_state(work_dir)
    ref_weights, ref_optimizer = _final_state(tmp_path / 'reference')
    assert _same_tensors(weights, ref_weights), seed
    for key in ref_optimizer:
        assert _same_tensors(optimizer[key], ref_optimizer[key]), seed
    assert _final_accuracy(final.output) == _final_accuracy(reference.output), seed
    assert _temporaries(work_dir) == []


# --------------------------------------------------------------------------------------------
# tools/dist_train.sh, 2 CPU processes (gloo), epoch-based configs of the repository, the whole
# job killed with SIGKILL at random moments and resumed with --resume.
# --------------------------------------------------------------------------------------------
DIST_EPOCHS = 4
DIST_DELAY = 0.25  # seconds added to each iteration
# The toy configs of `make demo` (paper configs with the data, sizes and schedule changed),
# shrunk further: no pretrained backbone, no validation, iteration checkpoints every 2.
DIST_CONFIGS = {
    'det': f"""
_base_ = {osp.join(ROOT, 'configs/det/toy/ssdlite_emo2-1m_toy-det.py')!r}
model = dict(backbone=dict(init_cfg=None))
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False)
""",
    'cls': f"""
_base_ = {osp.join(ROOT, 'configs/cls/toy/emo2-1m_toy-cls.py')!r}
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False)
""",
}
DIST_COMMON = f"""
custom_imports = dict(imports=['emo_mm', 'record_batches'], allow_failed_imports=False)
custom_hooks = _base_.custom_hooks + [dict(type='RecordBatchesHook', delay={DIST_DELAY})]
train_cfg = dict(max_epochs={DIST_EPOCHS}, val_interval=100)
val_dataloader = None
val_cfg = None
val_evaluator = None
default_hooks = dict(logger=dict(interval=1),
                     checkpoint=dict(by_epoch=False, interval=2, max_keep_ckpts=2))
"""


@pytest.fixture(scope='module')
def dist_setup(tmp_path_factory):
    root = tmp_path_factory.mktemp('dist')
    toy = load_script('tools/dataset_converters/make_toy_data.py')
    toy.make_toy_data(str(root / 'toy'), seed=0, tasks=('cls', 'det'), cls_size=32,
                      cls_train_per_class=3, cls_val_per_class=1, det_train=16, det_val=2,
                      verbose=False)
    configs = {}
    for task, text in DIST_CONFIGS.items():
        configs[task] = root / f'{task}.py'
        configs[task].write_text(text + DIST_COMMON)
    env = dict(os.environ, EMO_MM_TOY_DATA=str(root / 'toy'), PYTHONWARNINGS='ignore',
               PYTHONPATH=osp.join(ROOT, 'tests', 'helpers'))
    env.pop('OMP_NUM_THREADS', None)
    return configs, env


def _free_port():
    import socket
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class DistTrainProcess(TrainProcess):
    """``tools/dist_train.sh CONFIG 2 --work-dir W --resume`` in a session of its own."""

    def __init__(self, config, work_dir, env):
        self.proc = subprocess.Popen(
            ['bash', osp.join(ROOT, 'tools', 'dist_train.sh'), str(config), '2', '--work-dir',
             str(work_dir), '--resume'], cwd=ROOT, env=dict(env, PORT=str(_free_port())),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self.lines, self._queue = [], queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def kill_job(self):
        """SIGKILL to the launcher and every process below it, at once (torchrun starts the
        training processes in sessions of their own, as a scheduler's cgroup kill would)."""
        for pid in [self.proc.pid] + _descendants(self.proc.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _descendants(pid):
    """The process ids below ``pid`` (from /proc)."""
    children = {}
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            try:
                with open(f'/proc/{entry}/stat') as f:
                    parent = int(f.read().rsplit(')', 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _checkpoint_iter(work_dir):
    last = work_dir / 'last_checkpoint'
    if not last.exists():
        return 0
    return load_checkpoint_file(last.read_text().strip())['meta']['iter']


def _take_records(work_dir, segment):
    """Move this segment's batch records aside: ``{rank: [record, ...]}``."""
    record_batches = load_script('tests/helpers/record_batches.py')
    records = {}
    for rank in (0, 1):
        path = work_dir / f'batches_rank{rank}.jsonl'
        records[rank] = record_batches.read_records(str(path))
        if path.exists():
            path.rename(work_dir / f'segment{segment}_rank{rank}.jsonl')
    return records


@pytest.mark.slow
@pytest.mark.parametrize('task', ['det', 'cls'])
def test_dist_train_killed_mid_epoch_resumes_exactly(dist_setup, tmp_path, task):
    """An epoch-based config in 2 processes (4 epochs of 4 iterations, a checkpoint every 2),
    the whole job killed twice with SIGKILL and resumed. Each kill comes at a random moment of
    the iteration after the one following a mid-epoch checkpoint (iteration 2, 6, 10 or 14),
    so that each resume starts inside an epoch. Summed over the runs up to the checkpoint each
    resume took, every rank trained exactly the batches of the uninterrupted run, in the same
    order, no iteration more (the interrupted epoch is not replayed), and the final weights are
    bitwise the uninterrupted run's (num_workers=0). Set EMO_MM_KILL_SEED to replay a
    schedule."""
    configs, env = dist_setup
    reference = DistTrainProcess(configs[task], tmp_path / 'reference', env)
    assert reference.finish() == 0, reference.output[-3000:]
    # DDP's gradient buckets have the layout of the gradients (emo_mm.engine.ddp)
    assert 'Grad strides do not match bucket view strides' not in reference.output
    expected = _take_records(tmp_path / 'reference', 0)
    total = len(expected[0])
    per_epoch = total // DIST_EPOCHS
    assert (total, per_epoch) == (16, 4) and len(expected[1]) == total
    assert [r['iter'] for r in expected[0]] == list(range(1, total + 1))

    seed = int(os.environ.get('EMO_MM_KILL_SEED', time.time_ns() % 2**32))
    rng = random.Random(seed)
    work_dir = tmp_path / 'killed'
    got = {0: [], 1: []}
    start, outputs = 0, []
    for segment in range(2):
        # a mid-epoch checkpoint t after the resume point, the kill after iteration t + 1's log
        # line: within DIST_DELAY, before checkpoint t + 2 can be written
        half = (segment * total // 2, (segment + 1) * total // 2)  # one kill in each half
        t = rng.choice([i for i in range(2, total - 1, per_epoch) if half[0] < i < half[1]])
        run = DistTrainProcess(configs[task], work_dir, env)
        epoch, batch = t // per_epoch + 1, t % per_epoch + 1
        assert run.wait_for(rf'Epoch\(train\)\s+\[{epoch}\]\[\s*{batch}/') is not None, \
            (seed, run.output[-3000:])
        time.sleep(rng.uniform(0, DIST_DELAY * 0.6))
        run.kill_job()
        run.proc.wait(60)
        run.finish()
        outputs.append(run.output)
        resumed_at = _checkpoint_iter(work_dir)
        assert resumed_at == t, (seed, resumed_at, t)
        records = _take_records(work_dir, segment)
        for rank in (0, 1):
            got[rank] += [r for r in records[rank] if start < r['iter'] <= resumed_at]
        start = resumed_at
    final = DistTrainProcess(configs[task], work_dir, env)
    assert final.finish() == 0, (seed, final.output[-3000:])
    outputs.append(final.output)
    for output in outputs[1:]:  # each resumed run skipped the trained part of its epoch
        assert re.search(r'Resuming epoch \d after batch 2/4: the batches up to it were trained',
                         output), seed
    records = _take_records(work_dir, 2)
    for rank in (0, 1):
        assert [r['iter'] for r in records[rank]] == list(range(start + 1, total + 1)), seed
        got[rank] += records[rank]
    assert got == expected, seed

    final_ckpt = f'iter_{total}.pth'
    weights = load_checkpoint_file(str(work_dir / final_ckpt))['state_dict']
    ref_weights = load_checkpoint_file(str(tmp_path / 'reference' / final_ckpt))['state_dict']
    assert _same_tensors(weights, ref_weights), seed
    assert not osp.exists(work_dir / f'iter_{total + 2}.pth')


def test_conv_weights_take_the_layout_of_their_gradients():
    """On CPU the backbones' 1x1 and depthwise conv weights get channels_last gradients (the
    elements in the same order as the contiguous layout): match_conv_grad_layout gives the
    weights those strides (DDP builds its buckets from them; with mismatched strides it warns
    on every run), leaving outputs and gradients bitwise unchanged."""
    from emo_mm.engine import match_conv_grad_layout
    from emo_mm.models import EMOv2

    def step(match):
        torch.manual_seed(0)
        model = EMOv2(arch='1m', drop_path_rate=0.1).train()
        restrided = match_conv_grad_layout(model) if match else 0
        torch.manual_seed(1)
        outs = model(torch.randn(2, 3, 64, 64))
        sum(out.sum() for out in outs).backward()
        grads = {n: p.grad for n, p in model.named_parameters()}
        mismatched = [n for n, p in model.named_parameters()
                      if p.dim() == 4 and p.shape[0] > 1 and p.grad.stride() != p.stride()]
        return restrided, outs, grads, mismatched

    _, outs, grads, mismatched = step(False)
    restrided, matched_outs, matched_grads, left = step(True)
    # which convs get channels_last gradients depends on oneDNN's kernels for the CPU: 16 (the
    # blocks' 15 depthwise convs and one of the stem) on a 2-core AMD EPYC (AVX2); the 1x1 convs
    # too on an Intel Xeon (AVX-512), more than 20 there
    assert len(mismatched) >= 16 and restrided >= len(mismatched) and left == []
    assert all(torch.equal(a, b) for a, b in zip(outs, matched_outs))
    assert _same_tensors(grads, matched_grads)


# --------------------------------------------------------------------------------------------
# ResumableBatchSampler: the stock batches, whatever the sampler, batch sampler and wrappers.
# --------------------------------------------------------------------------------------------
class SizedToyDataset(BaseDataset):
    """``n`` samples ``{'idx': offset + i, 'width', 'height'}`` (mixed aspect ratios)."""

    def __init__(self, n, offset):
        self.n, self.offset = n, offset
        super().__init__(ann_file='', serialize_data=False, pipeline=[])

    def load_data_list(self):
        return [dict(idx=self.offset + i, width=10 + i % 3, height=12 - i % 5)
                for i in range(self.n)]


@pytest.mark.parametrize('sampler, batch_sampler', [
    (dict(type='DefaultSampler', shuffle=True), None),
    (dict(type='DefaultSampler', shuffle=True), dict(type='mmdet.AspectRatioBatchSampler')),
    (dict(type='mmpretrain.RepeatAugSampler', num_repeats=2), None),
    (dict(type='InfiniteSampler', shuffle=True), None),
])
@pytest.mark.parametrize('workers', [0, 2])
def test_resumable_batches_are_the_stock_ones_and_skip_exactly(sampler, batch_sampler, workers):
    """Through ConcatDataset or RepeatDataset, with 0 or 2 workers, the wrapped dataloader
    forms the batches of the stock one in every epoch, and after skip(k) the next pass is the
    stock pass without its first k batches."""
    import itertools
    from mmengine.dataset import ConcatDataset, RepeatDataset
    from emo_mm.engine.loops import _resumable_dataloader_cfg
    if sampler['type'] == 'DefaultSampler':
        dataset = ConcatDataset([SizedToyDataset(7, 0), SizedToyDataset(5, 100)])
    else:
        dataset = RepeatDataset(SizedToyDataset(7, 0), times=2)
    cfg = dict(dataset=dataset, sampler=sampler, batch_size=3, num_workers=workers)
    if batch_sampler is not None:
        cfg['batch_sampler'] = batch_sampler
    ours = Runner.build_dataloader(_resumable_dataloader_cfg(cfg), seed=3)
    infinite = sampler['type'] == 'InfiniteSampler'

    def batches(loader, epoch):
        if not infinite:  # (InfiniteSampler: one stream, no epochs)
            (loader.batch_sampler or loader).sampler.set_epoch(epoch)
        return [b['idx'] for b in itertools.islice(loader, 12 if infinite else None)]

    for epoch in (0, 1):  # a new stock dataloader each time: an InfiniteSampler's stream ends
        expected = batches(Runner.build_dataloader(copy.deepcopy(cfg), seed=3), epoch)
        assert len(expected) >= 4
        if epoch == 0 or not infinite:
            assert batches(ours, epoch) == expected
    next(iter(ours), None)  # a pass left unfinished (an InfiniteSampler has ended by now)
    ours.batch_sampler.skip(2)
    assert batches(ours, 1)[:len(expected) - 2] == expected[2:]

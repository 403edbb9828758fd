"""Hooks for crash-safe and exactly resumable training.

:class:`CrashSafeCheckpointHook`, :class:`StepSeedHook` and :class:`FiniteLossHook` are registered
in mmengine's root ``HOOKS`` registry, which the registries of mmpretrain, mmdet and mmseg fall
back to: once :mod:`emo_mm` is imported, a config of any of the three frameworks names them by
type (this repository's configs do; :func:`emo_mm.engine.make_crash_safe` adds them to a config
of your own).
"""
import logging
import os.path as osp
import random
import signal
import threading
from typing import Callable, Optional, Sequence

import numpy as np
import torch
from mmengine.dist import all_reduce, get_world_size, is_main_process
from mmengine.fileio import LocalBackend, get_file_backend
from mmengine.hooks import CheckpointHook, Hook
from mmengine.logging import print_log
from mmengine.registry import HOOKS
from mmengine.runner import EpochBasedTrainLoop

from ..io import atomic_path, remove_stale_temporaries, write_text_atomic

__all__ = [
    'CrashSafeCheckpointHook', 'StepSeedHook', 'step_seed', 'FiniteLossHook', 'NonFiniteLossError'
]


@HOOKS.register_module()
class CrashSafeCheckpointHook(CheckpointHook):
    """mmengine's ``CheckpointHook`` that survives being killed, and saves on preemption.

    Takes every argument of ``CheckpointHook`` and behaves the same, except:

    * **atomic writes**: every checkpoint the runner saves while training (periodic, best,
      preemption) and the ``last_checkpoint`` file are written to a temporary file, fsynced and
      renamed (:func:`emo_mm.io.atomic_path`). A process killed at any moment leaves
      ``last_checkpoint`` naming a complete checkpoint. Temporary files of killed writes are
      removed when training starts. (Local folders only; other storage backends are written
      as mmengine does.)
    * **safe clean-up order**: with ``max_keep_ckpts``, outdated checkpoints are deleted only
      after the new one and ``last_checkpoint`` are written. mmengine deletes first, so a kill
      during the write can leave ``last_checkpoint`` naming a deleted file.
    * **preemption**: on one of ``exit_signals`` (``SIGTERM`` is what Slurm and other
      schedulers send before killing a job) the current iteration finishes, a resumable
      checkpoint is saved, ``last_checkpoint`` updated, and the process exits with status
      ``128 + signal`` (143 for SIGTERM). With several processes, all of them stop at the same
      iteration. ``--resume`` continues from there: an iteration-based run exactly, an
      epoch-based one restarts the interrupted epoch from its first batch with the weights
      reached so far.

    Args:
        exit_signals (Sequence[str]): Names of the signals that save and exit.
            Defaults to ``('SIGTERM', )``.
        **kwargs: The arguments of mmengine's ``CheckpointHook``.
    """

    def __init__(self, *args, exit_signals: Sequence[str] = ('SIGTERM', ), **kwargs):
        super().__init__(*args, **kwargs)
        unknown = [name for name in exit_signals if not hasattr(signal, str(name))]
        if unknown:
            raise ValueError(f'Unknown exit_signals {unknown}; use names such as "SIGTERM", '
                             '"SIGUSR1"')
        self.exit_signals = [getattr(signal, name) for name in exit_signals]
        self._received: Optional[int] = None
        self._previous_handlers: dict = {}
        self._saved_iter: Optional[int] = None

    # ------------------------------------------------------------------ hook points
    def before_train(self, runner) -> None:
        super().before_train(runner)
        if self._local and is_main_process():
            for folder in {self.out_dir, runner.work_dir}:
                for path in remove_stale_temporaries(folder):
                    runner.logger.info(f'Removed {path}, left by a write that was interrupted.')
        self._make_saves_atomic(runner)
        self._install_signal_handlers(runner)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        super().after_train_iter(runner, batch_idx, data_batch, outputs)
        if self._stop_requested():
            # the state after this iteration: ``runner.iter`` counts it only afterwards
            self._save_and_exit(runner, runner.iter + 1, mid_epoch=True)

    def after_val_epoch(self, runner, metrics) -> None:
        super().after_val_epoch(runner, metrics)
        if self._previous_handlers and self._stop_requested():  # validation inside training
            self._save_and_exit(runner, runner.iter, mid_epoch=False)

    def after_train(self, runner) -> None:
        super().after_train(runner)
        self._restore_signal_handlers()
        if getattr(runner.__dict__.get('save_checkpoint'), '_emo_mm_atomic', False):
            del runner.save_checkpoint

    # ------------------------------------------------------------------ saving
    @property
    def _local(self) -> bool:
        return self.file_client_args is None and isinstance(self.file_backend, LocalBackend)

    def _make_saves_atomic(self, runner) -> None:
        """Make ``runner.save_checkpoint`` write through :func:`atomic_path` (this runner only,
        until training ends): it also covers the best checkpoints the parent class saves."""
        save = runner.save_checkpoint
        if getattr(save, '_emo_mm_atomic', False):
            return

        def save_checkpoint(out_dir, filename, file_client_args=None, *args, **kwargs):
            backend = get_file_backend(out_dir, backend_args=kwargs.get('backend_args'))
            if (file_client_args is not None or not isinstance(backend, LocalBackend)
                    or not is_main_process()):  # only the main process writes
                return save(out_dir, filename, file_client_args, *args, **kwargs)
            with atomic_path(osp.join(out_dir, filename)) as tmp:
                tmp_name = osp.join(osp.dirname(filename), osp.basename(tmp))
                return save(out_dir, tmp_name, None, *args, **kwargs)

        save_checkpoint._emo_mm_atomic = True
        runner.save_checkpoint = save_checkpoint

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        # mmengine 0.10.7's method with the clean-up moved after the writes (see the class doc).
        outdated = []
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids
                                            and self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                outdated.append(self.keep_ckpt_ids.popleft())
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))
        self._write_checkpoint(runner, self.filename_tmpl.format(step), meta)
        if is_main_process():
            for old in outdated:
                path = self.file_backend.join_path(self.out_dir, self.filename_tmpl.format(old))
                if self.file_backend.isfile(path):
                    self.file_backend.remove(path)
                elif self.file_backend.isdir(path):  # deepspeed checkpoints are folders
                    self.file_backend.rmtree(path)

    def _write_checkpoint(self, runner, filename: str, meta: dict) -> None:
        """Save ``filename`` in ``out_dir``, then point ``last_checkpoint`` at it."""
        self.last_ckpt = self.file_backend.join_path(self.out_dir, filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(
            self.out_dir,
            filename,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args)
        self._saved_iter = meta['iter']
        if is_main_process():
            write_text_atomic(osp.join(runner.work_dir, 'last_checkpoint'), self.last_ckpt)

    # ------------------------------------------------------------------ preemption
    def _install_signal_handlers(self, runner) -> None:
        if threading.current_thread() is not threading.main_thread():
            runner.logger.warning('Training runs outside the main thread: no signal handlers '
                                  f'for {[signal.Signals(s).name for s in self.exit_signals]}.')
            return
        for signum in self.exit_signals:
            self._previous_handlers[signum] = signal.signal(signum, self._on_signal)

    def _restore_signal_handlers(self) -> None:
        for signum, handler in self._previous_handlers.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        self._previous_handlers = {}

    def _on_signal(self, signum, frame) -> None:
        self._received = signum
        print_log(f'Received {signal.Signals(signum).name}: saving a checkpoint after the '
                  'current iteration, then exiting.', logger='current', level=logging.WARNING)

    def _stop_requested(self) -> bool:
        stop = self._received is not None
        if get_world_size() > 1:  # every process stops at the same iteration
            flag = torch.tensor([float(stop)])
            all_reduce(flag)
            stop = bool(flag.item() > 0)
        return stop

    def _save_and_exit(self, runner, iteration: int, mid_epoch: bool) -> None:
        """Save the state reached after ``iteration`` iterations (if not saved yet), exit."""
        if self._saved_iter != iteration:
            if not self.by_epoch:
                self._save_checkpoint_with_step(runner, iteration,
                                                dict(epoch=runner.epoch, iter=iteration))
            elif mid_epoch:  # not an epoch checkpoint: resuming restarts this epoch
                self._write_checkpoint(runner, f'iter_{iteration}.pth',
                                       dict(epoch=runner.epoch, iter=iteration))
            else:
                self._save_checkpoint_with_step(runner, runner.epoch,
                                                dict(epoch=runner.epoch, iter=iteration))
        signum = self._received or self.exit_signals[0]
        runner.logger.warning(f'Stopped by {signal.Signals(signum).name} after iteration '
                              f'{iteration}; resume with --resume (checkpoint {self.last_ckpt}).')
        self._restore_signal_handlers()
        raise SystemExit(128 + signum)


def step_seed(seed: int, step: int) -> int:
    """The seed of training step ``step`` of a run seeded with ``seed`` (a 64-bit int)."""
    words = np.random.SeedSequence([int(seed) % 2**32, int(step)]).generate_state(2)
    return int(words[0]) << 32 | int(words[1])


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also every CUDA device


class _ReseedingIterator:
    """Calls ``reseed()`` before every batch that ``iterator`` yields."""

    def __init__(self, iterator, reseed: Callable[[], None]):
        self._iterator = iterator
        self._reseed = reseed

    def __iter__(self):
        return self

    def __next__(self):
        self._reseed()
        return next(self._iterator)

    def __getattr__(self, name):
        return getattr(self._iterator, name)


@HOOKS.register_module()
class StepSeedHook(Hook):
    """Re-seed ``random``, numpy and torch from (seed, iteration) before each training batch.

    Random data augmentation (in the main process) and random layers (drop path, dropout) then
    draw numbers that depend only on the run's seed and the iteration, not on what ran before,
    so a run resumed from the checkpoint of iteration ``k`` continues exactly like the
    uninterrupted run (bitwise on CPU). mmengine restores the weights, optimizer, schedulers and
    the data order (the sampler is seeded, and an iteration-based loop re-reads the seen
    batches), but not the random state: the state saved with a checkpoint would not help
    either, since validation and re-reading the seen batches consume random numbers.

    The seed is the runner's (``randomness.seed``, or the one mmengine picked and stored in the
    checkpoint; with ``diff_rank_seed`` it differs per process). Data workers
    (``num_workers > 0``) are seeded by mmengine itself and are deterministic already.

    Iteration-based loops are re-seeded right before each batch is fetched; epoch-based loops
    at the start of each epoch and after each iteration.
    """
    priority = 'LOWEST'  # after every other after_train_iter: nothing draws after the re-seed

    def __init__(self):
        self._per_fetch = False

    def _reseed(self, runner, step: int) -> None:
        _seed_everything(step_seed(runner.seed, step))

    def before_train(self, runner) -> None:
        loop = runner.train_loop
        self._per_fetch = hasattr(loop, 'dataloader_iterator')  # IterBasedTrainLoop
        if self._per_fetch and not isinstance(loop.dataloader_iterator, _ReseedingIterator):
            loop.dataloader_iterator = _ReseedingIterator(
                loop.dataloader_iterator, lambda: self._reseed(runner, loop.iter))

    def before_train_epoch(self, runner) -> None:
        if not self._per_fetch:
            self._reseed(runner, runner.iter)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if not self._per_fetch:
            self._reseed(runner, runner.iter + 1)


class NonFiniteLossError(RuntimeError):
    """Training stopped because a loss became NaN or infinite (:class:`FiniteLossHook`)."""


def _loss_terms(outputs) -> dict:
    """The loss terms of ``train_step``'s outputs (``{'loss': ..., 'loss_cls': ...}``) as
    floats."""
    terms = {}
    for name, value in (outputs or {}).items():
        if 'loss' not in name:
            continue
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            terms[name] = float(value.detach())
        elif isinstance(value, (int, float)):
            terms[name] = float(value)
    return terms


@HOOKS.register_module()
class FiniteLossHook(Hook):
    """Stop training at the first iteration whose loss is NaN or infinite.

    Checks the loss terms that ``train_step`` returns (``loss``, ``loss_cls``, ...) after every
    ``interval`` iterations, before any checkpoint of that iteration is written (the weights
    were updated from the invalid loss already): the run raises :class:`NonFiniteLossError`
    naming the iteration, the epoch and batch, every loss term and the last checkpoint, which
    stays the one ``--resume`` takes. With several processes every one of them stops at the
    same iteration, whichever saw the invalid loss. mmdet's ``CheckInvalidLossHook`` does the
    check for mmdet only, with neither the iteration nor the terms in its message; this one
    serves mmpretrain, mmdet and mmseg configs alike.

    Args:
        interval (int): Check every ``interval`` iterations. Defaults to 1.
    """
    priority = 'ABOVE_NORMAL'  # before the checkpoint (VERY_LOW) and logger hooks

    def __init__(self, interval: int = 1):
        if interval < 1:
            raise ValueError(f'interval must be >= 1, got {interval}')
        self.interval = interval

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if not self.every_n_train_iters(runner, self.interval):
            return
        terms = _loss_terms(outputs)
        bad = [name for name, value in terms.items() if not np.isfinite(value)]
        flag = float(bool(bad))
        if get_world_size() > 1:  # every process stops at the same iteration
            total = torch.tensor([flag])
            all_reduce(total)
            flag = float(total.item())
        if not flag:
            return
        values = ', '.join(f'{name}={value:.4g}' for name, value in terms.items())
        where = f'iteration {runner.iter + 1}'
        if isinstance(runner.train_loop, EpochBasedTrainLoop):
            where += f' (epoch {runner.epoch + 1}, batch {batch_idx + 1})'
        seen = (f'{", ".join(bad)} not finite: {values}' if bad else
                'a loss was not finite in another process')
        last = runner.message_hub.get_info('last_ckpt')
        resume = (f'the last good checkpoint is {last} (--resume takes it)' if last else
                  'no checkpoint was saved before it')
        raise NonFiniteLossError(
            f'Training stopped at {where}: {seen}; {resume}. Lower the learning rate, add '
            'gradient clipping (optim_wrapper.clip_grad) or check the data of this batch.')

"""Training loops that resume exactly without re-reading data, and name damaged samples.

mmengine's ``EpochBasedTrainLoop`` resumed from an iteration checkpoint (a preemption save, or
``CheckpointHook(by_epoch=False)``) restores the weights, the optimizer, the schedulers and the
iteration count, then runs the interrupted epoch again from its first batch: up to a whole epoch
is trained twice, the run ends past its planned iteration count and an iteration-based LR
schedule runs past its end. :class:`ResumableEpochBasedTrainLoop` instead continues with the
next batch of the same epoch order, on every rank, and ends at exactly the planned iteration.

How: the loop wraps the train dataloader's batch sampler (the plain batching of
``batch_size``, or the config's own ``batch_sampler`` such as mmdet's
``AspectRatioBatchSampler``) in :class:`ResumableBatchSampler`, records in the runner's
message hub how many batches of the current epoch are done (saved with every checkpoint), and
on resume has the batch sampler skip those batches. Skipping walks the sampler's index order
only: no skipped sample is loaded. The batches, and so the data order, are exactly those of
the unwrapped dataloader.

:class:`ResumableIterBasedTrainLoop` does the same for iteration-based runs, where mmengine
resumes exactly but first loads every batch trained so far again (on a 160k-iteration ADE20K
run resumed at 80k: 80k batches decoded and thrown away).

Both loops also wrap each training dataset's pipeline so that a sample whose file is damaged
(empty, truncated, undecodable) stops the run with :class:`~emo_mm.io.inputs.DamagedInputError`
naming the dataset and the file, or, with ``skip_bad_images=True``, is logged and replaced by
another sample (mmengine's refetch of a sample whose pipeline returned None).

Turned on by the training config (this repository's configs do)::

    train_cfg = dict(type='ResumableEpochBasedTrainLoop', max_epochs=12, val_interval=1)
    train_cfg = dict(type='ResumableIterBasedTrainLoop', max_iters=80000, val_interval=8000)

Both classes are registered in mmengine's root registries (``LOOPS``, ``DATA_SAMPLERS``),
which the registries of mmpretrain, mmdet and mmseg fall back to, once :mod:`emo_mm` is
imported (``custom_imports=dict(imports=['emo_mm'])`` in the config).
"""
import contextlib
import copy
import logging
import random
from typing import Iterator, List, Optional, Union

import numpy as np
import torch
from mmengine.dataset import InfiniteSampler
from mmengine.logging import print_log
from mmengine.registry import DATA_SAMPLERS, LOOPS
from mmengine.runner import EpochBasedTrainLoop, IterBasedTrainLoop
from torch.utils.data import BatchSampler, DataLoader, Sampler

from ..io.inputs import DamagedInputError, check_image_file

__all__ = [
    'ResumableBatchSampler', 'ResumableEpochBasedTrainLoop', 'ResumableIterBasedTrainLoop',
    'EPOCH_PROGRESS_KEY', 'name_damaged_samples'
]

#: Message-hub runtime-info key: ``[epoch, batches done in that epoch]``.
EPOCH_PROGRESS_KEY = 'train_epoch_progress'


@DATA_SAMPLERS.register_module()
class ResumableBatchSampler(Sampler):
    """A batch sampler that can skip the first batches of its next pass.

    Yields the batches of ``batch_sampler`` (a config, built with ``sampler`` and
    ``batch_size``) or, without one, of ``torch.utils.data.BatchSampler(sampler, batch_size,
    drop_last)``: what a ``DataLoader`` with ``sampler`` and ``batch_size`` would form.

    Args:
        sampler (Sampler): The index sampler (mmengine passes the dataloader's).
        batch_size (int): The batch size (mmengine passes the dataloader's).
        batch_sampler (dict, optional): The batch sampler to wrap, e.g.
            ``dict(type='AspectRatioBatchSampler')``. Defaults to None.
        drop_last (bool): Drop the last incomplete batch (without ``batch_sampler`` only).
            Defaults to False.
    """

    def __init__(self, sampler: Sampler, batch_size: int, batch_sampler: Optional[dict] = None,
                 drop_last: bool = False):
        if batch_sampler is not None and not isinstance(batch_sampler, dict):
            raise TypeError('batch_sampler must be a config dict or None, got '
                            f'{type(batch_sampler).__name__}')
        self._args = (sampler, batch_size, copy.deepcopy(batch_sampler), drop_last)
        self.batch_sampler = self._build()
        self._skip = 0

    def _build(self):
        sampler, batch_size, batch_sampler, drop_last = self._args
        if batch_sampler is None:
            return BatchSampler(sampler, batch_size, drop_last)
        return DATA_SAMPLERS.build(
            copy.deepcopy(batch_sampler), default_args=dict(sampler=sampler,
                                                            batch_size=batch_size))

    @property
    def sampler(self) -> Sampler:
        """The index sampler (``DistSamplerSeedHook`` sets its epoch)."""
        return self.batch_sampler.sampler

    @property
    def batch_size(self) -> int:
        return self.batch_sampler.batch_size

    def skip(self, batches: int) -> None:
        """Leave out the first ``batches`` batches of the next pass (that pass only).

        The next pass starts from a new batch sampler built from the same config: one that
        keeps state between its batches (mmdet's ``AspectRatioBatchSampler`` keeps the
        samples of unfinished batches) then holds nothing of a pass left unfinished. An
        mmengine ``InfiniteSampler`` (one index stream for the whole run, which a pass left
        unfinished closes) is replaced by a new one with the same seed: the next pass starts
        at the beginning of the same stream.
        """
        if batches < 0:
            raise ValueError(f'cannot skip {batches} batches')
        sampler = self._args[0]
        if isinstance(sampler, InfiniteSampler):  # its one index stream never restarts
            self._args = (InfiniteSampler(sampler.dataset, shuffle=sampler.shuffle,
                                          seed=sampler.seed), ) + self._args[1:]
        self.batch_sampler = self._build()
        self._skip = int(batches)

    def __iter__(self) -> Iterator[List[int]]:
        skip, self._skip = self._skip, 0
        batches = iter(self.batch_sampler)
        for _ in range(skip):
            if next(batches, None) is None:
                return
        yield from batches

    def __len__(self) -> int:
        return len(self.batch_sampler)


@contextlib.contextmanager
def _kept_random_state():
    """Restore the global ``random``, numpy and torch (CPU) random states on exit."""
    states = random.getstate(), np.random.get_state(), torch.get_rng_state()
    try:
        yield
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.set_rng_state(states[2])


def _resumable_dataloader_cfg(cfg: dict) -> dict:
    """``cfg`` with its batch sampler (or plain batching) wrapped in ResumableBatchSampler."""
    cfg = copy.deepcopy(cfg)
    inner = cfg.pop('batch_sampler', None)
    if isinstance(inner, dict) and inner.get('type') in ('ResumableBatchSampler',
                                                         ResumableBatchSampler):
        cfg['batch_sampler'] = inner
        return cfg
    cfg['batch_sampler'] = dict(type='ResumableBatchSampler', batch_sampler=inner)
    if inner is None:  # DataLoader refuses drop_last next to a batch sampler
        cfg['batch_sampler']['drop_last'] = cfg.pop('drop_last', False)
    return cfg


#: The fields of a sample's data info that name its files.
_FILE_KEYS = ('img_path', 'seg_map_path')


class _NamedErrorsPipeline:
    """A dataset pipeline whose failures on damaged files name the dataset and the file."""

    def __init__(self, pipeline, dataset_name: str, skip: bool):
        self.pipeline = pipeline
        self.dataset_name = dataset_name
        self.skip = skip

    def __call__(self, results):
        files = [results.get(key) for key in _FILE_KEYS] if isinstance(results, dict) else []
        try:
            return self.pipeline(results)
        except DamagedInputError:
            raise
        except Exception as error:
            cause = _damaged_file(files)
            if cause is None:  # the files are fine: not a data problem
                raise
            message = f'{self.dataset_name}: {cause}'
            if not self.skip:
                raise DamagedInputError(message) from error
            print_log(f'Skipped a damaged sample (skip_bad_images=True): {message}',
                      logger='current', level=logging.WARNING)
            return None  # the dataset fetches another sample

    def __getattr__(self, name):
        return getattr(self.__dict__['pipeline'], name)

    def __repr__(self) -> str:
        return repr(self.pipeline)


def _damaged_file(files) -> Optional[str]:
    for path in files:
        if isinstance(path, str) and '://' not in path:
            try:
                check_image_file(path)
            except (DamagedInputError, FileNotFoundError) as error:
                return str(error)
    return None


def _leaf_datasets(dataset):
    if hasattr(dataset, 'datasets'):  # ConcatDataset
        for child in dataset.datasets:
            yield from _leaf_datasets(child)
    elif hasattr(dataset, 'dataset'):  # RepeatDataset, ClassBalancedDataset
        yield from _leaf_datasets(dataset.dataset)
    else:
        yield dataset


def name_damaged_samples(dataset, skip: bool = False) -> int:
    """Make every leaf dataset of ``dataset`` (through dataset wrappers) raise
    :class:`~emo_mm.io.inputs.DamagedInputError` naming itself and the file when a sample's
    image or segmentation map is damaged (or, with ``skip``, log it and take another sample).
    Failures of intact files are raised as they are. Returns the number of datasets wrapped."""
    wrapped = 0
    for leaf in _leaf_datasets(dataset):
        pipeline = getattr(leaf, 'pipeline', None)
        if pipeline is None or isinstance(pipeline, _NamedErrorsPipeline):
            continue
        source = getattr(leaf, 'ann_file', '') or getattr(leaf, 'data_root', '')
        name = f'{type(leaf).__name__}({source})' if source else type(leaf).__name__
        leaf.pipeline = _NamedErrorsPipeline(pipeline, name, skip)
        wrapped += 1
    return wrapped


def _build_train_dataloader(runner, dataloader: Union[DataLoader, dict],
                            skip_bad_images: bool) -> DataLoader:
    """Build the dataloader as mmengine's ``BaseLoop`` does, with a ResumableBatchSampler,
    and name damaged samples (before any data worker starts)."""
    if isinstance(dataloader, dict):
        diff_rank_seed = runner._randomness_cfg.get('diff_rank_seed', False)
        dataloader = runner.build_dataloader(
            _resumable_dataloader_cfg(dataloader), seed=runner.seed,
            diff_rank_seed=diff_rank_seed)
    else:
        print_log('The train loop got a built DataLoader: a resumed run re-reads or repeats '
                  'the batches trained before the interruption.', logger='current')
    name_damaged_samples(dataloader.dataset, skip_bad_images)
    return dataloader


class _ResumableData:
    """What both loops add to mmengine's at construction: the train dataloader built with a
    :class:`ResumableBatchSampler`, damaged samples named (:func:`name_damaged_samples`).

    Args:
        runner, dataloader, *args, **kwargs: Those of mmengine's loop.
        skip_bad_images (bool): Log and replace a sample whose file is damaged instead of
            stopping. Defaults to False.
    """

    def __init__(self, runner, dataloader: Union[DataLoader, dict], *args,
                 skip_bad_images: bool = False, **kwargs):
        dataloader = _build_train_dataloader(runner, dataloader, skip_bad_images)
        super().__init__(runner, dataloader, *args, **kwargs)


@LOOPS.register_module()
class ResumableEpochBasedTrainLoop(_ResumableData, EpochBasedTrainLoop):
    """mmengine's ``EpochBasedTrainLoop`` that resumes in the middle of an epoch exactly.

    Takes the arguments of ``EpochBasedTrainLoop``. Resumed from a checkpoint saved after
    ``k`` batches of epoch ``e`` (on any rank count, with any ``num_workers``), the first
    epoch run skips those ``k`` batches of epoch ``e``'s order and goes on with batch ``k``;
    the run ends at exactly ``max_epochs * len(dataloader)`` iterations. With the
    :class:`~emo_mm.engine.StepSeedHook` and ``num_workers=0`` the resumed run is bitwise the
    uninterrupted one (random augmentation in data workers is seeded per worker by mmengine,
    not per sample, so with ``num_workers > 0`` the same samples come in the same batches, but
    their augmentation may differ).

    A checkpoint without the progress record (written by mmengine's loop) resumes at batch
    ``iter - epoch * len(dataloader)`` of its epoch when that lies inside the epoch.

    Args: those of mmengine's ``EpochBasedTrainLoop`` and ``skip_bad_images``
    (:class:`_ResumableData`).
    """

    def _batches_done(self) -> int:
        """Batches of the current epoch that the loaded checkpoint had trained."""
        epoch, done = self.runner.message_hub.get_info(EPOCH_PROGRESS_KEY, (None, 0))
        if epoch != self._epoch:  # no record of this epoch: infer it from the counters
            done = self._iter - self._epoch * len(self.dataloader)
            if not 0 < done < len(self.dataloader):
                done = 0
        return int(done)

    def run_epoch(self) -> None:
        """Iterate one epoch, from the batch reached if the run was resumed inside it."""
        self.runner.call_hook('before_train_epoch')
        self.runner.model.train()
        done = self._batches_done()
        if done and isinstance(self.dataloader.batch_sampler, ResumableBatchSampler):
            self.runner.logger.info(f'Resuming epoch {self._epoch + 1} after batch {done}/'
                                    f'{len(self.dataloader)}: the batches up to it were '
                                    'trained before the interruption and are skipped')
            self.dataloader.batch_sampler.skip(done)
            # A new dataloader iterator draws its base seed from the global generator; the
            # uninterrupted run drew it at the start of the epoch, not before batch ``done``.
            with _kept_random_state():
                batches = iter(self.dataloader)
        else:
            done = 0
            batches = iter(self.dataloader)
        self.runner.message_hub.update_info(EPOCH_PROGRESS_KEY, [self._epoch, done])
        for idx, data_batch in enumerate(batches, start=done):
            self.run_iter(idx, data_batch)
        self.runner.call_hook('after_train_epoch')
        self._epoch += 1
        self.runner.message_hub.update_info(EPOCH_PROGRESS_KEY, [self._epoch, 0])

    def run_iter(self, idx: int, data_batch) -> None:
        # recorded first: a checkpoint saved after this iteration counts it
        self.runner.message_hub.update_info(EPOCH_PROGRESS_KEY, [self._epoch, idx + 1])
        super().run_iter(idx, data_batch)


class _AdvanceWithoutLoading:
    """An iterator whose first ``count`` ``next()`` calls return None without fetching: what
    mmengine's ``IterBasedTrainLoop.run`` calls to advance past the trained batches, once the
    batch sampler skips them instead. ``prepare()`` runs at the first call (after the
    ``before_train_epoch`` hooks, which set the sampler's epoch)."""

    def __init__(self, iterator, count: int, prepare):
        self._iterator = iterator
        self._count = count
        self._prepare = prepare

    def __iter__(self):
        return self

    def __next__(self):
        if self._prepare is not None:
            self._prepare, prepare = None, self._prepare
            prepare()
        if self._count > 0:
            self._count -= 1
            return None
        return next(self._iterator)

    def __getattr__(self, name):
        return getattr(self.__dict__['_iterator'], name)


@LOOPS.register_module()
class ResumableIterBasedTrainLoop(_ResumableData, IterBasedTrainLoop):
    """mmengine's ``IterBasedTrainLoop`` that resumes without loading the trained batches.

    mmengine's loop resumed at iteration ``k`` fetches ``k`` batches (every sample decoded and
    augmented) and throws them away to reach the data position; this one has the batch sampler
    skip them, walking indices only. The batches after the resume point are the same, and with
    :class:`~emo_mm.engine.StepSeedHook` (which seeds each fetch) the run continues bitwise like
    the uninterrupted one, as mmengine's does.

    Args: those of mmengine's ``IterBasedTrainLoop`` and ``skip_bad_images``
    (:class:`_ResumableData`).
    """

    def _seek(self, iterator) -> None:
        """Point ``iterator`` (mmengine's ``_InfiniteDataloaderIterator``) at batch
        ``self._iter`` of the data order."""
        batch_sampler = self.dataloader.batch_sampler
        if isinstance(batch_sampler.sampler, InfiniteSampler):
            passes, done = 0, self._iter
        else:  # mmengine restarts a finite sampler with the next epoch
            passes, done = divmod(self._iter, len(self.dataloader))
            if passes and not done:
                # at a pass boundary: an exhausted pass, so that the next fetch restarts the
                # loader as in the uninterrupted run (the new iterator draws its base seed
                # from the global generator after StepSeedHook's re-seed, as there)
                passes, done = passes - 1, len(self.dataloader)
            if hasattr(batch_sampler.sampler, 'set_epoch'):
                batch_sampler.sampler.set_epoch(passes)
        iterator._epoch = passes
        batch_sampler.skip(done)
        with _kept_random_state():
            iterator._iterator = iter(self.dataloader)
        self.runner.logger.info(f'Resuming at iteration {self._iter + 1}: the sampler skips the '
                                f'{self._iter} trained batches (none of them is loaded)')

    def run(self):
        if self._iter > 0 and isinstance(self.dataloader.batch_sampler, ResumableBatchSampler):
            iterator = self.dataloader_iterator
            self.dataloader_iterator = _AdvanceWithoutLoading(
                iterator, self._iter, lambda: self._seek(iterator))
        return super().run()

"""Training reliability: crash-safe checkpoints, exact resumption, checks before a run starts.

* :class:`CrashSafeCheckpointHook`: atomic checkpoint + ``last_checkpoint`` writes, and a
  resumable checkpoint on SIGTERM (preemption);
* :class:`StepSeedHook`: random numbers that depend only on (seed, iteration), so that a
  resumed run continues exactly like an uninterrupted one;
* :class:`ResumableEpochBasedTrainLoop` / :class:`ResumableIterBasedTrainLoop`: a resumed run
  continues with the next batch of the same data order (mid-epoch too), without loading the
  trained batches again; a damaged image stops the run naming the dataset and the file;
* :class:`FiniteLossHook`: a NaN / Inf loss stops the run, naming the iteration and the terms;
* :func:`crash_safety_gaps` / :func:`make_crash_safe`: what a config leaves out / turn it all
  on in a config of your own (this repository's configs turn it on explicitly);
* :class:`CPUDistributedDataParallel`: DDP on CPU with gradient buckets in the layout of the
  channels_last gradients;
* :func:`check_dataset_files`: a missing dataset path fails before the run, naming the config
  key and the file.

Importing this package registers the hooks, the loop and its batch sampler (in mmengine's root
registries). See
``docs/failure_modes.md``.
"""
from .ddp import CPUDistributedDataParallel, match_conv_grad_layout
from .hooks import (CrashSafeCheckpointHook, FiniteLossHook, NonFiniteLossError, StepSeedHook,
                    step_seed)
from .loops import (ResumableBatchSampler, ResumableEpochBasedTrainLoop,
                    ResumableIterBasedTrainLoop, name_damaged_samples)
from .preflight import check_dataset_files, crash_safety_gaps, dataset_paths, make_crash_safe

__all__ = [
    'CrashSafeCheckpointHook', 'StepSeedHook', 'step_seed', 'FiniteLossHook',
    'NonFiniteLossError', 'ResumableBatchSampler', 'ResumableEpochBasedTrainLoop',
    'ResumableIterBasedTrainLoop', 'name_damaged_samples',
    'make_crash_safe', 'crash_safety_gaps', 'check_dataset_files', 'dataset_paths',
    'CPUDistributedDataParallel', 'match_conv_grad_layout'
]

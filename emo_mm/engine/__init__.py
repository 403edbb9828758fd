"""Training reliability: crash-safe checkpoints, exact resumption, checks before a run starts.

* :class:`CrashSafeCheckpointHook`: atomic checkpoint + ``last_checkpoint`` writes, and a
  resumable checkpoint on SIGTERM (preemption);
* :class:`StepSeedHook`: random numbers that depend only on (seed, iteration), so that a
  resumed run continues exactly like an uninterrupted one;
* :func:`make_crash_safe`: puts both into a training config;
* :func:`check_dataset_files`: a missing dataset path fails before the run, naming the config
  key and the file.

Importing this package registers the hooks (in mmengine's root registry). See
``docs/failure_modes.md``.
"""
from .hooks import CrashSafeCheckpointHook, StepSeedHook, step_seed
from .preflight import check_dataset_files, dataset_paths, make_crash_safe

__all__ = [
    'CrashSafeCheckpointHook', 'StepSeedHook', 'step_seed', 'make_crash_safe',
    'check_dataset_files', 'dataset_paths'
]

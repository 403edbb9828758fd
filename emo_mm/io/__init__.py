"""Checkpoint files: safe (weights-only) loading and atomic writes; input files that cannot be
used (:mod:`.inputs`).

Imports nothing of emo_mm outside this package, so that any module may use it.
"""
from .atomic import (TEMPORARY_FILE, atomic_path, remove_stale_temporaries, save_checkpoint_atomic,
                     write_text_atomic)
from .inputs import (DamagedInputError, check_image_file, check_json_file, input_error_cause,
                     json_shape_problem)
from .safe_load import (CHECKPOINT_SAFE_GLOBALS, TRUST_ENV, CheckpointError, UnsafeCheckpointError,
                        allow_listed, checkpoint_loading, is_trusted, load_checkpoint_file,
                        sanitize_checkpoint, trust_checkpoints)

__all__ = [
    'DamagedInputError', 'check_image_file', 'check_json_file', 'input_error_cause',
    'json_shape_problem', 'CHECKPOINT_SAFE_GLOBALS', 'TEMPORARY_FILE', 'TRUST_ENV', 'CheckpointError',
    'UnsafeCheckpointError', 'allow_listed', 'atomic_path', 'checkpoint_loading', 'is_trusted',
    'load_checkpoint_file', 'remove_stale_temporaries', 'sanitize_checkpoint',
    'save_checkpoint_atomic', 'trust_checkpoints', 'write_text_atomic'
]

"""A hook for the resume tests: each process appends the samples of every training batch it ran
to ``<work_dir>/batches_rank<R>.jsonl``, one line ``{"iter": i, "epoch": e, "samples": [...]}``
per iteration (``i`` counts from 1, samples are image file names). Imported by test configs
through ``custom_imports`` with ``tests/helpers`` on ``PYTHONPATH``."""
import json
import os
import os.path as osp
import time

from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.registry import HOOKS


def _sample_name(sample) -> str:
    meta = getattr(sample, 'metainfo', None) or (sample if isinstance(sample, dict) else {})
    return osp.basename(str(meta.get('img_path')))


@HOOKS.register_module(force=True)  # also loaded by the tests, for read_records
class RecordBatchesHook(Hook):
    """Writes, flushed and fsynced, the samples of each training batch of this process, then
    waits ``delay`` seconds (a slower iteration, so that a test can kill the job between two
    checkpoints)."""
    priority = 'HIGHEST'  # before any checkpoint of the iteration

    def __init__(self, delay: float = 0.0):
        self.delay = delay

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        samples = data_batch['data_samples'] if isinstance(data_batch, dict) else data_batch
        record = dict(iter=runner.iter + 1, epoch=runner.epoch,
                      samples=[_sample_name(s) for s in samples])
        path = osp.join(runner.work_dir, f'batches_rank{get_rank()}.jsonl')
        with open(path, 'a') as f:
            f.write(json.dumps(record) + '\n')
            f.flush()
            os.fsync(f.fileno())
        time.sleep(self.delay)


def read_records(path: str) -> list:
    """The records of one ``batches_rank<R>.jsonl`` file (a line cut by a kill is dropped)."""
    records = []
    if not osp.exists(path):
        return records
    with open(path) as f:
        for line in f:
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                pass
    return records

"""What the demo reads back from the tools' runs: the last checkpoint, the training losses and
the test metrics, from the files mmengine writes into a work dir."""
import glob
import json
import os.path as osp
from typing import List


def _latest(pattern: str) -> str:
    paths = sorted(glob.glob(pattern), key=osp.getmtime)
    if not paths:
        raise FileNotFoundError(f'nothing matches {pattern}')
    return paths[-1]


def last_checkpoint(work_dir: str, cwd: str) -> str:
    """The checkpoint written last by a training run (mmengine's ``last_checkpoint`` file; a
    relative path in it is relative to the training run's working folder ``cwd``)."""
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        path = f.read().strip()
    return path if osp.isabs(path) else osp.join(cwd, path)


def train_losses(work_dir: str) -> List[float]:
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

"""What machine a run happened on: the facts that reports (benchmark, demo) print next to numbers."""
import os
import platform
from typing import Optional

__all__ = ['cpu_name', 'describe_machine', 'load_average', 'machine_info']

_PACKAGES = ('mmengine', 'mmpretrain', 'mmdet', 'mmseg', 'onnxruntime')


def cpu_name() -> str:
    """The CPU model (``model name`` of ``/proc/cpuinfo``), else what :mod:`platform` knows."""
    try:
        with open('/proc/cpuinfo') as f:
            return next(line.split(':', 1)[1].strip() for line in f if line.startswith('model name'))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def machine_info(device: Optional[str] = None) -> dict:
    """CPU, core count, torch threads, Python / torch / OpenMMLab versions and, for a CUDA
    ``device``, the GPU name.

    Example:
        >>> info = machine_info('cpu')
        >>> sorted(k for k in info if k in ('cpu', 'logical_cpus', 'threads', 'torch'))
        ['cpu', 'logical_cpus', 'threads', 'torch']
    """
    import torch
    info = dict(cpu=cpu_name(), logical_cpus=os.cpu_count(), python=platform.python_version(),
                torch=torch.__version__, threads=torch.get_num_threads())
    if device is not None:
        info['device'] = device
        if device.startswith('cuda'):
            info['gpu'] = torch.cuda.get_device_name(torch.device(device))
    if torch.cuda.is_available():
        info['gpus'] = torch.cuda.device_count()
    for package in _PACKAGES:
        try:
            info[package] = __import__(package).__version__
        except ImportError:
            pass
    return info


def load_average() -> str:
    """The 1-minute load average, ``'n/a'`` where the platform has none."""
    try:
        return '{:.1f}'.format(os.getloadavg()[0])
    except OSError:
        return 'n/a'


def describe_machine() -> dict:
    """The CPU, its cores, torch's threads and the GPUs: ``summary`` (one line), ``cpu``,
    ``cores``, ``gpus`` (names)."""
    import torch
    cpu = cpu_name()
    gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    summary = (f'{os.cpu_count()} CPU cores ({cpu}), torch {torch.__version__} with '
               f'{torch.get_num_threads()} threads, '
               + (f'{len(gpus)} GPU(s): {", ".join(gpus)}' if gpus else 'no GPU'))
    return dict(summary=summary, cpu=cpu, cores=os.cpu_count(), gpus=gpus)

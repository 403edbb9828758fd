"""A description of the machine the demo ran on, for its summary."""
import os

from ..machine import cpu_name


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

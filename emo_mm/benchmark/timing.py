"""Warm-up, interleaved measurements and per-operator profiles of benchmark cases."""
import statistics
import time
from typing import List

from .cases import Case


def _sync(device: str) -> None:
    import torch
    if device.startswith('cuda'):
        torch.cuda.synchronize()


def _failed(case: Case, err: Exception, when: str) -> None:
    case.error = f'{type(err).__name__}: {str(err).splitlines()[0][:200]}'
    print(f'[benchmark] {case.label}: failed in {when} ({case.error})')


#: Seconds of idling before each measurement, so that the worker threads of the previous case
#: (onnxruntime's spin after a run; OpenMP's spin after a parallel region) are asleep again and
#: do not take cores from the next case.
PAUSE = 0.05


def measure(cases: List[Case], warmup: int, repeats: int, min_time: float, device: str = 'cpu',
            batch_size: int = 1) -> None:
    """Warm up every case, then interleave the measurements (order rotated every round).

    Every measurement starts after :data:`PAUSE` seconds of idling and runs a case's step until
    ``min_time`` seconds have passed (at least once)
    and appends the mean seconds per step to ``case.seconds`` (process CPU seconds per step to
    ``case.cpu_seconds``). A case that raises is marked with its error and left out.

    Args:
        cases (list[Case]): Cases with a ``step``.
        warmup (int): Untimed steps per case first (at least 1).
        repeats (int): Measurements per case.
        min_time (float): Seconds per measurement.
        device (str): ``'cpu'`` or ``'cuda[:i]'`` (CUDA steps are synchronised).
        batch_size (int): Images per step, for the progress lines.
    """
    runnable = [c for c in cases if c.step is not None and c.error is None]
    for case in runnable:
        try:
            for _ in range(max(warmup, 1)):
                case.step()
            _sync(device)
        except Exception as err:
            _failed(case, err, 'warm-up')
    runnable = [c for c in runnable if c.error is None]
    for r in range(repeats):
        shift = r % len(runnable) if runnable else 0
        for case in runnable[shift:] + runnable[:shift]:
            time.sleep(PAUSE)
            steps, start, cpu_start = 0, time.perf_counter(), time.process_time()
            while True:
                case.step()
                steps += 1
                _sync(device)
                elapsed = time.perf_counter() - start
                if elapsed >= min_time:
                    break
            case.seconds.append(elapsed / steps)
            case.cpu_seconds.append((time.process_time() - cpu_start) / steps)
        print(f'[benchmark] round {r + 1}/{repeats}: ' + ', '.join(
            f'{c.label} {batch_size / c.seconds[-1]:.1f}' for c in runnable) + ' img/s')


def profile_cases(cases: List[Case], top: int) -> None:
    """One profiled step per case: its ``top`` operators by self CPU time, with input shapes."""
    from torch.profiler import ProfilerActivity, profile
    for case in cases:
        if case.step is None or case.error:
            continue
        with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
            case.step()
        events = prof.key_averages(group_by_input_shape=True)
        total = sum(e.self_cpu_time_total for e in events) or 1
        ranked = sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)[:top]
        case.profile = [dict(op=e.key, shapes=str(e.input_shapes)[:120], calls=e.count,
                             ms=e.self_cpu_time_total / 1000, share=e.self_cpu_time_total / total)
                        for e in ranked]


def summarise(case: Case, batch: int) -> dict:
    """The JSON row of a case: identity, size, and throughput / latency over its measurements.

    ``img_per_s`` is ``batch / median step time``; ``ms_per_image`` (with ``_min`` / ``_max``
    over the measurements) is the median step time per image, i.e. the latency at batch 1.
    """
    row = dict(name=case.name, variant=case.variant, label=case.label, peer=case.peer,
               config=case.config, params=case.params, flops=case.flops, error=case.error)
    if case.seconds:
        median = statistics.median(case.seconds)
        row.update(img_per_s=batch / median, latency_ms=1000 * median,
                   ms_per_image=1000 * median / batch,
                   ms_per_image_min=1000 * min(case.seconds) / batch,
                   ms_per_image_max=1000 * max(case.seconds) / batch,
                   img_per_s_min=batch / max(case.seconds), img_per_s_max=batch / min(case.seconds),
                   seconds_per_step=case.seconds, cpu_seconds_per_step=case.cpu_seconds)
    if case.profile:
        row['profile'] = case.profile
    return row

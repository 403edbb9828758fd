"""Batch-1 latency in the runtimes an app ships with (onnxruntime, ExecuTorch / XNNPACK,
OpenVINO, LiteRT, ncnn, MNN), ours against the stock mmpretrain peers.

Every model is exported once per runtime by :func:`emo_mm.backends.export_model` (the deploy
form: our backbones' BatchNorms folded, MobileOne reparameterised), then loaded with the
runtime's own Python API (:func:`emo_mm.backends.base.threads` threads, fp32, batch 1) and timed
by :func:`emo_mm.benchmark.timing.measure` (warm-up, then interleaved measurements, the order
rotated every round). One table per runtime: latency median and min-max, and the speed ratio of
each of ours to the EdgeNeXt of equal FLOPs (:data:`EQUAL_FLOPS`) with its target
(:data:`TARGETS`). :func:`onnxruntime_profile` / :func:`openvino_profile` /
:func:`executorch_profile` sum a runtime's own per-layer profile per op type; by default
(:data:`PROFILE_MODELS`) every one of ours that misses its target is profiled next to its
EdgeNeXt (:func:`profiled_names`). ``tools/analysis_tools/bench_runtimes.py`` is the command line.

A model a runtime cannot take is a row that says why: ncnn cannot load the stock EdgeNeXt, whose
``torch.unbind`` (the XCA attention's q, k, v) pnnx leaves unconverted.
"""
import os.path as osp
import re
import statistics
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from .cases import Case
from .models import resolve_config
from .timing import measure, summarise

#: Runtime (table name) -> backend of :mod:`emo_mm.backends` that exports and loads for it.
RUNTIMES = {'onnxruntime': 'onnx', 'executorch': 'executorch', 'openvino': 'openvino',
            'litert': 'litert', 'ncnn': 'ncnn', 'mnn': 'mnn'}
#: Package whose version is printed with each runtime's table.
RUNTIME_PACKAGES = {'onnxruntime': 'onnxruntime', 'executorch': 'executorch',
                    'openvino': 'openvino', 'litert': 'ai-edge-litert', 'ncnn': 'ncnn',
                    'mnn': 'mnn'}
#: Our models (name -> config of this package) and the stock mmpretrain peers (peer names of
#: :data:`emo_mm.benchmark.models.PEER_CONFIGS`), in the order of the tables.
OURS = {'emo-1m': 'emo_mm::cls/emo/emo-1m_8xb256_in1k.py',
        'emo2-1m': 'emo_mm::cls/emo2/emo2-1m_8xb128_in1k.py',
        'emo-2m': 'emo_mm::cls/emo/emo-2m_8xb256_in1k.py',
        'emo2-2m': 'emo_mm::cls/emo2/emo2-2m_8xb128_in1k.py',
        'emo-5m': 'emo_mm::cls/emo/emo-5m_8xb256_in1k.py',
        'emo2-5m': 'emo_mm::cls/emo2/emo2-5m_8xb128_in1k.py',
        'edgeformer-s': 'emo_mm::cls/edgeformer/edgeformer-s_8xb128_in1k.py'}
PEERS = ['edgenext-xxsmall', 'edgenext-xsmall', 'edgenext-small', 'mobileone-s0', 'mobileone-s1',
         'mobileone-s2', 'mobileone-s3', 'mobileone-s4', 'mobilenet-v2']
#: Ours -> the EdgeNeXt of (about) equal FLOPs, the reference of its ratio column.
EQUAL_FLOPS = {'emo-1m': 'edgenext-xxsmall', 'emo2-1m': 'edgenext-xxsmall',
               'emo-2m': 'edgenext-xsmall', 'emo2-2m': 'edgenext-xsmall',
               'emo-5m': 'edgenext-small', 'emo2-5m': 'edgenext-small',
               'edgeformer-s': 'edgenext-small'}
#: Speed-ratio targets (issue 20): by size in ExecuTorch / onnxruntime, 1.0 in OpenVINO; a
#: runtime not named has no target column.
TARGETS = {'executorch': {'1m': 1.2, '2m': 1.2, '5m': 1.3},
           'onnxruntime': {'1m': 1.2, '2m': 1.2, '5m': 1.3},
           'openvino': {'1m': 1.0, '2m': 1.0, '5m': 1.0}}
#: In a ``profile`` list: every one of ours below its target in that runtime, and its EdgeNeXt.
MISSES = 'misses'
#: Models profiled by ``--profile`` without names: EMO-1M against EdgeNeXt-XXS (the slowdown
#: of the issue) and every miss with its EdgeNeXt (so that each miss is shown with its profile).
PROFILE_MODELS = ('emo-1m', 'edgenext-xxsmall', MISSES)


def target(runtime: str, name: str) -> Optional[float]:
    """The ratio ``name`` should reach against its EdgeNeXt in ``runtime`` (None: no target).

    Example:
        >>> target('executorch', 'emo2-5m'), target('openvino', 'emo-1m'), target('ncnn', 'emo-1m')
        (1.3, 1.0, None)
    """
    size = re.search(r'(\d+m)$', name)
    return TARGETS.get(runtime, {}).get(size.group(1)) if size else None


def build_models(names: Sequence[str]) -> Dict[str, Tuple[nn.Module, str, bool]]:
    """Each name of :data:`OURS` or a peer -> ``(eval-mode classifier in deploy form, config
    path, is_peer)``, random weights; MobileOne (or any backbone with ``switch_to_deploy``)
    reparameterised."""
    from mmengine.config import Config

    import emo_mm  # noqa: F401  (registry)
    from emo_mm.apis import build_model_from_cfg
    models = {}
    for name in names:
        _, path = resolve_config(OURS.get(name, name))
        cfg = Config.fromfile(path)
        model = build_model_from_cfg(cfg, device='cpu').eval()
        backbone = getattr(model, 'backbone', None)
        if hasattr(backbone, 'switch_to_deploy'):
            backbone.switch_to_deploy()
        models[name] = (model, path, name not in OURS)
    return models


@dataclass
class RuntimeCase:
    """A model exported for one runtime: its artefact and the loaded ``infer(x)``."""
    case: Case
    path: Optional[str] = None
    infer: Optional[Callable] = None
    export_s: float = 0.
    max_error: Optional[float] = None
    profile: Optional[dict] = None
    extra: dict = field(default_factory=dict)


def export_cases(models: Dict[str, Tuple[nn.Module, str, bool]], runtime: str,
                 shape: Tuple[int, int], work_dir: str, part: str = 'model',
                 flops: bool = True) -> List[RuntimeCase]:
    """Export every model for ``runtime`` into ``work_dir`` and load it; one case per model,
    whose step runs the artefact on a fixed ``1 x 3 x H x W`` input. A model the backend cannot
    take is kept with its error (a row that says so)."""
    from emo_mm.backends import export_model, get_backend
    backend = get_backend(RUNTIMES[runtime])
    x = torch.randn(1, 3, *shape, generator=torch.Generator().manual_seed(0))
    cases = []
    for name, (model, config, peer) in models.items():
        core = model.backbone if part == 'backbone' else model
        case = Case(name, config, 'mmpretrain', runtime, peer,
                    params=sum(p.numel() for p in core.parameters()))
        item = RuntimeCase(case)
        try:
            if flops:
                from emo_mm.analysis import get_complexity
                case.flops = get_complexity(core, shape)['flops']
            item.path = osp.join(work_dir, f'{name}{backend.suffix}')
            start = time.perf_counter()
            result = export_model(model, backend.name, shape, item.path, part=part)
            item.export_s = time.perf_counter() - start
            item.max_error = result.max_error
            infer = backend.load(item.path)
            item.infer = infer
            case.step = lambda infer=infer: infer(x)
        except Exception as err:  # reported in the table, not fatal
            case.error = f'{type(err).__name__}: {str(err).splitlines()[0][:200]}'
            print(f'[runtimes] {runtime}: {name} skipped ({case.error})')
        cases.append(item)
    return cases


def profiled_names(rows: List[dict], runtime: str, requested: Sequence[str]) -> List[str]:
    """The models to profile, in the order of ``rows``: the names of ``requested`` and, where it
    holds :data:`MISSES`, every one of ours whose median ratio to its EdgeNeXt is below its
    target in ``runtime`` (or that could not be timed), with that EdgeNeXt.

    Example:
        >>> rows = [dict(name='emo-1m', ms_per_image=9.), dict(name='emo-5m', ms_per_image=9.),
        ...         dict(name='edgenext-xxsmall', ms_per_image=10.),
        ...         dict(name='edgenext-small', ms_per_image=10.)]
        >>> profiled_names(rows, 'executorch', ['misses'])  # 1.11x < 1.2x; 1.11x < 1.3x
        ['emo-1m', 'emo-5m', 'edgenext-xxsmall', 'edgenext-small']
        >>> profiled_names(rows, 'openvino', ['misses'])  # 1.11x >= 1.0x
        []
    """
    wanted = set(requested) - {MISSES}
    if MISSES in requested:
        by_name = {r['name']: r for r in rows}
        for row in rows:
            goal = target(runtime, row['name'])
            if goal is None or row['name'] not in EQUAL_FLOPS:
                continue
            ratio = _ratio(by_name, row['name'], 'ms_per_image')
            if ratio is None or ratio < goal:
                wanted |= {row['name'], EQUAL_FLOPS[row['name']]}
    return [r['name'] for r in rows if r['name'] in wanted]


def _ratio(rows: Dict[str, dict], name: str, key: str) -> Optional[float]:
    peer = rows.get(EQUAL_FLOPS.get(name, ''))
    mine = rows.get(name)
    if not (peer and mine and key in peer and key in mine):
        return None
    return peer[key] / mine[key]


def runtime_table(rows: List[dict], runtime: str) -> List[str]:
    """Markdown table of one runtime: latency median (min-max) and, for each of ours, the speed
    ratio to its EdgeNeXt of equal FLOPs (median and best) against the target (bold: met)."""
    by_name = {r['name']: r for r in rows}
    flops = any(r['flops'] for r in rows)
    header = ['model', 'params (M)'] + (['GFLOPs'] if flops else []) + \
        ['ms (median)', 'ms (min-max)', 'vs EdgeNeXt of equal FLOPs: median · min', 'target']
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    for r in rows:
        cells = [r['name'] if r['peer'] else f'**{r["name"]}**', f'{r["params"] / 1e6:.2f}']
        if flops:
            cells.append(f'{r["flops"] / 1e9:.3f}' if r['flops'] else '')
        if 'ms_per_image' not in r:
            lines.append('| ' + ' | '.join(cells + [f'skipped: {r["error"]}', '', '', '']) + ' |')
            continue
        cells += [f'{r["ms_per_image"]:.2f}',
                  f'{r["ms_per_image_min"]:.2f}-{r["ms_per_image_max"]:.2f}']
        median, best = (_ratio(by_name, r['name'], k) for k in ('ms_per_image', 'ms_per_image_min'))
        goal = target(runtime, r['name']) if median is not None else None
        if median is None:
            cells += ['', '']
        else:
            text = f'{median:.2f}× · {best:.2f}× ({EQUAL_FLOPS[r["name"]]})'
            cells += [f'**{text}**' if goal and median >= goal else text,
                      f'{goal:.1f}×' if goal else '']
        lines.append('| ' + ' | '.join(cells) + ' |')
    return lines


def _per_type(events: Dict[str, List[float]]) -> Dict[str, float]:
    return dict(sorted(((k, sum(v)) for k, v in events.items()), key=lambda kv: -kv[1]))


def onnxruntime_profile(path: str, x: torch.Tensor, runs: int = 10, warmup: int = 2) -> dict:
    """onnxruntime's own profile (``SessionOptions.enable_profiling``) of the ONNX file at
    ``path``, with the session settings of the timing (:func:`emo_mm.deployment.onnx_session`):
    the kernel time of every node of the last ``runs`` inferences summed per op type
    (``'Conv'``, ``'QuickGelu'``; fused nodes under their fused type), mean ms per inference.

    Returns ``dict(ops={type: ms}, total_ms=sum of the nodes, wall_ms=median wall time)``.
    """
    import json

    import onnxruntime as ort

    from emo_mm.backends.base import threads
    from emo_mm.deployment import onnx_session
    with tempfile.TemporaryDirectory() as tmp:
        options = ort.SessionOptions()
        options.enable_profiling = True
        options.profile_file_prefix = osp.join(tmp, 'ort')
        session = onnx_session(path, threads=threads(), options=options)
        feed = {session.get_inputs()[0].name: x.numpy()}
        walls = []
        for i in range(warmup + runs):
            start = time.perf_counter()
            session.run(None, feed)
            if i >= warmup:
                walls.append(time.perf_counter() - start)
        with open(session.end_profiling()) as f:
            trace = json.load(f)
    inferences = [e for e in trace if e.get('cat') == 'Session' and e['name'] == 'model_run']
    windows = [(e['ts'], e['ts'] + e['dur']) for e in inferences[-runs:]]
    events = defaultdict(list)
    for e in trace:
        if e.get('cat') == 'Node' and e['name'].endswith('_kernel_time') and \
                any(lo <= e['ts'] <= hi for lo, hi in windows):
            events[e['args']['op_name']].append(e['dur'] / 1e3 / len(windows))
    ops = _per_type(events)
    return dict(ops=ops, total_ms=sum(ops.values()), wall_ms=1e3 * statistics.median(walls))


def openvino_profile(path: str, x: torch.Tensor, runs: int = 10, warmup: int = 2) -> dict:
    """OpenVINO's per-layer profile (``PERF_COUNT``) of the IR at ``path``, summed per op
    type and kernel (``'Convolution [jit_avx512_1x1]'``), mean ms per inference.

    Returns ``dict(ops={type: ms}, total_ms=sum of the layers, wall_ms=mean wall time of an
    inference)``. The layers' sum is about the wall time (less: the runtime's own work between
    layers; on a loaded machine a layer's real time also counts the time it was preempted).
    """
    import openvino as ov

    from emo_mm.backends.openvino import config
    compiled = ov.Core().compile_model(path, 'CPU', dict(config(), PERF_COUNT=True))
    request = compiled.create_infer_request()
    feed = [x.numpy()]
    for _ in range(warmup):
        request.infer(feed)
    events, wall = defaultdict(list), 0.
    for _ in range(runs):
        start = time.perf_counter()
        request.infer(feed)
        wall += time.perf_counter() - start
        for info in request.get_profiling_info():
            if info.status == ov.ProfilingInfo.Status.EXECUTED:
                events[f'{info.node_type} [{info.exec_type}]'].append(
                    info.real_time.total_seconds() * 1e3 / runs)
    ops = _per_type(events)
    return dict(ops=ops, total_ms=sum(ops.values()), wall_ms=1e3 * wall / runs)


#: ExecuTorch events that contain others (the totals of a delegate call / a kernel call).
_ET_WRAPPERS = ('DELEGATE_CALL', 'OPERATOR_CALL', 'Method::execute')


def executorch_profile(path: str, x: torch.Tensor, runs: int = 10, warmup: int = 2) -> dict:
    """ExecuTorch's ETDump of the program at ``path`` summed per op type, median ms per
    inference: XNNPACK's own ops (``'xnnpack: Convolution (NHWC, F32) IGEMM'``) and the kernels
    run outside the delegate (``'portable: native_layer_norm.out'``).

    Returns ``dict(ops={type: ms}, total_ms=sum of the ops, wall_ms=median wall time,
    delegated_ms=..., non_delegated_ms=...)``.
    """
    from executorch.devtools import Inspector
    from executorch.extension.pybindings.portable_lib import _load_for_executorch

    from emo_mm.backends.executorch import use_threads
    use_threads()
    program = _load_for_executorch(path, enable_etdump=True)
    walls = []
    for i in range(warmup + runs):
        start = time.perf_counter()
        program.forward((x, ))
        if i >= warmup:
            walls.append(time.perf_counter() - start)
    with tempfile.TemporaryDirectory() as tmp:
        etdump = osp.join(tmp, 'profile.etdp')
        program.write_etdump_result_to_file(etdump)
        inspector = Inspector(etdump_path=etdump)
    events = defaultdict(list)
    for block in inspector.event_blocks:
        if block.name != 'Execute':
            continue
        for event in block.events:
            if event.name in _ET_WRAPPERS or not event.perf_data:
                continue
            if event.is_delegated_op:
                key = 'xnnpack: ' + re.sub(r' #\d+$', '', event.name)
            else:
                key = 'portable: ' + event.name.replace('native_call_', '')
            events[key].append(statistics.median(event.perf_data.raw[warmup:] or
                                                  event.perf_data.raw))
    ops = _per_type(events)
    delegated = sum(v for k, v in ops.items() if k.startswith('xnnpack'))
    return dict(ops=ops, total_ms=sum(ops.values()), wall_ms=1e3 * statistics.median(walls),
                delegated_ms=delegated, non_delegated_ms=sum(ops.values()) - delegated)


#: Runtime -> its per-op-type profiler.
PROFILERS = {'onnxruntime': onnxruntime_profile, 'openvino': openvino_profile,
             'executorch': executorch_profile}


def profile_table(profiles: Dict[str, dict], top: int = 15) -> List[str]:
    """Markdown: the ``top`` op types by time over all profiled models, ms and share per model."""
    names = list(profiles)
    totals = defaultdict(float)
    for p in profiles.values():
        for op, ms in p['ops'].items():
            totals[op] += ms
    ranked = sorted(totals, key=lambda op: -totals[op])[:top]
    lines = ['| op type | ' + ' | '.join(f'{n} ms (share)' for n in names) + ' |',
             '|---|' + '---|' * len(names)]
    for op in ranked:
        cells = []
        for n in names:
            ms = profiles[n]['ops'].get(op)
            cells.append(f'{ms:.3f} ({100 * ms / profiles[n]["total_ms"]:.0f}%)' if ms else '')
        lines.append(f'| {op} | ' + ' | '.join(cells) + ' |')
    lines.append('| **sum of the layers / wall time** | ' + ' | '.join(
        f'{p["total_ms"]:.3f} / {p["wall_ms"]:.3f}' for p in profiles.values()) + ' |')
    return lines


def run_runtime(models: Dict[str, Tuple[nn.Module, str, bool]], runtime: str,
                shape: Tuple[int, int] = (224, 224), warmup: int = 5, repeats: int = 7,
                min_time: float = 1., part: str = 'model', flops: bool = True,
                profile: Sequence[str] = (), profile_runs: int = 20) -> Tuple[List[dict], dict]:
    """Export, load and time every model in ``runtime`` (interleaved); returns the rows
    (:func:`emo_mm.benchmark.timing.summarise` plus ``export_s`` / ``max_error``) and the
    per-op-type profiles of the ``profile`` models (names, or :data:`MISSES`: see
    :func:`profiled_names`; runtimes of :data:`PROFILERS` only)."""
    with tempfile.TemporaryDirectory(prefix=f'emo_mm_{runtime}_') as work_dir:
        items = export_cases(models, runtime, shape, work_dir, part, flops)
        measure([i.case for i in items], warmup, repeats, min_time)
        rows = []
        for item in items:
            row = summarise(item.case, 1)
            row.update(export_s=item.export_s, max_error=item.max_error)
            rows.append(row)
        loaded = [item for item in items if item.infer is not None]
        for item in items:  # unload all: the profiles run alone
            item.infer = item.case.step = None
        profiles = {}
        if profile and runtime in PROFILERS:
            x = torch.randn(1, 3, *shape, generator=torch.Generator().manual_seed(0))
            names = profiled_names(rows, runtime, profile)
            for item in loaded:
                if item.case.name in names:
                    profiles[item.case.name] = PROFILERS[runtime](item.path, x, profile_runs)
    return rows, profiles


def runtime_version(runtime: str) -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version(RUNTIME_PACKAGES[runtime])
    except PackageNotFoundError:
        return 'not installed'


def runtime_markdown(rows: List[dict], profiles: Dict[str, dict], meta: dict,
                     runtime: str) -> str:
    """The section of one runtime: header (machine, settings, load, date, command), the table,
    and the per-op-type profiles."""
    from .report import header_lines
    lines = header_lines(meta) + runtime_table(rows, runtime)
    lines += ['', f'{runtime} {runtime_version(runtime)}. Bold model: ours; others: stock '
              'mmpretrain configs. Random weights, deploy form (BatchNorms folded, MobileOne '
              'reparameterised), batch 1. Ratio = EdgeNeXt latency / ours (median over the '
              'measurements · best of each); bold where the target is met.', '']
    if profiles:
        lines += [f'Per-layer profile in {runtime} (its own profiler), summed per op type, ms '
                  'per inference, each EdgeNeXt with the profiled models of equal FLOPs:', '']
        for group in _profile_groups(profiles):
            lines += profile_table({n: profiles[n] for n in group}) + ['']
    return '\n'.join(lines)


def _profile_groups(profiles: Dict[str, dict]) -> List[List[str]]:
    """The profiled names grouped by their EdgeNeXt of equal FLOPs (ours first, the EdgeNeXt
    last); any other name alone."""
    groups: Dict[str, List[str]] = {}
    for name in profiles:
        groups.setdefault(EQUAL_FLOPS.get(name, name), []).append(name)
    out = []
    for peer, names in groups.items():
        out.append([n for n in names if n != peer] + ([peer] if peer in profiles else []))
    return out

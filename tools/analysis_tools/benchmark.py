"""Throughput and latency of classifiers, backbones, detectors and segmentors, with peer models
measured side by side in the same process.

    python tools/analysis_tools/benchmark.py [CONFIG | NAME=CONFIG ...] [--peers auto|none|PEER ...]
        [--mode infer|train] [--batch-size N] [--shape H [W]] [--threads N] [--device cpu|cuda]
        [--deploy] [--onnx] [--e2e] [--backbone-only] [--amp] [--channels-last] [--compile]
        [--warmup N] [--repeats N] [--min-time S] [--reference NAME] [--flops] [--profile N]
        [--out-dir DIR] [--title TEXT] [--cfg-options K=V ...]

Examples::

    # EMO / EMOv2 classifiers against the default peers, CPU, 2 threads, batch 32 at 224x224,
    # also BN-folded (--deploy) and with onnxruntime (--onnx)
    python tools/analysis_tools/benchmark.py configs/cls/emo/emo-1m_8xb256_in1k.py \\
        configs/cls/emo2/emo2-1m_8xb128_in1k.py --threads 2 --batch-size 32 --deploy --onnx
    # training step (forward + backward), batch 16
    python tools/analysis_tools/benchmark.py configs/cls/emo/emo-1m_8xb256_in1k.py --mode train \\
        --batch-size 16 --peers edgenext-xxsmall
    # detector end to end (pipeline, pre-processing, model, post-processing to boxes), batch 1
    python tools/analysis_tools/benchmark.py configs/det/ssdlite/ssdlite_emo2-1m_8xb24-600e_coco.py \\
        --e2e --batch-size 1 --shape 320
    # GPU, fp16 autocast, channels_last, torch.compile
    python tools/analysis_tools/benchmark.py configs/cls/emo2/emo2-5m_8xb128_in1k.py --device cuda \\
        --amp --channels-last --compile --batch-size 256

Method: every model (ours and the peers, built from their mmpretrain / mmdet / mmseg configs
with random weights) lives in this one process. Each is warmed up, then the repeats are
interleaved (model A, B, C, A, B, C, ... with the order rotated every round) so that load
changes on a shared machine hit all models alike; one measurement runs the model for at least
``--min-time`` seconds and the table reports the median over ``--repeats`` measurements. On
CUDA every measurement is synchronised. Inference runs under ``torch.inference_mode``; ``train``
mode times forward + backward of the model's loss (``mode='loss'`` with random labels / boxes /
masks; the sum of the feature maps for ``--backbone-only``). Peers are the stock upstream
models; ``--deploy`` also measures every model whose backbone has ``switch_to_deploy()`` (EMO,
EMOv2, MobileOne) in its re-parameterised form.

Outputs in ``--out-dir`` (default ``work_dirs/benchmark``): ``benchmark.md`` (a markdown section
with the machine, thread count, load average, command and table), ``benchmark.json`` (all
measurements) and ``benchmark.png`` (throughput against parameters).
"""
import argparse
import datetime
import json
import os
import os.path as osp
import platform
import shlex
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..', '..'))

#: Peer models: short name -> package config (built from the installed upstream package).
PEER_CONFIGS = {
    'edgenext-xxsmall': 'mmpretrain::edgenext/edgenext-xxsmall_8xb256_in1k.py',
    'edgenext-xsmall': 'mmpretrain::edgenext/edgenext-xsmall_8xb256_in1k.py',
    'edgenext-small': 'mmpretrain::edgenext/edgenext-small_8xb256_in1k.py',
    'mobilevit-xxsmall': 'mmpretrain::mobilevit/mobilevit-xxsmall_8xb128_in1k.py',
    'mobilevit-xsmall': 'mmpretrain::mobilevit/mobilevit-xsmall_8xb128_in1k.py',
    'mobilevit-small': 'mmpretrain::mobilevit/mobilevit-small_8xb128_in1k.py',
    'mobilenet-v2': 'mmpretrain::mobilenet_v2/mobilenet-v2_8xb32_in1k.py',
    'mobileone-s0': 'mmpretrain::mobileone/mobileone-s0_8xb32_in1k.py',
    'ssdlite-mobilenetv2': 'mmdet::ssd/ssdlite_mobilenetv2-scratch_8xb24-600e_coco.py',
}
#: Peers of ``--peers auto``, per framework of the first config.
DEFAULT_PEERS = {
    'mmpretrain': ['edgenext-xxsmall', 'edgenext-xsmall', 'edgenext-small', 'mobilevit-xxsmall',
                   'mobilevit-xsmall', 'mobilevit-small', 'mobilenet-v2', 'mobileone-s0'],
    'mmdet': ['ssdlite-mobilenetv2'],
    'mmseg': [],
}
#: Default input size per framework (``--shape``); SSD configs use their ``input_size``.
DEFAULT_SHAPES = {'mmpretrain': (224, 224), 'mmdet': (800, 1333), 'mmseg': (512, 512)}
VARIANTS = ('eval', 'deploy', 'onnxruntime', 'train')


# ------------------------------------------------------------------------------------ arguments
def parse_args(argv=None):
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(
        description='Throughput / latency of models and their peers, measured side by side',
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('configs', nargs='*', metavar='CONFIG',
                        help='configs to measure (NAME=CONFIG sets the table name)')
    parser.add_argument('--peers', nargs='+', default=['auto'], metavar='PEER',
                        help="'auto' (default peers of the first config's framework), 'none', or "
                        f'names / configs; names: {", ".join(PEER_CONFIGS)}')
    parser.add_argument('--mode', choices=('infer', 'train'), default='infer',
                        help='inference, or a training step (forward + backward)')
    parser.add_argument('--batch-size', type=int, default=32, help='images per step')
    parser.add_argument('--shape', type=int, nargs='+', metavar='H [W]',
                        help='input size (raw image size with --e2e); default 224 for '
                        'classifiers, the input_size of SSD, 1333x800 for other detectors, 512 '
                        'for segmentors')
    parser.add_argument('--threads', type=int, default=None,
                        help='CPU threads (torch.set_num_threads; also onnxruntime)')
    parser.add_argument('--device', default='cpu', help="'cpu' or 'cuda[:i]'")
    parser.add_argument('--deploy', action='store_true',
                        help='also measure the BN-folded form of models with switch_to_deploy()')
    parser.add_argument('--onnx', action='store_true',
                        help='also measure classifiers / backbones exported to ONNX with '
                        'onnxruntime (CPU)')
    parser.add_argument('--e2e', action='store_true',
                        help='end to end: test pipeline on raw uint8 images, data pre-processing, '
                        'model and post-processing (boxes / masks / labels)')
    parser.add_argument('--backbone-only', action='store_true',
                        help='measure the backbones of classifier configs')
    parser.add_argument('--amp', action='store_true', help='autocast (CUDA: float16)')
    parser.add_argument('--channels-last', action='store_true',
                        help='channels_last model and input (all models)')
    parser.add_argument('--compile', action='store_true', help='torch.compile every model')
    parser.add_argument('--warmup', type=int, default=2, help='warm-up steps per model')
    parser.add_argument('--repeats', type=int, default=5,
                        help='interleaved measurements per model (median reported)')
    parser.add_argument('--min-time', type=float, default=0.,
                        help='seconds of running per measurement (at least one step)')
    parser.add_argument('--reference', help='name of the row other rows are compared to '
                        '(default: the first peer)')
    parser.add_argument('--flops', action='store_true', help='also count FLOPs (slower)')
    parser.add_argument('--profile', type=int, default=0, metavar='N',
                        help='after the measurements, profile one step of each model and list '
                        'its N most expensive operators (with input shapes) in the outputs')
    parser.add_argument('--out-dir', default='work_dirs/benchmark', help='output folder')
    parser.add_argument('--title', help='title of the markdown section and the chart')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        metavar='K=V', help='overrides applied to the given configs (not peers)')
    args = parser.parse_args(argv)
    if not args.configs and args.peers in (['auto'], ['none']):
        parser.error('give at least one config or a list of --peers')
    if args.shape is not None and len(args.shape) not in (1, 2):
        parser.error('--shape takes H or H W')
    if args.e2e and (args.onnx or args.backbone_only or args.mode == 'train'):
        parser.error('--e2e measures inference of full models: not with --onnx, '
                     '--backbone-only or --mode train')
    if (args.amp or args.compile) and args.onnx:
        parser.error('--onnx measures onnxruntime in float32: not with --amp / --compile')
    return args


# -------------------------------------------------------------------------------------- configs
def resolve_config(spec: str) -> Tuple[str, str]:
    """``NAME=CONFIG``, a peer name, ``pkg::rel/path.py`` or a path -> ``(name, path)``."""
    name, _, path = spec.rpartition('=') if '=' in spec else ('', '', spec)
    if path in PEER_CONFIGS:
        name, path = name or path, PEER_CONFIGS[path]
    if '::' in path:
        package, rel = path.split('::', 1)
        import importlib
        root = osp.dirname(importlib.import_module(package).__file__)
        path = osp.join(root, '.mim', 'configs', rel)
    if not osp.isfile(path):
        raise FileNotFoundError(f'Config {spec!r} not found ({path}); peer names: '
                                f'{", ".join(PEER_CONFIGS)}')
    return name or short_name(path), path


def short_name(path: str) -> str:
    """``emo-1m_8xb256_in1k.py`` -> ``emo-1m``; ``ssdlite_emo2-1m_8xb24-600e_coco`` ->
    ``ssdlite_emo2-1m`` (the part before the ``<gpus>xb<batch>`` training setting)."""
    import re
    stem = osp.splitext(osp.basename(path))[0]
    parts = stem.split('_')
    for i, part in enumerate(parts):
        if re.match(r'^\d+xb\d+', part):
            return '_'.join(parts[:i]) or stem
    return stem


def default_shape(cfg, scope: str) -> Tuple[int, int]:
    if scope == 'mmdet' and 'SSD' in cfg.model.get('bbox_head', {}).get('type', ''):
        size = cfg.get('input_size', 320)
        return (size, size)
    return DEFAULT_SHAPES[scope]


# ------------------------------------------------------------------------------------ the cases
@dataclass
class Case:
    """One row: a model in one variant, with the step function that is timed."""
    name: str
    config: str
    scope: str
    variant: str
    peer: bool
    params: int = 0
    flops: Optional[int] = None
    step: Optional[Callable[[], None]] = None
    error: Optional[str] = None
    seconds: List[float] = field(default_factory=list)  # per step, one per measurement
    cpu_seconds: List[float] = field(default_factory=list)  # process CPU time per step
    profile: Optional[List[dict]] = None  # top operators of one profiled step (--profile)

    @property
    def label(self) -> str:
        return self.name if self.variant in ('eval', 'train') else f'{self.name} ({self.variant})'


def _core(model, backbone_only: bool):
    return model.backbone if backbone_only else model


def _data_samples(scope: str, batch: int, shape: Tuple[int, int], train: bool, num_classes: int):
    """Random targets / metas for ``mode='loss'`` (train) or ``mode='tensor'``."""
    import torch
    h, w = shape
    meta = dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w), batch_input_shape=(h, w),
                scale_factor=(1., 1.), img_id=0)
    samples = []
    for _ in range(batch):
        if scope == 'mmpretrain':
            from mmpretrain.structures import DataSample
            sample = DataSample()
            if train:
                sample.set_gt_label(int(torch.randint(num_classes, ())))
        elif scope == 'mmdet':
            from mmdet.structures import DetDataSample
            from mmengine.structures import InstanceData
            sample = DetDataSample(metainfo=meta)
            if train:
                xy = torch.rand(4, 2) * torch.tensor([w / 2, h / 2])
                wh = torch.rand(4, 2) * torch.tensor([w / 2, h / 2]) + 8
                sample.gt_instances = InstanceData(bboxes=torch.cat([xy, xy + wh], 1),
                                                   labels=torch.randint(num_classes, (4, )))
        else:
            from mmengine.structures import PixelData
            from mmseg.structures import SegDataSample
            sample = SegDataSample(metainfo=meta)
            if train:
                sample.gt_sem_seg = PixelData(data=torch.randint(num_classes, (1, h, w)))
        samples.append(sample)
    return samples


def _num_classes(cfg) -> int:
    model = cfg.model
    for key in ('head', 'bbox_head', 'decode_head'):
        head = model.get(key)
        if isinstance(head, dict) and 'num_classes' in head:
            return head['num_classes']
    return 10


def _e2e_pipeline(cfg, scope: str):
    """The test pipeline fed with in-memory images: loading and annotation steps removed."""
    from mmcv.transforms import Compose
    from mmengine.registry import init_default_scope
    init_default_scope(scope)
    pipeline = cfg.get('test_pipeline') or cfg.test_dataloader.dataset.pipeline
    steps = [dict(s) for s in pipeline
             if not any(k in s['type'] for k in ('LoadImageFromFile', 'LoadAnnotations'))]
    return Compose(steps)


def _make_step(model, scope: str, cfg, args, variant: str, shape, device, x,
               backbone_only: bool, onnx_path: Optional[str] = None) -> Callable[[], None]:
    """The function timed for one case (one batch through the model)."""
    import torch
    core = _core(model, backbone_only)
    train = variant == 'train'
    autocast = torch.autocast(device.type, dtype=torch.float16 if device.type == 'cuda'
                              else torch.bfloat16, enabled=args.amp)
    if variant == 'onnxruntime':
        from emo_mm.deployment import onnx_session
        session = onnx_session(onnx_path, args.threads)
        feed = {session.get_inputs()[0].name: x.cpu().numpy()}
        return lambda: session.run(None, feed)
    if args.e2e:
        import numpy as np
        from mmengine.dataset import pseudo_collate
        pipeline = _e2e_pipeline(cfg, scope)
        rng = np.random.default_rng(0)
        images = [rng.integers(0, 256, (*shape, 3), dtype=np.uint8) for _ in range(args.batch_size)]

        def e2e():
            data = pseudo_collate([pipeline(dict(img=img, img_shape=img.shape[:2],
                                                 ori_shape=img.shape[:2], img_id=0, img_path=None))
                                   for img in images])
            with torch.inference_mode(), autocast:
                model.test_step(data)
        return e2e
    from mmengine.model import BaseModel
    full = isinstance(core, BaseModel)
    samples = _data_samples(scope, x.shape[0], shape, train, _num_classes(cfg)) if full else None
    forward = torch.compile(core) if args.compile else core
    if train:
        def train_step():
            with autocast:
                if full:
                    loss, _ = core.parse_losses(forward(x, samples, mode='loss'))
                else:
                    loss = sum(o.float().mean() for o in forward(x))
            loss.backward()
            core.zero_grad(set_to_none=True)
        return train_step

    def infer():
        with torch.inference_mode(), autocast:
            return forward(x, samples, mode='tensor') if full else forward(x)
    return infer


def build_cases(args) -> Tuple[List[Case], dict]:
    """Build every model of the run and its cases (rows)."""
    import torch
    from mmengine.config import Config
    import emo_mm  # noqa: F401  (registry, upstream shims: SSD inference, checkpoint loading)
    from emo_mm.apis import build_model_from_cfg
    from emo_mm.frameworks import framework_of as config_scope

    device = torch.device(args.device)
    specs = [(s, False) for s in args.configs]
    first_scope = None
    if args.configs:
        first_scope = config_scope(Config.fromfile(resolve_config(args.configs[0])[1]))
    if args.peers == ['auto']:
        peers = DEFAULT_PEERS.get(first_scope or 'mmpretrain', [])
    elif args.peers == ['none']:
        peers = []
    else:
        peers = args.peers
    specs += [(s, True) for s in peers]

    cases, shapes = [], {}
    onnx_dir = tempfile.mkdtemp(prefix='emo_mm_benchmark_')
    for spec, peer in specs:
        name, path = resolve_config(spec)
        cfg = Config.fromfile(path)
        if not peer:
            cfg.merge_from_dict(args.cfg_options)
        scope = config_scope(cfg)
        if args.shape:
            shape = tuple(args.shape) * (2 if len(args.shape) == 1 else 1)
        else:
            shape = default_shape(cfg, scope)
        shapes[name] = shape
        if scope == 'mmpretrain' and cfg.model.get('data_preprocessor') is None \
                and cfg.get('data_preprocessor'):
            cfg.model.data_preprocessor = dict(type='ClsDataPreprocessor', **cfg.data_preprocessor)
        if scope != 'mmpretrain' and (args.backbone_only or args.onnx):
            print(f'[benchmark] {name}: --backbone-only / --onnx apply to classifiers; '
                  f'measured as a whole model without ONNX')
        variants = ['train'] if args.mode == 'train' else ['eval']
        model = build_model_from_cfg(cfg, device=str(device))
        backbone = getattr(model, 'backbone', None)
        if args.deploy and args.mode == 'infer' and hasattr(backbone, 'switch_to_deploy'):
            variants.append('deploy')
        if args.onnx and scope == 'mmpretrain':
            variants.append('onnxruntime')
        x = torch.randn(args.batch_size, 3, *shape, device=device)
        if args.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        for variant in variants:
            if variant != variants[0]:
                model = build_model_from_cfg(cfg, device=str(device))
            model.train(variant == 'train')
            if variant == 'deploy':
                model.backbone.switch_to_deploy()
            if args.channels_last:
                model.to(memory_format=torch.channels_last)
            backbone_only = args.backbone_only and scope == 'mmpretrain'
            core = _core(model, backbone_only)
            case = Case(name, path, scope, variant, peer, params=sum(p.numel() for p in core.parameters()))
            try:
                if args.flops and variant != 'onnxruntime':
                    from emo_mm.analysis import get_complexity
                    case.flops = get_complexity(core, shape)['flops']
                    model.train(variant == 'train')
                onnx_path = None
                if variant == 'onnxruntime':
                    from emo_mm.deployment import export_onnx
                    onnx_path = osp.join(onnx_dir, f'{name}.onnx')
                    export_onnx(model.eval(), onnx_path, shape, batch_size=args.batch_size,
                                backbone_only=backbone_only)
                case.step = _make_step(model, scope, cfg, args, variant, shape, device, x,
                                       backbone_only, onnx_path)
            except Exception as err:  # a peer that cannot be exported / run: reported, not fatal
                case.error = f'{type(err).__name__}: {str(err).splitlines()[0][:200]}'
                print(f'[benchmark] {case.label}: skipped ({case.error})')
            cases.append(case)
    return cases, shapes


# -------------------------------------------------------------------------------- measurement
def _sync(device: str):
    import torch
    if device.startswith('cuda'):
        torch.cuda.synchronize()


def measure(cases: List[Case], args) -> None:
    """Warm up every case, then interleave the measurements (order rotated every round)."""
    runnable = [c for c in cases if c.step is not None]
    for case in runnable:
        try:
            for _ in range(max(args.warmup, 1)):
                case.step()
            _sync(args.device)
        except Exception as err:
            case.error = f'{type(err).__name__}: {str(err).splitlines()[0][:200]}'
            print(f'[benchmark] {case.label}: failed in warm-up ({case.error})')
    runnable = [c for c in runnable if c.error is None]
    for r in range(args.repeats):
        order = runnable[r % len(runnable):] + runnable[:r % len(runnable)] if runnable else []
        for case in order:
            steps, start, cpu_start = 0, time.perf_counter(), time.process_time()
            while True:
                case.step()
                steps += 1
                _sync(args.device)
                elapsed = time.perf_counter() - start
                if elapsed >= args.min_time:
                    break
            case.seconds.append(elapsed / steps)
            case.cpu_seconds.append((time.process_time() - cpu_start) / steps)
        print(f'[benchmark] round {r + 1}/{args.repeats}: ' + ', '.join(
            f'{c.label} {args.batch_size / c.seconds[-1]:.1f}' for c in runnable) + ' img/s')


def profile_cases(cases: List[Case], top: int) -> None:
    """One profiled step per case: the ``top`` operators by self CPU time, with input shapes."""
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
    row = dict(name=case.name, variant=case.variant, label=case.label, peer=case.peer,
               config=case.config, params=case.params, flops=case.flops, error=case.error)
    if case.seconds:
        median = statistics.median(case.seconds)
        row.update(img_per_s=batch / median, latency_ms=1000 * median,
                   img_per_s_min=batch / max(case.seconds), img_per_s_max=batch / min(case.seconds),
                   seconds_per_step=case.seconds, cpu_seconds_per_step=case.cpu_seconds)
    if case.profile:
        row['profile'] = case.profile
    return row


# ------------------------------------------------------------------------------------- reports
def machine_info(args) -> dict:
    import torch
    cpu = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            cpu = next(line.split(':', 1)[1].strip() for line in f if line.startswith('model name'))
    except (OSError, StopIteration):
        pass
    info = dict(cpu=cpu, logical_cpus=os.cpu_count(), python=platform.python_version(),
                torch=torch.__version__, threads=torch.get_num_threads(), device=args.device)
    if args.device.startswith('cuda'):
        info['gpu'] = torch.cuda.get_device_name(torch.device(args.device))
    for package in ('mmengine', 'mmpretrain', 'mmdet', 'mmseg', 'onnxruntime'):
        try:
            info[package] = __import__(package).__version__
        except ImportError:
            pass
    return info


def settings_text(args, shapes: Dict[str, Tuple[int, int]]) -> str:
    sizes = sorted({f'{h}x{w}' for h, w in shapes.values()})
    what = 'training step (forward + backward)' if args.mode == 'train' else \
        ('inference end to end (raw image to predictions)' if args.e2e else 'inference')
    precision = 'AMP' if args.amp else 'fp32'
    extras = [n for n, on in (('channels_last', args.channels_last), ('torch.compile', args.compile),
                              ('backbones only', args.backbone_only)) if on]
    return (f'{what}, {precision}, batch {args.batch_size}, {"raw image " if args.e2e else ""}'
            f'{"/".join(sizes)}{", " + ", ".join(extras) if extras else ""}; warm-up '
            f'{args.warmup}, median of {args.repeats} interleaved measurements')


def markdown(rows: List[dict], meta: dict, args, reference: Optional[str]) -> str:
    info = meta['machine']
    threads = f'{info["threads"]} thread{"s" if info["threads"] != 1 else ""}'
    device = info.get('gpu', f'{info["cpu"]} ({info["logical_cpus"]} logical CPUs), {threads}')
    lines = [f'### {meta["title"]}', '',
             f'- Machine: {device}; Python {info["python"]}, torch {info["torch"]}'
             + (f', onnxruntime {info["onnxruntime"]}' if 'onnxruntime' in info else ''),
             f'- Settings: {meta["settings"]}',
             f'- Load average (1 min) at start / end: {meta["load_start"]:.2f} / {meta["load_end"]:.2f}',
             f'- Date: {meta["date"]}', f'- Command: `{meta["command"]}`', '']
    ref = next((r for r in rows if r['label'] == reference and 'img_per_s' in r), None)
    header = ['model', 'params (M)'] + (['GFLOPs'] if any(r['flops'] for r in rows) else []) + \
        ['images/s', 'latency (ms/batch)', 'range (images/s)'] + ([f'vs {reference}'] if ref else [])
    lines += ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    for r in rows:
        label = r['label'] if r['peer'] else f'**{r["label"]}**'
        cells = [label, f'{r["params"] / 1e6:.2f}']
        if 'GFLOPs' in header:
            cells.append(f'{r["flops"] / 1e9:.3f}' if r['flops'] else '')
        if 'img_per_s' in r:
            cells += [f'{r["img_per_s"]:.1f}', f'{r["latency_ms"]:.1f}',
                      f'{r["img_per_s_min"]:.1f}-{r["img_per_s_max"]:.1f}']
            if ref:
                cells.append(f'{r["img_per_s"] / ref["img_per_s"]:.2f}x')
        else:
            cells += [f'skipped: {r["error"]}', '', ''] + ([''] if ref else [])
        lines.append('| ' + ' | '.join(cells) + ' |')
    lines += ['', 'Bold: models of the given configs; others: upstream peers. '
              'Random weights; images/s = batch / median step time.', '']
    for r in rows:
        if r.get('profile'):
            lines += [f'Profile of one step of {r["label"]} (top operators by self CPU time):', '',
                      '| operator | input shapes | calls | ms | share |', '|---|---|---|---|---|']
            lines += [f'| {p["op"]} | {p["shapes"]} | {p["calls"]} | {p["ms"]:.1f} | '
                      f'{100 * p["share"]:.1f}% |' for p in r['profile']]
            lines.append('')
    return '\n'.join(lines)


def chart(rows: List[dict], meta: dict, path: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=120)
    markers = dict(eval='o', deploy='D', onnxruntime='s', train='^')
    for variant in VARIANTS:
        for peer in (False, True):
            sel = [r for r in rows if r['variant'] == variant and r['peer'] == peer and 'img_per_s' in r]
            if not sel:
                continue
            ax.scatter([r['params'] / 1e6 for r in sel], [r['img_per_s'] for r in sel],
                       marker=markers[variant], s=55, color='tab:gray' if peer else 'tab:red',
                       label=f'{"peers" if peer else "ours"} ({variant})', zorder=3)
            for r in sel:
                ax.annotate(r['label'], (r['params'] / 1e6, r['img_per_s']), fontsize=7,
                            xytext=(4, 3), textcoords='offset points')
    ax.set_xscale('log')
    ax.set_xlabel('parameters (M, log scale)')
    ax.set_ylabel('images / s (median)')
    ax.set_title(f'{meta["title"]}\n{meta["settings_short"]}', fontsize=9)
    ax.grid(True, which='both', alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv=None):
    args = parse_args(argv)
    import torch
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device.startswith('cuda') and not torch.cuda.is_available():
        raise SystemExit('--device cuda: CUDA is not available')
    load_start = os.getloadavg()[0]
    cases, shapes = build_cases(args)
    measure(cases, args)
    load_end = os.getloadavg()[0]
    if args.profile:
        profile_cases(cases, args.profile)

    rows = [summarise(c, args.batch_size) for c in cases]
    reference = args.reference or next((r['label'] for r in rows if r['peer']), None)
    info = machine_info(args)
    command = 'python tools/analysis_tools/benchmark.py ' + shlex.join(
        sys.argv[1:] if argv is None else argv)
    where = info.get('gpu', f'{info["threads"]}-thread CPU')
    meta = dict(title=args.title or f'Speed on {where}', machine=info, command=command,
                settings=settings_text(args, shapes), date=datetime.datetime.now().isoformat(' ', 'seconds'),
                load_start=load_start, load_end=load_end, reference=reference)
    meta['settings_short'] = meta['settings'].split(';')[0]
    os.makedirs(args.out_dir, exist_ok=True)
    text = markdown(rows, meta, args, reference)
    with open(osp.join(args.out_dir, 'benchmark.md'), 'w') as f:
        f.write(text)
    with open(osp.join(args.out_dir, 'benchmark.json'), 'w') as f:
        json.dump(dict(meta=meta, args=vars(args), results=rows), f, indent=1)
    chart(rows, meta, osp.join(args.out_dir, 'benchmark.png'))
    print(text)
    print(f'[benchmark] wrote {args.out_dir}/benchmark.{{md,json,png}}')
    return rows


if __name__ == '__main__':
    main()

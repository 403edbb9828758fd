"""The models of a benchmark run and, for each, the step that is timed.

A :class:`Case` is one row of the results: a model in one variant (``eval``, ``deploy``,
``onnxruntime`` or ``train``) with the zero-argument ``step`` that runs one batch.
"""
import os.path as osp
import tempfile
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

import torch

from .models import DEFAULT_PEERS, resolve_config

VARIANTS = ('eval', 'deploy', 'onnxruntime', 'train')


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


def _num_classes(cfg) -> int:
    for key in ('head', 'bbox_head', 'decode_head'):
        head = cfg.model.get(key)
        if isinstance(head, dict) and 'num_classes' in head:
            return head['num_classes']
    return 10


def _e2e_step(model, cfg, scope: str, shape, batch: int, autocast) -> Callable[[], None]:
    """Test pipeline on in-memory uint8 images (loading steps removed) -> ``test_step``."""
    import numpy as np
    from mmcv.transforms import Compose
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import init_default_scope
    init_default_scope(scope)
    steps = cfg.get('test_pipeline') or cfg.test_dataloader.dataset.pipeline
    pipeline = Compose([dict(s) for s in steps
                        if not any(k in s['type'] for k in ('LoadImageFromFile', 'LoadAnnotations'))])
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (*shape, 3), dtype=np.uint8) for _ in range(batch)]

    def e2e():
        data = pseudo_collate([pipeline(dict(img=img, img_shape=img.shape[:2], ori_shape=img.shape[:2],
                                             img_id=0, img_path=None)) for img in images])
        with torch.inference_mode(), autocast:
            model.test_step(data)
    return e2e


def make_step(core, cfg, scope: str, args, variant: str, shape, x,
              onnx_path: Optional[str] = None) -> Callable[[], None]:
    """The function timed for one case (one batch through ``core``, a model or a backbone)."""
    device = x.device
    autocast = torch.autocast(device.type, dtype=torch.float16 if device.type == 'cuda'
                              else torch.bfloat16, enabled=args.amp)
    if variant == 'onnxruntime':
        from emo_mm.deployment import onnx_session
        session = onnx_session(onnx_path, args.threads)
        feed = {session.get_inputs()[0].name: x.cpu().numpy()}
        return lambda: session.run(None, feed)
    if args.e2e:
        return _e2e_step(core, cfg, scope, shape, args.batch_size, autocast)
    from mmengine.model import BaseModel
    full = isinstance(core, BaseModel)
    train = variant == 'train'
    from emo_mm.frameworks import get_adapter
    samples = [get_adapter(scope).random_sample(tuple(shape), train, _num_classes(cfg))
               for _ in range(x.shape[0])] if full else None
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




def _prepare(model, variant: str, args, device) -> None:
    """Put a freshly built model into the form of ``variant`` (in place)."""
    model.train(variant == 'train')
    if variant == 'deploy':
        model.backbone.switch_to_deploy()
    from emo_mm.models import emo_mm_backbones
    from emo_mm.models.fast_cpu import optimize_for_cpu
    if variant in ('eval', 'deploy') and device.type == 'cpu' and not args.no_fast_cpu \
            and emo_mm_backbones(model):
        optimize_for_cpu(model)
    if args.channels_last:
        model.to(memory_format=torch.channels_last)


def _peer_specs(args, first_scope: Optional[str]) -> List[str]:
    if args.peers == ['auto']:
        return DEFAULT_PEERS.get(first_scope or 'mmpretrain', [])
    return [] if args.peers == ['none'] else list(args.peers)


def build_cases(args) -> Tuple[List[Case], Dict[str, Tuple[int, int]]]:
    """Build every model of the run and its cases (rows); returns them and the input sizes.

    ``args`` holds the options of ``tools/analysis_tools/benchmark.py``. Our models run their
    eval / deploy forms with the CPU fast path (:func:`emo_mm.models.fast_cpu.optimize_for_cpu`)
    unless ``args.no_fast_cpu``; ONNX exports are made by :func:`emo_mm.deployment.export_onnx`
    (EMO BatchNorms folded, channels-last attention projections) for ours and the peers alike.
    """
    from mmengine.config import Config

    import emo_mm  # noqa: F401  (registry, upstream shims: SSD inference, checkpoint loading)
    from emo_mm.apis import build_model_from_cfg
    from emo_mm.frameworks import framework_of, get_adapter

    device = torch.device(args.device)
    first_scope = None
    if args.configs:
        first_scope = framework_of(Config.fromfile(resolve_config(args.configs[0])[1]))
    specs = [(s, False) for s in args.configs] + [(s, True) for s in _peer_specs(args, first_scope)]
    cases, shapes = [], {}
    onnx_dir = tempfile.mkdtemp(prefix='emo_mm_benchmark_')
    for spec, peer in specs:
        name, path = resolve_config(spec)
        cfg = Config.fromfile(path)
        if not peer:
            cfg.merge_from_dict(args.cfg_options)
        scope = framework_of(cfg)
        shape = tuple(args.shape) * (2 if len(args.shape) == 1 else 1) if args.shape \
            else get_adapter(scope).input_shape(cfg)
        shapes[name] = shape
        if scope == 'mmpretrain' and cfg.model.get('data_preprocessor') is None \
                and cfg.get('data_preprocessor'):
            cfg.model.data_preprocessor = dict(type='ClsDataPreprocessor', **cfg.data_preprocessor)
        if scope != 'mmpretrain' and (args.backbone_only or args.onnx):
            print(f'[benchmark] {name}: --backbone-only / --onnx apply to classifiers; '
                  f'measured as a whole model without ONNX')
        variants = ['train'] if args.mode == 'train' else ['eval']
        model = build_model_from_cfg(cfg, device=str(device))
        if args.deploy and args.mode == 'infer' and hasattr(getattr(model, 'backbone', None),
                                                            'switch_to_deploy'):
            variants.append('deploy')
        if args.onnx and scope == 'mmpretrain':
            variants.append('onnxruntime')
        x = torch.randn(args.batch_size, 3, *shape, device=device)
        if args.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        backbone_only = args.backbone_only and scope == 'mmpretrain'
        for variant in variants:
            if variant != variants[0]:
                model = build_model_from_cfg(cfg, device=str(device))
            _prepare(model, variant, args, device)
            core = model.backbone if backbone_only else model
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
                case.step = make_step(core, cfg, scope, args, variant, shape, x, onnx_path)
            except Exception as err:  # a peer that cannot be exported / run: reported, not fatal
                case.error = f'{type(err).__name__}: {str(err).splitlines()[0][:200]}'
                print(f'[benchmark] {case.label}: skipped ({case.error})')
            cases.append(case)
    return cases, shapes

"""Export to every runtime a phone or a CPU box runs: ONNX, ExecuTorch, LiteRT, ncnn, MNN,
OpenVINO, Core ML (``tools/deployment/export.py``; docs/deployment.md).

Each backend (one module here) converts the deploy form of a model (our backbones'
BatchNorms folded, the rank <= 4 graph of :func:`emo_mm.models.layers.tracing.exporting`) for a
``1 x 3 x H x W`` normalised image, then runs the artefact on a sample with its own runtime and
compares it with PyTorch (same module, eager). Core ML does not run on Linux: there the saved
program is checked instead (Core ML ops only, rank <= 5). The packages come with
``make install-mobile`` (requirements/mobile.txt).

Example:
    >>> sorted(BACKENDS)
    ['coreml', 'executorch', 'litert', 'mnn', 'ncnn', 'onnx', 'openvino']
    >>> get_backend('tensorrt')
    Traceback (most recent call last):
    ...
    ValueError: unknown backend 'tensorrt'; valid backends: onnx, executorch, litert, ncnn, mnn, openvino, coreml
"""
import json
import os
import os.path as osp
import time
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn

from .base import (PARTS, Backend, BackendUnavailable, ExportModule, UnsupportedModel,
                   artefact_size, exporting, max_errors, sample)
from .coreml import CoreMlBackend
from .executorch import ExecuTorchBackend
from .litert import LiteRtBackend
from .mnn import MnnBackend
from .ncnn import NcnnBackend
from .onnx import OnnxBackend
from .openvino import OpenVinoBackend

#: Every backend, in the order of the docs' table.
BACKENDS: Dict[str, Backend] = {
    b.name: b for b in (OnnxBackend(), ExecuTorchBackend(), LiteRtBackend(), NcnnBackend(),
                        MnnBackend(), OpenVinoBackend(), CoreMlBackend())}
#: Default tolerance on the max absolute difference from PyTorch.
ATOL = 1e-4
#: Smallest input side: the stride-32 map of the backbones must be at least 1 x 1.
MIN_SIZE = 32


def get_backend(name: str) -> Backend:
    """The backend called ``name``; ``ValueError`` naming the valid ones otherwise."""
    if name not in BACKENDS:
        raise ValueError(f'unknown backend {name!r}; valid backends: {", ".join(BACKENDS)}')
    return BACKENDS[name]


def check_shape(shape) -> Tuple[int, int]:
    """``(H, W)`` as ints; ``ValueError`` unless two sides of at least :data:`MIN_SIZE`."""
    shape = tuple(shape)
    if len(shape) != 2 or not all(isinstance(s, int) and s >= MIN_SIZE for s in shape):
        raise ValueError(f'shape must be two integers H W, each >= {MIN_SIZE}, got {shape}')
    return shape


@dataclass
class ExportResult:
    """What :func:`export_model` wrote and found."""
    backend: str
    path: str
    files: List[str]
    size: int
    output_shapes: List[List[int]]
    ran: bool
    max_error: Optional[float] = None
    errors: List[float] = field(default_factory=list)
    scales: List[float] = field(default_factory=list)
    atol: float = ATOL
    convert_s: float = 0.
    latency_ms: Optional[float] = None
    details: dict = field(default_factory=dict)

    @property
    def relative_error(self) -> Optional[float]:
        """The largest ``error / max(1, scale)`` over the outputs (None when not run)."""
        if not self.ran:
            return None
        return max(e / max(1., s) for e, s in zip(self.errors, self.scales))

    @property
    def ok(self) -> bool:
        """Written and, where it ran, every output within ``atol * max(1, max |PyTorch
        output|)`` of PyTorch: ``atol`` absolute for outputs within [-1, 1], relative to the
        output's scale beyond (float32 rounding grows with the magnitude)."""
        return bool(self.files) and (not self.ran or self.relative_error <= self.atol)


def median_ms(infer, x: torch.Tensor, runs: int, warmup: int = 2) -> float:
    """Median wall time of ``infer(x)`` over ``runs`` calls, in milliseconds."""
    for _ in range(warmup):
        infer(x)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        infer(x)
        times.append(time.perf_counter() - start)
    return 1e3 * sorted(times)[len(times) // 2]


def export_model(model: nn.Module, backend: str, shape, path: str, part: str = 'model',
                 atol: float = ATOL, seed: int = 0, meta: Optional[dict] = None,
                 bench: int = 0) -> ExportResult:
    """Convert ``model`` for ``backend`` at input ``1 x 3 x H x W`` to ``path``, run it on a
    seeded normal sample where the runtime exists here and compare with PyTorch.

    Args:
        model (nn.Module): Classifier, detector / segmentor (raw head outputs) or a bare
            backbone, in train or deploy form (it is not changed).
        backend (str): One of :data:`BACKENDS`.
        shape (tuple[int, int]): Input ``(H, W)``.
        path (str): The artefact (``.onnx``, ``.pte``, ...; side files next to it). A
            ``<path stem>.json`` with the input / outputs / check is written beside it.
        part (str): ``'model'`` (the whole model's tensors) or ``'backbone'`` (its feature maps).
        atol (float): Tolerance on the max absolute difference from PyTorch, per output
            multiplied by ``max(1, max |output|)`` (see :attr:`ExportResult.ok`).
        seed (int): Seed of the sample.
        meta (dict, optional): Extra fields for the ``.json`` (e.g. the normalisation).
        bench (int): Time this many runs of the loaded artefact (after 2 warm-up runs) and
            report the median as ``latency_ms`` (the runtime's CPU path, :data:`THREADS`
            threads). Defaults to 0 (no timing).

    Raises:
        ValueError: Unknown backend / part, bad shape.
        BackendUnavailable: A package of the backend is missing.
        UnsupportedModel: The backend's converter rejected the model.
    """
    impl = get_backend(backend)
    shape = check_shape(shape)
    if not path.endswith(impl.suffix):
        raise ValueError(f"backend '{backend}' writes a {impl.suffix} artefact, got path {path!r}")
    impl.check_installed()
    module = ExportModule(model, part).eval()
    x = sample(shape, seed)
    with torch.no_grad():
        expected = module(x)
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    start = time.perf_counter()
    try:
        with torch.no_grad(), exporting():
            files = impl.convert(module, x, path)
    except (BackendUnavailable, KeyboardInterrupt):
        raise
    except Exception as e:
        raise UnsupportedModel(f"backend '{backend}' could not convert {type(model).__name__} "
                               f'({part}): {type(e).__name__}: {e}') from e
    result = ExportResult(backend, path, files, artefact_size(files),
                          [list(t.shape) for t in expected], impl.runs_here, atol=atol,
                          convert_s=time.perf_counter() - start)
    if impl.runs_here:
        infer = impl.load(path)
        result.errors = max_errors(expected, infer(x))
        result.scales = [float(t.abs().max()) if t.numel() else 0. for t in expected]
        result.max_error = max(result.errors)
        if bench:
            result.latency_ms = median_ms(infer, x, bench)
    else:
        result.details = impl.inspect(path)
    info = dict(asdict(result), ok=result.ok, relative_error=result.relative_error, input=dict(name='input', shape=[1, 3, *shape]),
                part=part, **(meta or {}))
    with open(path[:-len(impl.suffix)] + '.json', 'w') as f:
        json.dump(info, f, indent=1)
    return result


__all__ = ['ATOL', 'BACKENDS', 'PARTS', 'Backend', 'BackendUnavailable', 'ExportModule',
           'ExportResult', 'UnsupportedModel', 'check_shape', 'export_model', 'get_backend']

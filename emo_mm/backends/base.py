"""What every export backend shares: the exported module, the sample, the comparison.

A backend converts :class:`ExportModule` (the deploy form of a model, flat tuple of output
tensors, traced with :func:`emo_mm.models.layers.tracing.exporting` on) for a ``1 x 3 x H x W``
input, runs the artefact on the sample where its runtime exists on Linux, and is compared with
the same module run eagerly in PyTorch.
"""
import importlib
import os
import os.path as osp
import re
from typing import Callable, Dict, List, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn

from ..deployment import ExportWrapper, deploy_copy
from ..models.layers.tracing import exporting

#: Threads a runtime uses by default (the CI machines have 2 cores); :func:`set_threads` changes
#: it for the artefacts loaded afterwards.
THREADS = 2
_threads = THREADS


def threads() -> int:
    """Threads the runtimes are loaded with: :data:`THREADS` unless :func:`set_threads` said
    otherwise."""
    return _threads


def set_threads(count: int) -> int:
    """Load the next artefacts with ``count`` threads (e.g. 1 for a benchmark pinned to one
    core); returns the previous count.

    Example:
        >>> previous = set_threads(1)
        >>> threads()
        1
        >>> _ = set_threads(previous)
    """
    global _threads
    if not isinstance(count, int) or count < 1:
        raise ValueError(f'threads must be a positive int, got {count!r}')
    previous, _threads = _threads, count
    return previous


class BackendUnavailable(RuntimeError):
    """A package of the backend is not installed (``make install-mobile`` installs them)."""


class UnsupportedModel(ValueError):
    """The backend cannot take this model (e.g. a kind of model it has no ops for)."""


def flatten(out) -> Tuple[torch.Tensor, ...]:
    """The tensors of a (nested) tuple / list output, depth first."""
    if isinstance(out, torch.Tensor):
        return (out, )
    return tuple(t for item in out for t in flatten(item))


class ExportModule(nn.Module):
    """``image -> tuple of tensors``: the logits of a classifier, the feature maps of a backbone
    (``part='backbone'``), the raw head outputs of a detector / segmentor (``mode='tensor'``:
    no NMS, no resize), in deploy form (our backbones' BatchNorms folded, on a copy)."""

    def __init__(self, model: nn.Module, part: str = 'model'):
        super().__init__()
        if part not in PARTS:
            raise ValueError(f'part must be one of {", ".join(PARTS)}, got {part!r}')
        if part == 'backbone' and not hasattr(model, 'backbone'):
            raise ValueError(f'part=backbone: {type(model).__name__} has no .backbone')
        if part == 'model' and hasattr(model, 'roi_head'):
            raise UnsupportedModel(
                f'{type(model).__name__} is a two-stage detector: its RoI head needs image '
                'metas, which an image -> tensors export has not. Export its backbone '
                '(part=backbone), or the whole detector to ONNX with '
                'tools/deployment/mmdeploy_onnx.py.')
        self.inner = ExportWrapper(deploy_copy(model.eval()), backbone_only=part == 'backbone')

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        return flatten(self.inner(x))


PARTS = ('model', 'backbone')


def require(backend: str, modules: Sequence[Tuple[str, str]]) -> None:
    """Import each ``(module, pip requirement)``; raise :class:`BackendUnavailable` naming the
    backend, the missing package and the make target otherwise."""
    for module, requirement in modules:
        try:
            importlib.import_module(module)
        except ImportError as e:
            raise BackendUnavailable(
                f"backend '{backend}' needs the package {requirement} (module {module!r}), which "
                f'cannot be imported here ({e}). Install the export backends with '
                f'`make install-mobile` (requirements/mobile.txt).') from e


class Backend:
    """One export backend. Subclasses set the class attributes and implement :meth:`convert`
    and (where the runtime exists on Linux) :meth:`load`."""

    #: Name on the command line.
    name = ''
    #: ``(module, pip requirement)`` of everything :meth:`convert` / :meth:`run` import.
    packages: Tuple[Tuple[str, str], ...] = ()
    #: Suffix of the artefact (the file that is printed and sized).
    suffix = ''
    #: Whether the runtime runs on Linux (Core ML does not: conversion and checks only).
    runs_here = True
    #: One line for the docs / ``--help``.
    summary = ''

    def check_installed(self) -> None:
        require(self.name, self.packages)

    def convert(self, module: ExportModule, x: torch.Tensor, path: str) -> List[str]:
        """Write the artefact for ``module`` at input ``x`` to ``path`` (+ its side files);
        returns every file written. Called with :func:`exporting` on and gradients off."""
        raise NotImplementedError

    def load(self, path: str) -> Callable[[torch.Tensor], List[np.ndarray]]:
        """Load the artefact at ``path`` into the runtime (CPU, :func:`threads` threads, fp32);
        returns ``infer(x) -> outputs`` in the module's order."""
        raise NotImplementedError

    def run(self, path: str, x: torch.Tensor) -> List[np.ndarray]:
        """Load the artefact at ``path`` and run it on ``x``."""
        return self.load(path)(x)

    def inspect(self, path: str) -> Dict[str, object]:
        """Checks of an artefact that cannot run here (raise on a failure); details to print."""
        return {}


def artefact_size(files: Sequence[str]) -> int:
    """Bytes of the files (and directories, e.g. a ``.mlpackage``) written."""
    total = 0
    for f in files:
        if osp.isdir(f):
            for root, _, names in os.walk(f):
                total += sum(osp.getsize(osp.join(root, n)) for n in names)
        elif osp.isfile(f):
            total += osp.getsize(f)
    return total


def max_errors(expected: Sequence[torch.Tensor], got: Sequence[np.ndarray]) -> List[float]:
    """Max absolute error per output; raises ``AssertionError`` on a count / shape mismatch."""
    if len(got) != len(expected):
        raise AssertionError(f'{len(got)} outputs from the backend, {len(expected)} from PyTorch')
    errors = []
    for i, (ref, out) in enumerate(zip(expected, got)):
        ref = ref.detach().float().numpy()
        out = np.asarray(out, dtype=np.float32)
        if out.shape != ref.shape and out.size == ref.size:  # e.g. ncnn drops the batch axis
            out = out.reshape(ref.shape)
        if out.shape != ref.shape:
            raise AssertionError(f'output {i}: shape {out.shape} from the backend, {ref.shape} '
                                 'from PyTorch')
        errors.append(float(np.abs(out - ref).max()) if ref.size else 0.)
    return errors


def output_index(name: str) -> int:
    """Sort key of a runtime's output names (``out0``, ``output_1``, ...): the last number."""
    digits = re.findall(r'\d+', name)
    return int(digits[-1]) if digits else 0


def sample(shape: Tuple[int, int], seed: int = 0) -> torch.Tensor:
    """The check input: ``1 x 3 x H x W`` standard normal (a normalised image's range)."""
    return torch.randn(1, 3, *shape, generator=torch.Generator().manual_seed(seed))


__all__ = ['Backend', 'BackendUnavailable', 'UnsupportedModel', 'ExportModule', 'PARTS',
           'THREADS', 'artefact_size', 'exporting', 'flatten', 'max_errors', 'output_index',
           'require', 'sample', 'set_threads', 'threads']

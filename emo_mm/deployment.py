"""ONNX export of classifiers and backbones, and checks / runs with onnxruntime.

The export goes through ``torch.export`` (``torch.onnx.export(..., dynamo=True)``), which traces
shape arithmetic symbolically: with ``dynamic=True`` the window padding of the EMO attention is
computed from the actual input size inside the graph, so one file serves every batch size and
resolution (33 to 8192 pixels), including sizes that are not multiples of the window.

What is exported is the form runtimes like: the BatchNorms of our backbones (EMO, EMOv2, EdgeFormer) folded
(the deploy form, on a copy of the model), constants folded by the exporter's optimiser, and the
attention projections rewritten to channels-last GEMMs
(:func:`emo_mm.onnx_passes.channels_last_projections`; 1.2-1.5x faster in onnxruntime).

Example:
    >>> from emo_mm.apis import build_model_from_cfg
    >>> model = build_model_from_cfg('configs/cls/emo2/emo2-1m_8xb128_in1k.py').eval()
    >>> export_onnx(model, 'emo2_1m.onnx', (224, 224), dynamic=True)  # doctest: +SKIP
    >>> verify_onnx(model, 'emo2_1m.onnx', [(1, 224, 224), (2, 250, 301)])  # doctest: +SKIP
"""
import copy
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn

from .onnx_passes import channels_last_projections

#: Smallest opset accepted (exact GELU, LayerNormalization); the exporter's default is used when
#: it is newer.
MIN_OPSET = 17
#: Range of the dynamic axes. The models accept H, W >= 32; the exported graph assumes that the
#: stride-32 map is larger than 1 x 1, hence 33.
MIN_DYNAMIC_SIZE = 33
MAX_DYNAMIC_SIZE = 8192


class ExportWrapper(nn.Module):
    """The plain tensor forward that is exported: ``logits`` of a classifier, the feature maps of
    a backbone, or ``model(x, mode='tensor')`` of any other OpenMMLab model.

    Args:
        model (nn.Module): An mmpretrain ``ImageClassifier`` (or any mmengine ``BaseModel``
            taking ``mode='tensor'``) or a bare backbone.
        backbone_only (bool): Export ``model.backbone`` of a full model. Defaults to False.
        data_samples (list, optional): Passed with ``mode='tensor'`` (detectors with RoI heads
            read image metas even there). Defaults to None.
    """

    def __init__(self, model: nn.Module, backbone_only: bool = False, data_samples=None):
        super().__init__()
        self.model = model.backbone if backbone_only else model
        from mmengine.model import BaseModel
        self.tensor_mode = isinstance(self.model, BaseModel)
        self.data_samples = data_samples

    def forward(self, x: torch.Tensor):
        out = self.model(x, self.data_samples, mode='tensor') if self.tensor_mode \
            else self.model(x)
        return tuple(out) if isinstance(out, (list, tuple)) else out


def output_names(model: nn.Module, shape: Tuple[int, int]) -> List[str]:
    """``['logits']`` for a single output, else ``['out0', 'out1', ...]``."""
    with torch.no_grad():
        out = model(torch.zeros(1, 3, *shape))
    if isinstance(out, torch.Tensor):
        return ['logits']
    return [f'out{i}' for i in range(len(out))]


def deploy_copy(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with the BatchNorms of its emo_mm backbones (EMO, EMOv2, EdgeFormer)
    folded (the model itself when it holds none, or they are already folded)."""
    from .models import emo_mm_backbones
    if all(backbone.deploy for backbone in emo_mm_backbones(model)):
        return model
    model = copy.deepcopy(model)
    for backbone in emo_mm_backbones(model):
        backbone.switch_to_deploy()
    return model


def export_onnx(model: nn.Module, path: str, shape: Tuple[int, int], dynamic: bool = False,
                opset: Optional[int] = None, backbone_only: bool = False,
                batch_size: int = 1, fold_bn: bool = True, max_rank: int = 4) -> List[str]:
    """Export ``model`` to ONNX at ``path``; returns the output names.

    Args:
        model (nn.Module): Classifier, backbone or other ``mode='tensor'`` model (eval mode).
        path (str): Output ``.onnx`` file.
        shape (tuple[int, int]): Input ``(H, W)`` of the example input.
        dynamic (bool): Dynamic batch, height and width (``33 <= H, W <= 8192``).
            Defaults to False.
        opset (int, optional): ONNX opset (>= 17). Defaults to the exporter's default.
        backbone_only (bool): Export the backbone of a full model. Defaults to False.
        batch_size (int): Batch of the example input. Defaults to 1.
        fold_bn (bool): Export the deploy form of our backbones (BatchNorms folded;
            ``model`` itself is not changed). Defaults to True.
        max_rank (int): Highest tensor rank in the graph. 4 (the default) suits every runtime
            (the ONNX file also feeds MNN, ncnn, OpenVINO); 8 keeps the one-copy window
            partitions, 3-5% faster in onnxruntime. Defaults to 4.
    """
    from .models.layers.tracing import export_max_rank
    if opset is not None and opset < MIN_OPSET:
        raise ValueError(f'opset must be >= {MIN_OPSET}, got {opset}')
    wrapper = ExportWrapper(deploy_copy(model) if fold_bn else model, backbone_only).eval()
    names = output_names(wrapper, shape)
    # torch.export specialises a dynamic dim whose example value is 1
    x = torch.randn(max(batch_size, 2) if dynamic else batch_size, 3, *shape)
    dynamic_shapes = None
    if dynamic:
        dim = torch.export.Dim
        dynamic_shapes = ({0: dim('batch', min=1, max=MAX_DYNAMIC_SIZE),
                           2: dim('height', min=MIN_DYNAMIC_SIZE, max=MAX_DYNAMIC_SIZE),
                           3: dim('width', min=MIN_DYNAMIC_SIZE, max=MAX_DYNAMIC_SIZE)}, )
    with torch.no_grad(), _size_oblivious(), export_max_rank(max_rank):
        program = torch.export.export(wrapper, (x, ), dynamic_shapes=dynamic_shapes,
                                      prefer_deferred_runtime_asserts_over_guards=True)
    kwargs = dict(input_names=['input'], output_names=names, dynamo=True, external_data=False,
                  verbose=False)
    if opset is not None:
        kwargs['opset_version'] = opset
    onnx_model = torch.onnx.export(program, (x, ), **kwargs).model_proto
    channels_last_projections(onnx_model)
    import onnx
    onnx.save(onnx_model, path)
    return names


def _size_oblivious():
    """Symbolic shape reasoning that does not special-case sizes 0 / 1 (an experimental torch
    switch): otherwise reshapes such as ``(B, n1 * 7, ...) -> (B, 7, n1, ...)`` pin ``n1`` to
    the example's value. The resulting graph is valid for every size (checked in the tests)."""
    import contextlib
    try:
        from torch.fx.experimental import _config
        return _config.patch(backed_size_oblivious=True)
    except (ImportError, AttributeError):  # pragma: no cover - older / newer torch
        return contextlib.nullcontext()


def onnx_opset(path: str) -> int:
    """The default-domain opset of an ONNX file."""
    import onnx
    model = onnx.load(path, load_external_data=False)
    return next(o.version for o in model.opset_import if o.domain in ('', 'ai.onnx'))


def onnx_session(path: str, threads: Optional[int] = None, options=None):
    """An onnxruntime CPU ``InferenceSession`` (all graph optimisations, ``threads`` intra-op),
    on ``options`` (an ``onnxruntime.SessionOptions``, e.g. with profiling on) where given."""
    import onnxruntime as ort
    options = options or ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(path, options, providers=['CPUExecutionProvider'])


def run_onnx(session, x: torch.Tensor) -> List[np.ndarray]:
    """Run an onnxruntime session on ``x`` (NCHW float32)."""
    name = session.get_inputs()[0].name
    return session.run(None, {name: x.detach().cpu().numpy().astype(np.float32)})


@torch.no_grad()
def verify_onnx(model: nn.Module, path: str, shapes: Sequence[Tuple[int, int, int]],
                backbone_only: bool = False, rtol: float = 1e-4, atol: float = 1e-4,
                seed: int = 0) -> List[float]:
    """Compare onnxruntime with PyTorch on inputs of ``(batch, H, W)`` shapes.

    Returns the max absolute error per shape; raises ``AssertionError`` with the details when
    an output differs by more than ``atol + rtol * |torch output|`` anywhere.
    """
    wrapper = ExportWrapper(model, backbone_only).eval()
    session = onnx_session(path)
    generator = torch.Generator().manual_seed(seed)
    errors = []
    for batch, h, w in shapes:
        x = torch.randn(batch, 3, h, w, generator=generator)
        expected = wrapper(x)
        expected = [expected] if isinstance(expected, torch.Tensor) else list(expected)
        got = run_onnx(session, x)
        assert len(got) == len(expected), f'{len(got)} ONNX outputs, {len(expected)} expected'
        worst = 0.
        for i, (ref, out) in enumerate(zip(expected, got)):
            ref = ref.float().numpy()
            assert ref.shape == out.shape, f'output {i} at {(batch, h, w)}: shape {out.shape} vs {ref.shape}'
            err = np.abs(out - ref)
            worst = max(worst, float(err.max()))
            if not np.all(err <= atol + rtol * np.abs(ref)):
                raise AssertionError(f'ONNX output {i} at input {(batch, 3, h, w)} differs from '
                                     f'PyTorch: max abs error {err.max():.3g} (rtol={rtol}, atol={atol})')
        errors.append(worst)
    return errors

"""Compatibility shim for mmdeploy 1.3.1 on torch >= 2.9 (to be merged into :mod:`emo_mm.compat`).

Break: ``mmdeploy.apis.onnx.export`` (behind ``torch2onnx``) calls ``torch.onnx.export`` without
``dynamo=``. Since torch 2.9 that means the ``torch.export``-based exporter, which traces into
mmdeploy's ONNX custom ops (multiclass NMS, ...) and fails (``TorchExportError: ... The tensor
has a non-zero number of elements, but its data is not allocated yet``), and which ignores
mmdeploy's symbolic rewriters. mmdeploy is written for the TorchScript exporter, which torch
2.14 still ships.

Shim: an mmdeploy function rewriter of ``torch.onnx.export`` that passes ``dynamo=False``. It is
active only inside mmdeploy's own ``RewriterContext`` (i.e. during mmdeploy's export), so other
callers of ``torch.onnx.export`` keep torch's default. Registered when (or as soon as)
``mmdeploy.core`` is imported, while the installed versions need it (:func:`needed`).
"""
import contextlib
import inspect

from .compat import _dist_version, _on_import, _version_le

__all__ = ['needed', 'apply', 'disabled']

#: Last mmdeploy release without ``dynamo=False`` in its export (no fixed release exists yet).
LAST_BROKEN_MMDEPLOY = '1.3.1'


def needed() -> bool:
    """Whether the installed torch defaults to the dynamo exporter and the installed mmdeploy
    does not ask for the TorchScript one."""
    if _dist_version('mmdeploy') is None or not _version_le('mmdeploy', LAST_BROKEN_MMDEPLOY):
        return False
    import torch.onnx
    default = inspect.signature(torch.onnx.export).parameters.get('dynamo')
    return default is not None and default.default is True


def _torchscript_export(*args, **kwargs):
    from mmdeploy.core import FUNCTION_REWRITER
    kwargs.setdefault('dynamo', False)
    return FUNCTION_REWRITER.get_context().origin_func(*args, **kwargs)


def _register(_module) -> None:
    from mmdeploy.core import FUNCTION_REWRITER
    records = FUNCTION_REWRITER._registry._rewrite_records.get('torch.onnx.export', [])
    if not any(r.get('_object') is _torchscript_export for r in records):
        FUNCTION_REWRITER.register_rewriter('torch.onnx.export')(_torchscript_export)


def apply() -> bool:
    """Register the shim (now or on import of ``mmdeploy.core``) if :func:`needed`."""
    if not needed():
        return False
    _on_import('mmdeploy.core', _register)
    return True


@contextlib.contextmanager
def disabled():
    """Unregister the shim inside the block (tests reproduce the break with it)."""
    from mmdeploy.core import FUNCTION_REWRITER
    FUNCTION_REWRITER._registry.remove_record(_torchscript_export)
    try:
        yield
    finally:
        if needed():
            _register(None)

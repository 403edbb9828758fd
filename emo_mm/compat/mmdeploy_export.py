"""Break 8 (``docs/upstream_issues.md``): mmdeploy <= 1.3.1 exports with torch's default exporter.

``mmdeploy.apis.onnx.export`` (behind ``torch2onnx``) calls ``torch.onnx.export`` without
``dynamo=``. Since torch 2.9 that means the ``torch.export``-based exporter, which traces into
mmdeploy's ONNX custom ops (multiclass NMS, ...) and fails (``TorchExportError: ... The tensor
has a non-zero number of elements, but its data is not allocated yet``), and which ignores
mmdeploy's symbolic rewriters. mmdeploy is written for the TorchScript exporter, which torch
2.14 still ships.

Shim: an mmdeploy function rewriter of ``torch.onnx.export`` that passes ``dynamo=False``. It is
active only inside mmdeploy's own ``RewriterContext`` (i.e. during mmdeploy's export), so other
callers of ``torch.onnx.export`` keep torch's default. Registered when (or as soon as)
``mmdeploy.core`` is imported.
"""
import inspect
import sys

from .import_hook import cancel_on_import, on_import
from .shim import Shim, dist_version, version_le

__all__ = ['MMDEPLOY_EXPORT']

#: Last mmdeploy release without ``dynamo=False`` in its export (no fixed release exists yet).
LAST_BROKEN_MMDEPLOY = '1.3.1'


def _needed() -> bool:
    """Whether mmdeploy is installed at a broken version and torch defaults to the dynamo
    exporter."""
    if dist_version('mmdeploy') is None or not version_le('mmdeploy', LAST_BROKEN_MMDEPLOY):
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


def _apply() -> None:
    on_import('mmdeploy.core', _register)


def _revert() -> None:
    cancel_on_import('mmdeploy.core', _register)
    if 'mmdeploy.core' in sys.modules:
        from mmdeploy.core import FUNCTION_REWRITER
        FUNCTION_REWRITER._registry.remove_record(_torchscript_export)


MMDEPLOY_EXPORT = Shim('mmdeploy_export', _needed, _apply, _revert)

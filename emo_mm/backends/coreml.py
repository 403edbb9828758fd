"""Core ML ML program (``.mlpackage``, iOS 17 / macOS 14, fp32) by coremltools from
``torch.export``. Core ML runs only on Apple systems: on Linux the conversion must succeed and
:meth:`CoreMlBackend.inspect` checks the saved program (every op a Core ML op of the target
opset, every tensor of rank <= 5).

torch 2.14's decompositions leave ``aten.alias`` nodes, which coremltools 9.0 (tested up to
torch 2.7) does not know; they are identities and are dropped first. The TorchScript route
fails on our models (``int`` of a shape tensor in the attention's padding).
"""
import torch

from .base import Backend

#: Highest tensor rank Core ML takes.
MAX_RANK = 5


def drop_aliases(program: 'torch.export.ExportedProgram') -> 'torch.export.ExportedProgram':
    """Remove ``aten.alias`` / ``alias_copy`` nodes (identities) from ``program`` in place."""
    aliases = {torch.ops.aten.alias.default, torch.ops.aten.alias_copy.default}
    graph = program.graph
    for node in list(graph.nodes):
        if node.op == 'call_function' and node.target in aliases:
            node.replace_all_uses_with(node.args[0])
            graph.erase_node(node)
    graph.lint()
    return program


class CoreMlBackend(Backend):
    name = 'coreml'
    packages = (('coremltools', 'coremltools'), )
    suffix = '.mlpackage'
    runs_here = False
    summary = ('Core ML ML program (iOS 17, fp32); converted and checked here, runs on Apple '
               'devices only')

    def convert(self, module, x, path):
        import coremltools as ct
        program = drop_aliases(torch.export.export(module, (x, )).run_decompositions({}))
        model = ct.convert(program, inputs=[ct.TensorType(name='input', shape=tuple(x.shape))],
                           convert_to='mlprogram', minimum_deployment_target=ct.target.iOS17,
                           compute_precision=ct.precision.FLOAT32)
        model.save(path)
        return [path]

    def inspect(self, path):
        import coremltools as ct
        from coremltools.converters.mil.mil.ops.registry import SSAOpRegistry
        spec = ct.utils.load_spec(path)
        if spec.WhichOneof('Type') != 'mlProgram':
            raise AssertionError(f'{path} is not an ML program')
        target = ct.target.iOS17
        ops, rejected, max_rank = {}, set(), 0
        for function in spec.mlProgram.functions.values():
            for op in function.block_specializations[function.opset].operations:
                ops[op.type] = ops.get(op.type, 0) + 1
                if target not in SSAOpRegistry.core_ops.get(op.type, {}):
                    rejected.add(op.type)
                for out in op.outputs:
                    if out.type.WhichOneof('type') == 'tensorType':
                        max_rank = max(max_rank, out.type.tensorType.rank)
        if rejected:
            raise AssertionError(f'ops Core ML (iOS 17 opset) does not have: {sorted(rejected)}')
        if max_rank > MAX_RANK:
            raise AssertionError(f'a tensor of rank {max_rank} (Core ML takes <= {MAX_RANK})')
        return {'ops': ops, 'max_rank': max_rank}

"""Graph rewrites of exported ONNX models that make runtimes faster (same function).

:func:`channels_last_projections`: the EMO attention applies its 1x1 ``qk`` / ``v`` projections
to an NCHW map and then moves the channels last (``Transpose(0, 2, 3, 1)``) to split the map
into attention windows. onnxruntime merges that transpose with the window partition into one
8-D transpose whose innermost dimension is strided in memory, which made transposes ~30 % of
the EMOv2 runtime. Computing the projection as a ``MatMul`` on the channels-last map instead
(``Transpose -> MatMul -> Add [-> activation]``, the same GEMM) leaves only transposes that
onnxruntime cancels (the LayerNorm's) or runs on contiguous channel vectors.

Example:
    >>> import onnx
    >>> model = onnx.load('emo2_1m.onnx')  # doctest: +SKIP
    >>> channels_last_projections(model)  # doctest: +SKIP
    9
"""
from typing import Dict, List

import numpy as np

#: Element-wise ops allowed between the projection and the transpose (they commute with it).
_UNARY = ('Gelu', 'Relu', 'Sigmoid', 'Tanh', 'Erf')
_NHWC = [0, 2, 3, 1]


def _attr(node, name, default=None):
    for a in node.attribute:
        if a.name == name:
            return list(a.ints) if a.ints else (a.i if a.type == a.INT else a.s)
    return default


def _pointwise(node, inits: Dict[str, np.ndarray]) -> bool:
    """A 1x1, stride-1, ungrouped Conv with constant weight (and bias); it may zero-pad (the
    exporter folds the attention's window padding into the conv)."""
    if node.op_type != 'Conv' or len(node.input) < 2 or node.input[1] not in inits:
        return False
    if len(node.input) > 2 and node.input[2] and node.input[2] not in inits:
        return False
    weight = inits[node.input[1]]
    return (weight.ndim == 4 and weight.shape[2:] == (1, 1) and _attr(node, 'group', 1) == 1
            and all(v == 1 for v in _attr(node, 'strides', [1, 1]))
            and _attr(node, 'auto_pad', b'NOTSET') in (b'NOTSET', 0)
            and all(v == 1 for v in _attr(node, 'dilations', [1, 1])))


def channels_last_projections(model) -> int:
    """Rewrite ``Conv1x1 [-> unary op] -> Transpose(0, 2, 3, 1)`` chains (in place).

    Each becomes ``Transpose(0, 2, 3, 1) -> MatMul -> Add [-> unary op]``. Only chains whose
    intermediate results have no other consumer and are not graph outputs are rewritten.

    Args:
        model (onnx.ModelProto): The model (its main graph is edited).

    Returns:
        int: The number of rewritten chains.
    """
    from onnx import helper, numpy_helper
    graph = model.graph
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    consumers: Dict[str, List] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    outputs = {o.name for o in graph.output}

    def only_consumer(name):
        users = consumers.get(name, [])
        return users[0] if len(users) == 1 and name not in outputs else None

    replace, drop, count = {}, set(), 0
    for node in graph.node:
        if not _pointwise(node, inits):
            continue
        chain, nxt = [node], only_consumer(node.output[0])
        if nxt is not None and nxt.op_type in _UNARY and len(nxt.input) == 1:
            chain.append(nxt)
            nxt = only_consumer(nxt.output[0])
        if nxt is None or nxt.op_type != 'Transpose' or _attr(nxt, 'perm') != _NHWC:
            continue
        count += 1
        base = f'{node.name or node.output[0]}_nhwc'
        weight = inits[node.input[1]][:, :, 0, 0].T.copy()  # (C_in, C_out)
        w_name = f'{base}_weight'
        graph.initializer.append(numpy_helper.from_array(weight.astype(np.float32), w_name))
        source, new = node.input[0], []
        top, left, bottom, right = _attr(node, 'pads', [0, 0, 0, 0])
        if any((top, left, bottom, right)):
            pads = f'{base}_pads'
            graph.initializer.append(numpy_helper.from_array(
                np.array([0, 0, top, left, 0, 0, bottom, right], dtype=np.int64), pads))
            new.append(helper.make_node('Pad', [source, pads], [f'{base}_padded'], name=f'{base}_pad'))
            source = f'{base}_padded'
        new += [helper.make_node('Transpose', [source], [f'{base}_in'], perm=_NHWC,
                                 name=f'{base}_transpose'),
                helper.make_node('MatMul', [f'{base}_in', w_name], [f'{base}_mm'], name=f'{base}_matmul')]
        last = f'{base}_mm'
        if len(node.input) > 2 and node.input[2]:
            new.append(helper.make_node('Add', [last, node.input[2]], [f'{base}_bias'],
                                        name=f'{base}_add'))
            last = f'{base}_bias'
        if len(chain) == 2:
            act = chain[1]
            new.append(helper.make_node(act.op_type, [last], [nxt.output[0]], name=f'{base}_act',
                                        domain=act.domain))
            new[-1].attribute.extend(act.attribute)
        else:
            new[-1].output[-1] = nxt.output[0]
        replace[id(nxt)] = new
        drop.update(id(n) for n in chain)
    if count:
        nodes = []
        for node in graph.node:
            if id(node) in drop:
                continue
            nodes.extend(replace.get(id(node), [node]))
        del graph.node[:]
        graph.node.extend(nodes)
    return count

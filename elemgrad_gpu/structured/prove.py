"""Prove the sparsity pattern of dy/dx: walk the graph once, carrying ``Strands``.

See ``pattern.py`` for the representation and ``ops.py`` for the rule of each operation.
"""
from __future__ import annotations

import numpy as np
from pytensor.graph.basic import Variable
from pytensor.graph.traversal import io_toposort

from elemgrad_gpu.structured import ops
from elemgrad_gpu.structured.pattern import DEFAULT_CAP, ConstantValues, Coupled, Strands, index_dtype, same


def analyse(output: Variable, x: Variable, shapes: dict, cap: int = DEFAULT_CAP) -> Strands | Coupled | None:
    """The dependency of ``output`` on ``x`` (None: it does not depend on x's values).

    ``shapes``: the concrete shape of every graph input (Variable -> tuple). Each
    variable's strands are dropped once no later operation reads them.
    """
    n = int(np.prod(shapes[x], dtype=np.int64))
    deps: dict = {x: Strands([np.arange(n, dtype=index_dtype(n)).reshape(shapes[x])])}
    values = ConstantValues(shapes)
    nodes = io_toposort(list(shapes), [output])
    last_use = {v: k for k, node in enumerate(nodes) for v in node.inputs}
    for k, node in enumerate(nodes):
        held = [deps.get(v) for v in node.inputs]
        if all(h is None for h in held):
            continue
        coupled = [h for h in held if isinstance(h, Coupled)]
        result = max(coupled, key=lambda c: c.extent) if coupled else _apply(node, held, values, cap)
        for out in node.outputs:
            deps[out] = result
        for v in node.inputs:
            if last_use.get(v) == k and v is not output:
                deps.pop(v, None)
    return deps.get(output)


def _apply(node, held, values, cap) -> Strands | Coupled | None:
    handler = ops.handler(node.op)
    if handler is None:
        return Coupled(ops.name(node.op), -1)
    result = handler(node, held, values, cap)
    return _tidy(result, node, cap) if isinstance(result, Strands) else result


def _tidy(strands: Strands, node, cap: int) -> Strands | Coupled | None:
    """Drop empty and repeated strands; a variable over ``cap`` strands is Coupled."""
    kept = []
    for a in strands.arrays:
        if a.size == 0 or a.max() < 0 or any(same(a, b) for b in kept):
            continue
        kept.append(a)
        if len(kept) > cap:
            return Coupled(ops.name(node.op), len(strands.arrays))
    return Strands(kept) if kept else None

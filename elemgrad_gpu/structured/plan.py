"""One shape's plan for ``jacobian_diagonal``: trace, prove, choose the method, compile.

The function is traced over inputs of the call's static shapes (so slice bounds, axes and
reshapes are known numbers), then, in order:

1. elementwise (``graph.verify`` proves it): the existing fused kernel, one pass;
2. a lower-triangular chain of elementwise and cumulative operations (``rules.py``):
   one pass through the one-element surrogate;
3. a stencil-like f (every operation covered by ``region_ops.py``): the fused stencil
   kernel (``stencil.py``), one pass of our own kernels, chosen in ``diagonal.py``;
4. otherwise the pattern is proven (``prove.py``) and coloured for the diagonal
   (``colouring.py``): one forward-mode pass (a Jacobian-vector product with the
   colour's seed) per colour, read at that colour's rows; higher orders use the same
   colouring through colour-compressed copies of f (see ``_compressed``);
5. a pattern that couples too many elements is refused with ``StructureError``.

The passes of one rule or colouring call are built into ONE PyTensor function (compiled by PyTensor's
FAST_RUN mode, its C backend): all colours share the value's computation and PyTensor
fuses their elementwise work; it is not our own fused kernel.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from elemgrad_gpu.errors import InputError, StructureError
from elemgrad_gpu.structured import colouring, rules
from elemgrad_gpu.structured.pattern import Coupled, Strands, to_sparse
from elemgrad_gpu.structured.prove import analyse


PATTERN_CAP = 8192  # strands ``pattern()`` spells out (a dense triangle of up to 4096 elements)


@dataclass
class ShapePlan:
    """What one shape's call does: ``method``, ``passes`` and how to run it."""

    method: str
    passes: int
    strands: Strands | None = None
    colours: np.ndarray | None = None
    function: object = None  # the compiled PyTensor function, or None for the elementwise path
    extra: list = field(default_factory=list)  # extra arguments after the inputs (the colours)
    engine: str = "fused elementwise kernel"  # how the passes are computed


def trace(source, dtype: str, shapes: dict):
    """Symbolic inputs of the given static shapes, and the output over them (OpFromGraph inlined)."""
    inputs, output = source.trace(dtype, shapes=[shapes[name] for name in source.names])
    return inputs, _inline(output, inputs)


def _inline(output, inputs):
    """Expand OpFromGraph nodes (``pt.pad`` builds one) into their inner graphs."""
    from pytensor.compile.builders import OpFromGraph
    from pytensor.graph.replace import clone_replace
    from pytensor.graph.traversal import io_toposort

    memo: dict = {}
    for node in io_toposort(inputs, [output]):
        new_inputs = [memo.get(v, v) for v in node.inputs]
        if isinstance(node.op, OpFromGraph):
            inner = clone_replace(node.op.inner_outputs, dict(zip(node.op.inner_inputs, new_inputs)))
            memo.update(zip(node.outputs, (_inline(v, new_inputs) for v in inner)))
        elif any(a is not b for a, b in zip(new_inputs, node.inputs)):
            memo.update(zip(node.outputs, node.clone_with_new_inputs(new_inputs).outputs))
    return memo.get(output, output)


def is_elementwise(output, x) -> bool:
    from elemgrad_gpu.errors import NotElementwiseError
    from elemgrad_gpu.graph.verify import verify_elementwise

    try:
        verify_elementwise([output], x)
    except NotElementwiseError:
        return False
    return output.type.shape == x.type.shape


def prove(output, x, inputs, shapes: dict) -> Strands | None:
    """The proven pattern, or StructureError for a coupling no colouring can afford."""
    found = analyse(output, x, {v: shapes[v.name] for v in inputs})
    if isinstance(found, Coupled):
        raise refusal(found, x, shapes[x.name])
    shape = shapes[x.name]
    out_shape = found.shape if found is not None else tuple(output.type.shape)
    if out_shape != tuple(shape):
        raise InputError(f"jacobian_diagonal needs an output of the shape of '{x.name}' {tuple(shape)}; "
                         f"f returns shape {out_shape}. Its Jacobian is not square: use "
                         f"pytensor.gradient.jacobian")
    return found


def refusal(found: Coupled, x, shape) -> StructureError:
    n = int(np.prod(shape, dtype=np.int64))
    if found.extent < 0:
        what = (f"it applies {found.op} to '{x.name}', an operation whose Jacobian pattern the structure "
                f"prover does not know")
        passes = -1
        cost = "colouring cannot be planned for it"
    else:
        what = f"it applies {found.op}, which couples {found.extent} elements of '{x.name}' at once"
        passes = found.extent
        cost = (f"colouring for the diagonal would take at least {found.extent} forward passes "
                f"(x has {n} elements), no better than the full Jacobian")
    return StructureError(
        f"jacobian_diagonal cannot find a cheap exact diagonal: {what}; no exact rule covers it and {cost}. "
        f"Build the full Jacobian with pytensor.gradient.jacobian and take its diagonal, or restructure f "
        f"(e.g. pass the coupled quantity in as an input).", operation=found.op, passes=passes)


def pattern_matrix(output, x, inputs, shapes: dict):
    """The proven pattern as scipy.sparse, cumulative couplings spelled out (for small shapes)."""
    n = int(np.prod(shapes[x.name], dtype=np.int64))
    found = analyse(output, x, {v: shapes[v.name] for v in inputs}, cap=max(64, min(2 * n, PATTERN_CAP)))
    if isinstance(found, Coupled) and n > PATTERN_CAP // 2 and found.extent >= 0:
        raise InputError(f"the pattern at shape {tuple(shapes[x.name])} couples {found.extent} elements in "
                         f"{found.op}: too many entries to spell out; ask for the pattern at a smaller shape")
    if isinstance(found, Coupled):
        raise refusal(found, x, shapes[x.name])
    return to_sparse(found, n, tuple(shapes[x.name]))


def colour_plan(output, x, inputs, shapes: dict, orders: list[int]) -> ShapePlan:
    strands = prove(output, x, inputs, shapes)
    shape = tuple(shapes[x.name])
    colours = np.zeros(shape, np.int32) if strands is None else colouring.colour(strands, shape)
    count = int(colours.max()) + 1
    method = "colouring" if count > 1 or strands is None else "rule: permutation fixes the diagonal"
    function, engine = _compile_colours(output, x, inputs, count, orders)
    return ShapePlan(method, count, strands, colours, function, [colours], engine)


def rule_plan(output, x, inputs, cumulative: list, orders: list[int]) -> ShapePlan:
    import pytensor

    sur = rules.surrogate(output, inputs, cumulative)
    outs = _repeated_grads(sur, x, output, orders)
    function = pytensor.function(inputs, outs, mode="FAST_RUN", on_unused_input="ignore")
    return ShapePlan(rules.rule_name(cumulative), 1, function=function,
                     engine="reverse mode through the one-element surrogate (PyTensor function)")


def _repeated_grads(g, z, value, orders: list[int]) -> list:
    """[d^k g / dz^k by repeated grad(sum(.), z) for k in orders], order 0 being ``value``."""
    import pytensor

    done = {0: value}
    current = g
    for k in range(1, max(orders) + 1):
        current = pytensor.grad(current.sum(), z, disconnected_inputs="ignore", return_disconnected="zero")
        done[k] = current
    return [done[k] for k in orders]


def _compile_colours(output, x, inputs, count: int, orders: list[int]):
    """One PyTensor function of (inputs..., colours) returning the requested orders, and
    how it computes the passes."""
    import pytensor
    import pytensor.tensor as pt

    colour = pt.tensor("colour", dtype="int32", shape=x.type.shape)
    outs, engine = None, "forward mode: one Jacobian-vector product per colour (PyTensor function)"
    if max(orders) <= 1:
        outs = _forward(output, x, colour, count, orders)
    if outs is None:
        outs = _compressed(output, x, colour, count, orders)
        engine = "reverse mode through colour-compressed copies, one per colour (PyTensor function)"
    return pytensor.function([*inputs, colour], outs, mode="FAST_RUN", on_unused_input="ignore"), engine


def _forward(output, x, colour, count: int, orders: list[int]):
    """Order 1 by Jacobian-vector products, one per colour; None if an operation has no
    forward-mode rule in PyTensor."""
    import pytensor.tensor as pt
    from elemgrad_gpu.compat import pushforward

    diagonal = pt.zeros_like(output)
    try:
        for c in range(count):
            mask = pt.eq(colour, c)
            jvp = pushforward(output, x, pt.cast(mask, x.dtype), use_op_pushforward=True,
                              disconnected_outputs="ignore")
            diagonal = pt.switch(mask, jvp, diagonal)
    except (NotImplementedError, TypeError, ValueError, AttributeError):
        return None
    return [output if k == 0 else pt.cast(diagonal, x.dtype) for k in orders]


def _compressed(output, x, colour, count: int, orders: list[int]):
    """Any order through colour-compressed copies: copy c of f reads z at colour c's
    positions and x elsewhere; restricted to colour c's rows it is elementwise in z (no
    row of colour c depends on another column of colour c), so repeated grad(sum(.), z),
    evaluated at z = x, gives d^k y_i / dx_i^k at those rows."""
    import pytensor.tensor as pt
    from pytensor.graph.replace import clone_replace

    z = x.type("z")
    total = pt.zeros_like(output)
    for c in range(count):
        mask = pt.eq(colour, c)
        copy = clone_replace(output, {x: pt.switch(mask, z, x)})
        total = pt.switch(mask, copy, total)
    outs = _repeated_grads(total, z, output, orders)
    return clone_replace(outs, {z: x})

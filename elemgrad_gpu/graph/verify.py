"""Prove that an output is elementwise in an input before differentiating by it.

For an elementwise ``y = f(x)`` the diagonal of the Jacobian is ``grad(sum(y), x)``; for
any other ``f`` that trick silently returns wrong numbers. ``verify_elementwise`` walks
the graph from ``x`` to ``y`` and tracks, for every variable that depends on the values
of ``x``, which axis of ``x`` each of its axes follows (``None``: an axis along which
``x`` is broadcast). Elementwise operations keep that map when all their dependent
inputs agree on it; broadcasting adds ``None`` axes; operations that read only shapes
cut the dependency. Anything else that touches ``x`` (reductions, cumulative
operations, indexing, sorting, concatenation, transposes, matrix products, softmax...)
is refused with a NotElementwiseError that names it.
"""
from __future__ import annotations

from typing import Sequence

from pytensor.graph.basic import Apply, Constant, Variable
from pytensor.graph.traversal import io_toposort, graph_inputs
from pytensor.raise_op import CheckAndRaise
from pytensor.tensor.basic import Alloc, TensorFromScalar, ScalarFromTensor
from pytensor.tensor.elemwise import DimShuffle, Elemwise
from pytensor.tensor.shape import Shape, Shape_i, SpecifyShape
from pytensor.compile.ops import DeepCopyOp, ViewOp

from elemgrad_gpu.errors import NotElementwiseError

AxisMap = tuple  # one entry per axis: the axis of x it follows, or None

# What each family of operations does to the elements, keyed by class-name fragments.
_KINDS = (
    (("CumOp", "Cum"), "a cumulative operation", "element i accumulates all elements before it"),
    (("Sum", "Prod", "Max", "Min", "Argmax", "CAReduce", "Mean", "All", "Any", "Norm"),
     "a reduction", "it combines many elements into one"),
    (("Softmax", "LogSoftmax"), "a softmax", "it normalizes each element by the sum over the axis"),
    (("Subtensor", "Take"), "indexing or slicing", "output element i is taken from another position"),
    (("Join", "Concatenate", "Split", "Stack"), "a concatenation or split", "it moves elements to other positions"),
    (("Sort", "ArgSort", "TopK"), "sorting", "each output depends on the order of all elements"),
    (("Dot", "Gemm", "Gemv", "Ger", "MatMul", "Blockwise", "Tensordot"),
     "a matrix product", "each output sums over many elements"),
    (("Reshape", "Flatten", "Repeat", "Tile", "Roll", "Pad"), "a reshape or rearrangement",
     "it changes which position each element lands in"),
    (("Conv", "Diff", "Convolve"), "a convolution or difference", "it mixes neighbouring elements"),
)


def describe(op) -> tuple[str, str]:
    """A human name for an operation's kind, and why it breaks elementwise structure."""
    name = type(op).__name__
    for fragments, kind, why in _KINDS:
        if any(fragment in name for fragment in fragments):
            return kind, why
    return "an operation that is not elementwise", "its output elements may depend on other input elements"


def _refuse(x_name: str, what: str, op, detail: str | None = None) -> NotElementwiseError:
    kind, why = describe(op)
    message = (
        f"{what} is not elementwise in '{x_name}': it applies {detail or kind} ({op}) to '{x_name}', "
        f"and {why}. For such a function grad(sum(y), {x_name}) is not the diagonal of the Jacobian, "
        f"so the fast path would return wrong numbers. Differentiate only by inputs that enter elementwise, "
        f"or build the full Jacobian with pytensor.gradient.jacobian."
    )
    return NotElementwiseError(message)


def _dimshuffle_map(op: DimShuffle, amap: AxisMap) -> AxisMap | None:
    """The axis map after a DimShuffle, or None when it permutes x's axes."""
    new = tuple(None if axis == "x" else amap[axis] for axis in op.new_order)
    followed = [axis for axis in new if axis is not None]
    return new if followed == sorted(followed) else None


def _pad(amap: AxisMap, ndim: int) -> AxisMap:
    return (None,) * (ndim - len(amap)) + amap


def _apply_map(node: Apply, maps: dict[Variable, AxisMap], x_name: str, what: str) -> AxisMap | None:
    """The axis map of node's outputs given those of its inputs; raise if not elementwise."""
    op = node.op
    dependent = [maps[v] for v in node.inputs if v in maps]
    if not dependent:
        return None
    if isinstance(op, (Shape, Shape_i)):
        return None  # reads the shape, not the values
    if isinstance(op, Elemwise):
        ndim = node.outputs[0].ndim
        padded = {_pad(amap, ndim) for amap in dependent}
        if len(padded) > 1:
            raise _refuse(x_name, what, op, "an elementwise operation between differently aligned copies")
        return padded.pop()
    if isinstance(op, DimShuffle):
        new = _dimshuffle_map(op, dependent[0])
        if new is None:
            raise _refuse(x_name, what, op, "a transpose")
        return new
    first_only = isinstance(op, (Alloc, SpecifyShape, CheckAndRaise, ViewOp, DeepCopyOp,
                                 TensorFromScalar, ScalarFromTensor))
    if first_only and node.inputs[0] in maps and len(dependent) == 1:
        return _pad(maps[node.inputs[0]], node.outputs[0].ndim)
    raise _refuse(x_name, what, op)


def verify_elementwise(outputs: Sequence[Variable], x: Variable, *, x_name: str | None = None,
                       what: str = "the output") -> None:
    """Raise NotElementwiseError unless every output is elementwise in ``x``.

    Output element i may depend on element i of ``x`` only (after NumPy broadcasting);
    broadcasting against other inputs or constants, and values computed from shapes
    only, are fine. Graphs that do not depend on ``x`` at all pass.
    """
    x_name = x_name or x.name or "x"
    maps: dict[Variable, AxisMap] = {x: tuple(range(x.ndim))}
    inputs = [v for v in graph_inputs(outputs) if not isinstance(v, Constant)]
    for node in io_toposort(list(set(inputs) | {x}), list(outputs)):
        amap = _apply_map(node, maps, x_name, what)
        if amap is not None:
            maps.update({out: amap for out in node.outputs})
    identity = tuple(range(x.ndim))
    for k, y in enumerate(outputs):
        amap = maps.get(y)
        if amap is not None and amap[len(amap) - x.ndim:] != identity:
            raise NotElementwiseError(
                f"{what} is not elementwise in '{x_name}': its axes follow the axes of '{x_name}' "
                f"in another order or place ({amap}), so output element i is not computed from element i."
            )

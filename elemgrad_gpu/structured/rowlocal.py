"""Prove that an output is row-local in an input: row i of the output depends on row i of the input only.

A row is the vector of ``k`` values along the input's last axis (the block axis); every
other axis is a batch axis. The proof walks the graph from ``x`` to the outputs, as
``graph/verify.py`` does for elementwise functions, and keeps for every variable that
depends on ``x`` an axis map with one entry per axis:

* an integer ``i``: the axis follows batch axis ``i`` of ``x`` (element ``[.., r, ..]``
  depends only on rows of ``x`` with index ``r`` on that axis);
* ``ROW``: an axis inside the row (its positions may depend on the whole row);
* ``None``: an axis along which the dependency is broadcast (length 1, or constant).

The invariant: every batch axis of ``x`` appears exactly once, in increasing order.
Operations along ``ROW`` or ``None`` axes (sums, softmax, cumulative sums, sorting,
indexing, concatenation, products with a constant matrix) keep it; anything that
reduces, indexes, reverses, moves or combines a batch axis breaks it and is refused
with a NotElementwiseError naming the operation: mixing batch and block axes is the
classic way to get silently wrong per-row Jacobians.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from pytensor.compile.ops import DeepCopyOp, ViewOp
from pytensor.graph.basic import Apply, Constant, Variable
from pytensor.graph.traversal import graph_inputs, io_toposort
from pytensor.raise_op import CheckAndRaise
from pytensor.tensor.basic import Alloc, Join, ScalarFromTensor, TensorFromScalar
from pytensor.tensor.elemwise import DimShuffle, Elemwise
from pytensor.tensor.math import Dot
from pytensor.tensor.shape import Shape, Shape_i, SpecifyShape
from pytensor.tensor.subtensor import Subtensor

from elemgrad_gpu.errors import NotElementwiseError
from elemgrad_gpu.graph.verify import describe

ROW = "row"
AxisMap = tuple  # one entry per axis: a batch axis of x (int), ROW, or None
_FIRST_ONLY = (Alloc, SpecifyShape, CheckAndRaise, ViewOp, DeepCopyOp, TensorFromScalar, ScalarFromTensor)
_ALONG_AXIS = ("CAReduce", "Sum", "Prod", "Max", "Min", "Argmax", "Softmax", "LogSoftmax", "CumOp", "All", "Any")


def _mixes(detail: str) -> NotElementwiseError:
    """What an operation does to the rows, raised inside the walk and completed by ``_refuse``
    (an error of errors.py: the library defines no exception classes elsewhere)."""
    return NotElementwiseError(detail)


def _refuse(x_name: str, what: str, op, detail: str) -> NotElementwiseError:
    kind, _ = describe(op)
    return NotElementwiseError(
        f"{what} is not row-local in '{x_name}': it applies {kind} ({op}) that {detail}, so row i of the "
        f"output would depend on other rows of '{x_name}' and per-row Jacobian blocks would be wrong. Keep "
        f"operations that mix values along the block axis (axis=) only, or build the full Jacobian with "
        f"pytensor.gradient.jacobian.")


def _pad(amap: AxisMap, ndim: int) -> AxisMap:
    return (None,) * (ndim - len(amap)) + tuple(amap)


def _checked(amap: AxisMap) -> AxisMap:
    """``amap`` if its batch axes appear once each in increasing order, else raises _mixes(...)."""
    batch = [a for a in amap if isinstance(a, int)]
    if batch != sorted(set(batch)):
        raise _mixes("combines or reorders rows along the batch axes")
    return amap


def _combine(maps: Sequence[AxisMap], ndim: int, joined: int | None = None) -> AxisMap:
    """The map of an elementwise combination (or a join along axis ``joined``) of aligned inputs."""
    result = []
    for position, entries in enumerate(zip(*(_pad(m, ndim) for m in maps))):
        known = {e for e in entries if e is not None}
        if position == joined:
            if any(isinstance(e, int) for e in known):
                raise _mixes("joins along a batch axis")
            result.append(ROW)
        elif len(known) > 1:
            raise _mixes("combines a batch axis with a different axis of the same input")
        else:
            result.append(known.pop() if known else None)
    return _checked(tuple(result))


def _axes(op, ndim: int) -> tuple[int, ...]:
    axis = op.axis
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    return tuple(int(a) % ndim for a in axes)


def _along(amap: AxisMap, axes: Sequence[int], out_ndim: int) -> AxisMap:
    """An operation along ``axes``: those must be inside rows; they are dropped or become ROW."""
    if any(isinstance(amap[a], int) for a in axes):
        raise _mixes("works along a batch axis")
    if out_ndim == len(amap):
        return tuple(ROW if a in axes else entry for a, entry in enumerate(amap))
    return tuple(entry for a, entry in enumerate(amap) if a not in axes)


def _constant_int(variable: Variable) -> int:
    if not isinstance(variable, Constant):
        raise _mixes("works along an axis chosen at run time")
    return int(np.asarray(variable.data))


def _subtensor(op: Subtensor, amap: AxisMap) -> AxisMap:
    """Indexing: a batch axis may only be taken whole (``:``); row axes may be indexed at will."""
    result = []
    for position, entry in enumerate(amap):
        index = op.idx_list[position] if position < len(op.idx_list) else slice(None)
        is_slice = isinstance(index, slice)
        if isinstance(entry, int) and not (is_slice and index == slice(None)):
            raise _mixes(f"indexes batch axis {entry} (only ':' keeps each row in place)")
        if is_slice:
            result.append(ROW if entry is None and index != slice(None) else entry)
    return tuple(result)


def _dot(node: Apply, maps: dict) -> AxisMap:
    """``x @ W`` or ``W @ x`` with one side independent of x: the contracted axis must be inside rows."""
    left, right = node.inputs
    if left in maps and right in maps:
        raise _mixes("multiplies two matrices that both depend on it")
    out_ndim = node.outputs[0].ndim
    if left in maps:
        amap = maps[left]
        _along(amap, (len(amap) - 1,), len(amap) - 1)
        return _checked(_pad(amap[:-1] + ((ROW,) if right.ndim > 1 else ()), out_ndim))
    amap = maps[right]
    contracted = max(len(amap) - 2, 0)
    _along(amap, (contracted,), len(amap) - 1)
    rest = amap[:contracted] + ((ROW,) if left.ndim > 1 else ()) + amap[contracted + 1:]
    return _checked(_pad(rest, out_ndim))


def _apply_map(node: Apply, maps: dict[Variable, AxisMap]) -> AxisMap | None:
    """The axis map of node's outputs, given its inputs' maps; NotElementwiseError (the bare detail) if it
    mixes rows."""
    op, out_ndim = node.op, node.outputs[0].ndim
    dependent = [maps[v] for v in node.inputs if v in maps]
    if not dependent or isinstance(op, (Shape, Shape_i)):
        return None
    if isinstance(op, Elemwise):
        return _combine(dependent, out_ndim)
    if isinstance(op, DimShuffle):
        return _checked(tuple(None if a == "x" else dependent[0][a] for a in op.new_order))
    if isinstance(op, Subtensor) and node.inputs[0] in maps and len(dependent) == 1:
        return _subtensor(op, dependent[0])
    if isinstance(op, Join) and node.inputs[0] not in maps:
        axis = _constant_int(node.inputs[0]) % out_ndim
        return _combine([maps[v] for v in node.inputs[1:] if v in maps], out_ndim, joined=axis)
    if isinstance(op, Dot) or type(getattr(op, "core_op", None)).__name__ in ("Dot", "Matmul"):
        return _dot(node, maps)
    name = type(op).__name__
    if hasattr(op, "axis") and any(f in name for f in _ALONG_AXIS) and len(dependent) == 1:
        return _along(dependent[0], _axes(op, len(dependent[0])), out_ndim)
    if name in ("SortOp", "ArgSortOp") and node.inputs[0] in maps and len(dependent) == 1:
        axis = _constant_int(node.inputs[1]) % len(dependent[0])
        return _along(dependent[0], (axis,), out_ndim)
    if isinstance(op, _FIRST_ONLY) and node.inputs[0] in maps and len(dependent) == 1:
        return _pad(maps[node.inputs[0]], out_ndim)
    raise _mixes("is not known to keep rows apart")


def prove_row_local(outputs: Sequence[Variable], x: Variable, *, x_name: str | None = None,
                    what: str = "the output") -> list[AxisMap | None]:
    """Raise NotElementwiseError unless every output is row-local in ``x`` (rows along x's last axis).

    An output passes when its axes are x's batch axes in order, followed by at most one
    axis inside the row (ROW, or None for a per-row single value). Returns each output's
    axis map (None for an output that does not depend on ``x``).
    """
    x_name = x_name or x.name or "x"
    batch = x.ndim - 1
    maps: dict[Variable, AxisMap] = {x: (*range(batch), ROW)}
    inputs = [v for v in graph_inputs(outputs) if not isinstance(v, Constant)]
    for node in io_toposort(list(set(inputs) | {x}), list(outputs)):
        try:
            amap = _apply_map(node, maps)
        except NotElementwiseError as mixes:
            raise _refuse(x_name, what, node.op, str(mixes)) from None
        if amap is not None:
            maps.update({out: amap for out in node.outputs})
    found = [maps.get(y) for y in outputs]
    for amap in found:
        if amap is not None and not _rows_last(amap, batch):
            raise NotElementwiseError(
                f"{what} is not row-local in '{x_name}': its axes ({_describe_map(amap)}) are not the batch axes "
                f"of '{x_name}' in order followed by one axis inside the row, so its row i is not the image of "
                f"row i of '{x_name}' (batch and block axes mixed up). Return the block axis last.")
    return found


def _rows_last(amap: AxisMap, batch: int) -> bool:
    head = tuple(amap[:batch])
    return head == tuple(range(batch)) and (len(amap) == batch or (len(amap) == batch + 1 and
                                                                     not isinstance(amap[-1], int)))


def _describe_map(amap: AxisMap) -> str:
    return ", ".join("broadcast" if a is None else "row" if a == ROW else f"batch axis {a}" for a in amap)

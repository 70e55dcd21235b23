"""How each operation carries ``Strands`` (see ``pattern.py``): exact NumPy index work.

``handler(op)`` returns a function ``(node, held, values, cap)`` where ``held`` has one
entry per node input (its Strands, or None when it does not depend on x) and ``values``
reads an x-independent operand's value; it returns the Strands of the node's output, None,
or ``Coupled``. An operation without a handler is not known to the prover.
"""
from __future__ import annotations

import numpy as np
from pytensor.compile.ops import DeepCopyOp, ViewOp
from pytensor.raise_op import CheckAndRaise
from pytensor.tensor.basic import Alloc, Join, ScalarFromTensor, TensorFromScalar
from pytensor.tensor.blockwise import Blockwise
from pytensor.tensor.elemwise import CAReduce, DimShuffle, Elemwise
from pytensor.tensor.extra_ops import CumOp
from pytensor.tensor.math import Argmax
from pytensor.tensor.shape import Reshape, Shape, Shape_i, SpecifyShape
from pytensor.tensor.sort import ArgSortOp, SortOp
from pytensor.tensor.special import LogSoftmax, Softmax
from pytensor.tensor.subtensor import (AdvancedIncSubtensor1, AdvancedSubtensor1, IncSubtensor, Subtensor,
                                       indices_from_subtensor)

from elemgrad_gpu.structured.pattern import Coupled, Strands


def name(op) -> str:
    return f"{type(op).__name__} ({op})"


def _fill(shape, like: np.ndarray) -> np.ndarray:
    return np.full(shape, -1, dtype=like.dtype)


def _static_shape(var, values) -> tuple:
    shape = var.type.shape
    if None not in shape:
        return tuple(shape)
    return tuple(int(s) for s in values(var.shape))


def _broadcast(a: np.ndarray, shape: tuple) -> np.ndarray:
    return np.broadcast_to(a.reshape((1,) * (len(shape) - a.ndim) + a.shape), shape)


def elemwise(node, held, values, cap):
    shapes = [h.shape if h is not None else tuple(1 if s is None else s for s in v.type.shape)
              for v, h in zip(node.inputs, held)]
    shape = np.broadcast_shapes(*shapes)
    return Strands([_broadcast(a, shape) for h in held if h is not None for a in h.arrays])


def dimshuffle(node, held, values, cap):
    order = node.op.new_order
    kept = [i for i in order if i != "x"]

    def one(a):
        dropped = [i for i in range(a.ndim) if i not in kept]
        t = a.transpose(kept + dropped).reshape([a.shape[i] for i in kept])
        return t[tuple(None if i == "x" else slice(None) for i in order)]

    return Strands([one(a) for a in held[0].arrays])


def _index(entry, values):
    def scalar(v):
        return None if v is None else int(values(v)) if hasattr(v, "type") else int(v)

    if isinstance(entry, slice):
        return slice(scalar(entry.start), scalar(entry.stop), scalar(entry.step))
    return scalar(entry)


def subtensor(node, held, values, cap):
    if any(h is not None for h in held[1:]):
        return Coupled(name(node.op) + ", indices computed from x", -1)
    index = tuple(_index(e, values) for e in indices_from_subtensor(node.inputs[1:], node.op.idx_list))
    return Strands([a[index] for a in held[0].arrays])


def advanced_subtensor1(node, held, values, cap):
    if held[1] is not None:
        return Coupled(name(node.op) + ", indices computed from x", -1)
    index = values(node.inputs[1]).astype(np.int64)
    return Strands([a[index] for a in held[0].arrays])


def _region(node, values):
    if isinstance(node.op, IncSubtensor):
        return tuple(_index(e, values) for e in indices_from_subtensor(node.inputs[2:], node.op.idx_list)), False
    index = values(node.inputs[2]).astype(np.int64)
    return index, len(np.unique(index)) != len(index)


def inc_subtensor(node, held, values, cap):
    """x[region] = y (set) or x[region] += y (increment)."""
    if any(h is not None for h in held[2:]):
        return Coupled(name(node.op) + ", indices computed from x", -1)
    region, repeated = _region(node, values)
    setting = node.op.set_instead_of_inc
    if repeated and not setting:
        return Coupled(name(node.op) + ", an increment at repeated indices", -1)
    shape = _static_shape(node.outputs[0], values)
    arrays = []
    for a in held[0].arrays if held[0] is not None else []:
        a = np.array(_broadcast(a, shape))
        if setting:
            a[region] = -1
        arrays.append(a)
    like = (held[0] or held[1]).arrays[0]
    for b in held[1].arrays if held[1] is not None else []:
        out = _fill(shape, like)
        out[region] = b if np.ndim(out[region]) >= b.ndim else b.reshape(np.shape(out[region]))
        arrays.append(out)
    return Strands(arrays)


def join(node, held, values, cap):
    axis = int(values(node.inputs[0]))
    parts = list(zip(node.inputs[1:], held[1:]))
    like = next(h for h in held[1:] if h is not None).arrays[0]
    shapes = [h.shape if h is not None else _static_shape(v, values) for v, h in parts]
    count = max(len(h.arrays) for _, h in parts if h is not None)
    return Strands([np.concatenate([h.arrays[k] if h is not None and k < len(h.arrays) else _fill(s, like)
                                    for (v, h), s in zip(parts, shapes)], axis=axis) for k in range(count)])


def alloc(node, held, values, cap):
    if any(h is not None for h in held[1:]):
        return Coupled(name(node.op) + ", a shape computed from x", -1)
    shape = tuple(int(values(s)) for s in node.inputs[1:])
    return Strands([_broadcast(a, shape) for a in held[0].arrays])


def reshape(node, held, values, cap):
    if held[1] is not None:
        return Coupled(name(node.op) + ", a shape computed from x", -1)
    shape = tuple(int(s) for s in values(node.inputs[1]))
    return Strands([a.reshape(shape) for a in held[0].arrays])


def first(node, held, values, cap):
    if any(h is not None for h in held[1:]):
        return Coupled(name(node.op), -1)
    return held[0]


def _axes(axis, ndim) -> tuple:
    if axis is None:
        return tuple(range(ndim))
    axis = (axis,) if np.ndim(axis) == 0 else tuple(axis)
    return tuple(int(a) % ndim for a in axis)


def _along(held, axes, node, cap):
    """(arrays moved so that ``axes`` are last and flattened to one, extent) or Coupled."""
    a0 = held.arrays[0]
    extent = int(np.prod([a0.shape[a] for a in axes], dtype=np.int64))
    if extent * len(held.arrays) > cap:
        return Coupled(name(node.op), extent)
    rest = [a for a in range(a0.ndim) if a not in axes]
    moved = [a.transpose(rest + list(axes)).reshape([a.shape[r] for r in rest] + [extent]) for a in held.arrays]
    return moved, rest


def reduction(node, held, values, cap):
    """Every output element depends on all the elements it reduces."""
    a0 = held[0].arrays[0]
    found = _along(held[0], _axes(node.op.axis, a0.ndim), node, cap)
    if isinstance(found, Coupled):
        return found
    moved, _ = found
    shape = _static_shape(node.outputs[0], values)
    return Strands([m[..., j].reshape(shape) for m in moved for j in range(m.shape[-1])])


def along_axis(node, held, values, cap):
    """Softmax, sort: every element depends on every element along the axis."""
    a0 = held[0].arrays[0]
    if isinstance(node.op, (SortOp, ArgSortOp)):
        axis = values(node.inputs[1]) if node.inputs[1].type.ndim == 0 else None
        axis = None if axis is None or np.ndim(axis) else int(axis)
        if axis is None:
            return Coupled(name(node.op), a0.size)
    else:
        axis = node.op.axis
    axes = _axes(axis, a0.ndim)
    found = _along(held[0], axes, node, cap)
    if isinstance(found, Coupled):
        return found
    moved, rest = found
    back = np.argsort(rest + list(axes))
    shape = [a0.shape[r] for r in rest] + [a0.shape[a] for a in axes]
    return Strands([np.broadcast_to(m[..., j:j + 1], m.shape).reshape(shape).transpose(back)
                    for m in moved for j in range(m.shape[-1])])


def cumulative(node, held, values, cap):
    """Element p along the axis depends on elements q <= p (lower-triangular)."""
    axis = node.op.axis
    arrays = [a.ravel() for a in held[0].arrays] if axis is None else held[0].arrays
    axis = 0 if axis is None else axis % arrays[0].ndim
    extent = arrays[0].shape[axis]
    if extent * len(arrays) > cap:
        return Coupled(name(node.op), extent)
    position = np.arange(extent).reshape((-1,) + (1,) * (arrays[0].ndim - 1 - axis))
    out = []
    for a in arrays:
        for q in range(extent):
            taken = np.broadcast_to(np.take(a, [q], axis=axis), a.shape)
            out.append(np.where(position >= q, taken, -1).astype(a.dtype))
    return Strands(out)


def convolution(node, held, values, cap):
    """Blockwise Convolve1d/Convolve2d with an x-independent kernel: one strand per nonzero."""
    if held[2] is not None or (held[0] is None) == (held[1] is None):
        return Coupled(name(node.op) + ", both operands depend on x", -1)
    data, kernel_var = (0, 1) if held[0] is not None else (1, 0)
    kernel = values(node.inputs[kernel_var])
    full = bool(values(node.inputs[2]))
    core = node.op.core_op.ndim if hasattr(node.op.core_op, "ndim") else (2 if "2d" in type(node.op.core_op).__name__ else 1)
    taps = np.argwhere(np.any(kernel.reshape((-1,) + kernel.shape[-core:]) != 0, axis=0))
    out = []
    for a in held[data].arrays:
        n = a.shape[-core:]
        k = kernel.shape[-core:]
        batch = np.broadcast_shapes(a.shape[:-core], kernel.shape[:-core])
        full_shape = batch + tuple(ni + ki - 1 for ni, ki in zip(n, k))
        valid = tuple(slice(None) if full else slice(min(ni, ki) - 1, max(ni, ki)) for ni, ki in zip(n, k))
        for t in taps:
            f = _fill(full_shape, a)
            f[(Ellipsis,) + tuple(slice(ti, ti + ni) for ti, ni in zip(t, n))] = a
            out.append(f[(Ellipsis,) + valid])
    return Strands(out)


def constant_matrix_product(node, held, values, cap):
    """A @ v with A an x-independent matrix: row r reads v at the nonzero columns of A[r]."""
    if held[0] is not None or held[1] is None or node.inputs[0].type.ndim != 2:
        return Coupled(name(node.op) + ", a product whose matrix depends on x", -1)
    matrix = values(node.inputs[0]) != 0
    width = int(matrix.sum(axis=1).max(initial=0))
    if width * len(held[1].arrays) > cap:
        return Coupled(name(node.op), width)
    columns = np.full((matrix.shape[0], max(width, 1)), -1, dtype=np.int64)
    rows, cols = np.nonzero(matrix)
    slot = np.arange(rows.size) - np.searchsorted(rows, rows)
    columns[rows, slot] = cols
    out = []
    for a in held[1].arrays:
        for j in range(width):
            taken = a[np.maximum(columns[:, j], 0)]
            missing = (columns[:, j] < 0).reshape((-1,) + (1,) * (a.ndim - 1))
            out.append(np.where(missing, -1, taken).astype(a.dtype))
    return Strands(out)


def is_matrix_product(op) -> bool:
    core = op.core_op if isinstance(op, Blockwise) else op
    return type(core).__name__ in ("Dot", "Matmul") or str(core) == "Matmul"


def blockwise(node, held, values, cap):
    if type(node.op.core_op).__name__ in ("Convolve1d", "Convolve2d"):
        return convolution(node, held, values, cap)
    return constant_matrix_product(node, held, values, cap)


def shape_only(node, held, values, cap):
    return None  # reads the shape, not the values


_HANDLERS = (
    (Elemwise, elemwise), (DimShuffle, dimshuffle), (Subtensor, subtensor), (AdvancedSubtensor1, advanced_subtensor1),
    (IncSubtensor, inc_subtensor), (AdvancedIncSubtensor1, inc_subtensor), (Join, join), (Alloc, alloc),
    (Reshape, reshape), ((SpecifyShape, ViewOp, DeepCopyOp, CheckAndRaise, TensorFromScalar, ScalarFromTensor), first),
    ((Shape, Shape_i), shape_only), ((CAReduce, Argmax), reduction), ((Softmax, LogSoftmax, SortOp, ArgSortOp), along_axis),
    (CumOp, cumulative),
)


def handler(op):
    """The rule that carries strands through ``op``, or None when the prover does not know it."""
    if isinstance(op, Blockwise):
        return blockwise if type(op.core_op).__name__ in ("Convolve1d", "Convolve2d") or is_matrix_product(op) else None
    if is_matrix_product(op):
        return constant_matrix_product
    for kinds, rule in _HANDLERS:
        if isinstance(op, kinds):
            return rule
    return None

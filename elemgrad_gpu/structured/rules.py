"""Exact rules: diagonals with a closed structure, found before colouring.

**Triangular chains.** When every variable that depends on x holds x's elements in x's
flat order (x's shape, size-1 axes aside) and every operation on them is elementwise (no
broadcasting of an x-dependent operand), a cumulative sum or product along an axis, or a
product by a constant triangular matrix, all lower or all upper triangular, every such
variable's Jacobian in x is lower (upper) triangular in the flat (C) order: element j
depends on elements of x at flat indices <= j (>= j) only. Then y_i, as a function of x_i alone with the rest of x fixed, reaches x_i
only through element i of each variable, so each cumulative operation can be replaced
by its exact one-element form:

* ``cumsum(u)_i = (cumsum(u)_i - u_i) + u_i``, the bracket held fixed;
* ``cumprod(u)_i = P_i * u_i`` with ``P_i = prod_{j<i} u_j`` (the exclusive product,
  exact at zeros), P held fixed;
* ``(A u)_i = [(A u)_i - A_ii u_i] + A_ii u_i`` for a constant triangular A.

The rewritten graph ("surrogate") is elementwise in x as far as derivatives see (the held
parts go through ``zero_grad``), so repeated ``grad(sum(.), x)`` gives d^k y_i / dx_i^k
for every order in one pass: ``cumsum(g(x))`` has diagonal g'(x), ``cumprod(g(x))``
has diagonal prod_{j<i} g(x_j) * g'(x_i). Values are taken from the original graph.

**Permutations that cancel.** ``x[::-1][::-1]`` and the like have a diagonal pattern;
that needs no rule here: the pattern prover sees it and colouring takes one colour.
"""
from __future__ import annotations

import numpy as np
from pytensor.compile.ops import DeepCopyOp, ViewOp
from pytensor.graph.basic import Constant, Variable
from pytensor.graph.traversal import io_toposort
from pytensor.tensor.elemwise import DimShuffle, Elemwise
from pytensor.tensor.extra_ops import CumOp
from pytensor.tensor.shape import Shape, Shape_i, SpecifyShape

from elemgrad_gpu.structured.ops import is_matrix_product


def triangular_chain(output: Variable, x: Variable, inputs: list) -> list | None:
    """The non-elementwise nodes (cumulative operations, products by a constant triangular
    matrix) of a triangular chain from x to output, all lower or all upper triangular; None
    when the graph is not one (or has no such node)."""
    dependent, found, directions = {x}, [], set()
    for node in io_toposort(inputs, [output]):
        if not any(v in dependent for v in node.inputs):
            continue
        if isinstance(node.op, (Shape, Shape_i)):
            continue
        if not _keeps_order(node, x, dependent):
            return None
        direction = _direction(node, dependent)
        if direction is None:
            return None
        if direction != "diagonal":
            found.append(node)
            directions.update(direction)
        dependent.update(node.outputs)
    return found if found and len(directions) == 1 else None


def _direction(node, dependent) -> set | str | None:
    """"diagonal" for elementwise steps, {"lower"}/{"upper"} for triangular ones, else None."""
    op = node.op
    if isinstance(op, CumOp):
        return {"lower"} if op.axis is not None or node.inputs[0].ndim == 1 else None
    if is_matrix_product(op):
        return _matrix_direction(node, dependent)
    if isinstance(op, (Elemwise, SpecifyShape, ViewOp, DeepCopyOp)) or _keeps_axes(op):
        return "diagonal"
    return None


def _matrix_direction(node, dependent) -> set | str | None:
    matrix = node.inputs[0]
    if matrix in dependent or not isinstance(matrix, Constant) or np.ndim(matrix.data) != 2:
        return None
    a = np.asarray(matrix.data)
    if a.shape[0] != a.shape[1]:
        return None
    lower, upper = not np.any(np.triu(a, 1)), not np.any(np.tril(a, -1))
    return "diagonal" if lower and upper else {"lower"} if lower else {"upper"} if upper else None


def _squeezed(shape) -> tuple:
    return tuple(s for s in shape if s != 1)


def _keeps_order(node, x, dependent) -> bool:
    """Every x-dependent operand and the output hold x's elements in x's flat order (size-1
    axes aside)."""
    want = _squeezed(x.type.shape)
    shapes = [v.type.shape for v in node.inputs if v in dependent] + [node.outputs[0].type.shape]
    return all(None not in shape and _squeezed(shape) == want for shape in shapes)


def _keeps_axes(op) -> bool:
    """A DimShuffle that adds or drops size-1 axes without reordering the others."""
    if not isinstance(op, DimShuffle):
        return False
    kept = [a for a in op.new_order if a != "x"]
    return kept == sorted(kept)


def surrogate(output: Variable, inputs: list, cumulative: list) -> Variable:
    """The graph with each cumulative operation replaced by its one-element form."""
    from pytensor.gradient import zero_grad

    memo: dict = {}
    for node in io_toposort(inputs, [output]):
        new_inputs = [memo.get(v, v) for v in node.inputs]
        if node in cumulative and isinstance(node.op, CumOp):
            u, y = node.inputs[0], node.outputs[0]
            memo[y] = _one_element(node.op, u, y, new_inputs[0], zero_grad)
        elif node in cumulative:
            u, y = node.inputs[1], node.outputs[0]
            diagonal = np.diagonal(np.asarray(node.inputs[0].data)).reshape(
                (-1,) + (1,) * (u.ndim - 1)).astype(y.dtype)
            memo[y] = zero_grad(y - diagonal * u) + diagonal * new_inputs[1]
        elif any(a is not b for a, b in zip(new_inputs, node.inputs)):
            memo.update(zip(node.outputs, node.clone_with_new_inputs(new_inputs).outputs))
    return memo.get(output, output)


def _one_element(op: CumOp, u, y, u_new, zero_grad):
    import pytensor.tensor as pt

    if op.mode == "add":
        return zero_grad(y - u) + u_new
    axis = 0 if op.axis is None else op.axis % y.ndim
    head = [slice(None)] * y.ndim
    head[axis] = slice(0, 1)
    body = [slice(None)] * y.ndim
    body[axis] = slice(0, -1)
    exclusive = pt.concatenate([pt.ones_like(y[tuple(head)]), y[tuple(body)]], axis=axis)
    return zero_grad(exclusive) * u_new


def rule_name(cumulative: list) -> str:
    modes = sorted({("cumsum" if node.op.mode == "add" else "cumprod") if isinstance(node.op, CumOp)
                    else "triangular linear map" for node in cumulative})
    return "rule: " + " and ".join(modes)

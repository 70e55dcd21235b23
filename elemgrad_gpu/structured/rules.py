"""Exact rules: diagonals with a closed structure, found before colouring.

**Lower-triangular chains.** When every variable that depends on x has x's shape and
every operation on them is elementwise (no broadcasting of an x-dependent operand) or a
cumulative sum or product along an axis, every such variable's Jacobian in x is lower
triangular in the flat (C) order: element j depends on elements of x at flat indices
<= j only. Then y_i, as a function of x_i alone with the rest of x fixed, reaches x_i
only through element i of each variable, so each cumulative operation can be replaced
by its exact one-element form:

* ``cumsum(u)_i = (cumsum(u)_i - u_i) + u_i``, the bracket held fixed;
* ``cumprod(u)_i = P_i * u_i`` with ``P_i = prod_{j<i} u_j`` (the exclusive product,
  exact at zeros), P held fixed.

The rewritten graph ("surrogate") is elementwise in x as far as derivatives see (the held
parts go through ``zero_grad``), so repeated ``grad(sum(.), x)`` gives d^k y_i / dx_i^k
for every order in one pass: ``cumsum(g(x))`` has diagonal g'(x), ``cumprod(g(x))``
has diagonal prod_{j<i} g(x_j) * g'(x_i). Values are taken from the original graph.

**Permutations that cancel.** ``x[::-1][::-1]`` and the like have a diagonal pattern;
that needs no rule here: the pattern prover sees it and colouring takes one colour.
"""
from __future__ import annotations

from pytensor.compile.ops import DeepCopyOp, ViewOp
from pytensor.graph.basic import Variable
from pytensor.graph.traversal import io_toposort
from pytensor.tensor.elemwise import DimShuffle, Elemwise
from pytensor.tensor.extra_ops import CumOp
from pytensor.tensor.shape import Shape, Shape_i, SpecifyShape


def triangular_chain(output: Variable, x: Variable, inputs: list) -> list | None:
    """The cumulative nodes of a lower-triangular chain from x to output, or None when the
    graph is not one (or has no cumulative operation)."""
    dependent = {x}
    found = []
    for node in io_toposort(inputs, [output]):
        if not any(v in dependent for v in node.inputs):
            continue
        if isinstance(node.op, (Shape, Shape_i)):
            continue
        if not _keeps_shape(node, x, dependent):
            return None
        if isinstance(node.op, CumOp):
            if node.op.axis is None and x.ndim != 1:
                return None
            found.append(node)
        elif not isinstance(node.op, (Elemwise, SpecifyShape, ViewOp, DeepCopyOp)) and not _identity(node.op):
            return None
        dependent.update(node.outputs)
    return found or None


def _keeps_shape(node, x, dependent) -> bool:
    shape = x.type.shape
    return all(v.type.shape == shape for v in node.inputs if v in dependent) and node.outputs[0].type.shape == shape


def _identity(op) -> bool:
    return isinstance(op, DimShuffle) and tuple(op.new_order) == tuple(range(op.input_ndim))


def surrogate(output: Variable, inputs: list, cumulative: list) -> Variable:
    """The graph with each cumulative operation replaced by its one-element form."""
    from pytensor.gradient import zero_grad

    memo: dict = {}
    for node in io_toposort(inputs, [output]):
        new_inputs = [memo.get(v, v) for v in node.inputs]
        if node in cumulative:
            u, y = node.inputs[0], node.outputs[0]
            memo[y] = _one_element(node.op, u, y, new_inputs[0], zero_grad)
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
    modes = sorted({"cumsum" if node.op.mode == "add" else "cumprod" for node in cumulative})
    return "rule: " + " and ".join(modes)

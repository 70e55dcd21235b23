"""Differentiate: exact symbolic partial derivatives of a verified elementwise graph.

Every input is traced at the full broadcast shape, so for an output verified to be
elementwise in ``x``, ``grad(sum(y), x)`` is the elementwise partial dy_i/dx_i, and
repeating it gives higher orders and mixed partials. Partials commute, so each
multi-index is taken in input order and shared prefixes are differentiated once.

PyTensor's gradient recurses along the chains of the graph it differentiates, and each
order makes that graph deeper; past Python's recursion limit this raises an
``ExpressionError`` that says so, not a RecursionError from inside PyTensor. The graphs'
size and the time they take are bounded by the compile's budget (``budget.py``).

An operation whose derivative PyTensor does not define (no ``pullback``/``grad``, or a
gradient marked undefined or not implemented, as ``gammaincinv``'s in its first argument)
is an ``ExpressionError`` naming it and the derivative that needs it, not PyTensor's
``MethodNotDefined``, ``NullTypeGradError`` or an empty ``NotImplementedError``.
"""
from __future__ import annotations

import sys
import time
from typing import Sequence

import pytensor
from pytensor.gradient import NullTypeGradError
from pytensor.graph.utils import MethodNotDefined
from pytensor.tensor.variable import TensorVariable

from elemgrad_gpu.graph.budget import Budget
from elemgrad_gpu.errors import ExpressionError
from elemgrad_gpu.expr.language import MultiIndex


def partial_derivatives(y: TensorVariable, inputs: dict[str, TensorVariable],
                        indices: Sequence[MultiIndex], budget: Budget | None = None) -> list[TensorVariable]:
    """The graph of d^k y / d(index) for each multi-index (``()`` is y itself).

    With a ``budget``, the graphs made so far are counted after each derivative, and
    time checked: past the budget this stops with its ``ExpressionError``.
    """
    order = {name: position for position, name in enumerate(inputs)}
    done: dict[MultiIndex, TensorVariable] = {(): y}

    def derivative(index: MultiIndex) -> TensorVariable:
        if index not in done:
            parent = derivative(index[:-1])
            if budget is not None:
                budget.expect(index)  # refuses an order predicted to be past the budget
            start = time.monotonic()
            done[index] = _grad(parent, inputs[index[-1]], index)
            if budget is not None:
                budget.record(index, done[index], time.monotonic() - start)
                budget.check_graph(list(done.values()), f"the derivative graph of order {len(index)}")
        return done[index]

    if budget is not None:
        budget.record((), y, 0.0)

    return [derivative(tuple(sorted(index, key=order.__getitem__))) for index in indices]


def _grad(y: TensorVariable, x: TensorVariable, index: MultiIndex) -> TensorVariable:
    """grad(sum(y), x), the partial of multi-index ``index``."""
    try:
        return pytensor.grad(y.sum(), x, disconnected_inputs="ignore", return_disconnected="zero")
    except (MethodNotDefined, NullTypeGradError, NotImplementedError) as error:
        raise ExpressionError(no_derivative_message(error, f"the derivative d/d{'/d'.join(index)}")) from error
    except RecursionError:
        raise ExpressionError(
            f"the derivative d/d{'/d'.join(index)} is too deep to differentiate: PyTensor's gradient "
            f"passed Python's recursion limit ({sys.getrecursionlimit()}) along a chain of its graph, which "
            f"each order makes deeper. Ask for a lower order, or split the function into shorter pieces "
            f"and combine their derivatives by the chain rule"
        ) from None


def no_derivative_message(error: Exception, what: str) -> str:
    """Why PyTensor could not differentiate, for ``what`` (``"the derivative d/dx"``) and what to do."""
    if isinstance(error, MethodNotDefined) and len(error.args) >= 3:
        reason = f"the operation {error.args[2]} defines no derivative ({error.args[0]})"
    elif isinstance(error, NullTypeGradError):
        text = str(error).replace("`grad` encountered a NaN. This variable is Null because the ", "the ")
        reason = text.strip().rstrip(".")
    else:
        detail = str(error).strip()
        reason = f"PyTensor raised {type(error).__name__}" + (f": {detail}" if detail else " with no message")
    return (f"{what} cannot be computed: {reason}. Differentiate only by inputs whose operations have "
            f"derivatives, or write f with elemgrad_gpu's functions (eg.NAME, docs/EXPRESSIONS.md), which all do")

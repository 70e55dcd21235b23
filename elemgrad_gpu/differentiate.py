"""Differentiate: exact symbolic partial derivatives of a verified elementwise graph.

Every input is traced at the full broadcast shape, so for an output verified to be
elementwise in ``x``, ``grad(sum(y), x)`` is the elementwise partial dy_i/dx_i, and
repeating it gives higher orders and mixed partials. Partials commute, so each
multi-index is taken in input order and shared prefixes are differentiated once.
"""
from __future__ import annotations

from typing import Sequence

import pytensor
from pytensor.tensor.variable import TensorVariable

from elemgrad_gpu.plan import MultiIndex


def partial_derivatives(y: TensorVariable, inputs: dict[str, TensorVariable],
                        indices: Sequence[MultiIndex]) -> list[TensorVariable]:
    """The graph of d^k y / d(index) for each multi-index (``()`` is y itself)."""
    order = {name: position for position, name in enumerate(inputs)}
    done: dict[MultiIndex, TensorVariable] = {(): y}

    def derivative(index: MultiIndex) -> TensorVariable:
        if index not in done:
            lower = derivative(index[:-1])
            done[index] = pytensor.grad(lower.sum(), inputs[index[-1]],
                                        disconnected_inputs="ignore", return_disconnected="zero")
        return done[index]

    return [derivative(tuple(sorted(index, key=order.__getitem__))) for index in indices]

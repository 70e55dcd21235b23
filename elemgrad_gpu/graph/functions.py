"""The math functions of the expression language, usable in callables too.

Each takes and returns symbolic PyTensor tensors (NumPy arrays and Python numbers are
accepted as constants). Each is the builder its row of ``elemgrad_gpu.expr.vocabulary``
names (``pt.NAME``, ``special.NAME``, or a function defined here), and ``IMPLEMENTATIONS``
maps each name of the language (functions and operators) to the function that builds it.

Example:
    >>> import numpy as np, elemgrad_gpu as eg
    >>> fn = eg.compile(lambda x: eg.tanh(x) ** 2, orders=(0, 1))
    >>> value, slope = fn(0.5)
    >>> bool(np.isclose(slope, 2 * np.tanh(0.5) / np.cosh(0.5) ** 2, rtol=1e-15))
    True
"""
from __future__ import annotations

import sys
from importlib import import_module
from typing import Callable

import pytensor.tensor as pt

from elemgrad_gpu.expr.vocabulary import ALIASES, CONSTANTS, FUNCTIONS, OPERATORS

globals().update(CONSTANTS)  # pi, e


def where(condition, a, b):
    """``a`` where ``condition`` holds, else ``b`` (NumPy's ``where``)."""
    return pt.where(condition, a, b)


def rsqrt(x):
    """``1 / sqrt(x)`` (PyTorch's and JAX's ``rsqrt``)."""
    return pt.reciprocal(pt.sqrt(x))


def _resolve(builder: str) -> Callable:
    """A row's builder: ``pt.NAME`` (pytensor.tensor), else ``MODULE.NAME`` of a module of graph/
    (``functions.NAME``: defined above)."""
    module, _, name = builder.partition(".")
    if module == "pt":
        return getattr(pt, name)
    return getattr(sys.modules[__name__] if module == "functions" else import_module(f"elemgrad_gpu.graph.{module}"),
                   name)


_BUILT: dict[str, Callable] = {row.name: _resolve(row.builder) for row in FUNCTIONS}
globals().update(_BUILT)
globals().update({alias: _BUILT[name] for alias, name in ALIASES.items()})  # eg.asin is eg.arcsin
_OPERATOR_IMPLEMENTATIONS = (pt.add, pt.sub, pt.mul, pt.true_div, _BUILT["pow"], pt.neg,  # ** as pow: kinks.py
                             pt.lt, pt.le, pt.gt, pt.ge, pt.eq, pt.neq, pt.and_)
IMPLEMENTATIONS: dict[str, Callable] = {**_BUILT, **dict(zip(OPERATORS, _OPERATOR_IMPLEMENTATIONS, strict=True))}

# max and min (aliases of maximum and minimum) stay out of ``import *``: they would hide Python's own
__all__ = sorted(row.name for row in FUNCTIONS) + sorted(set(ALIASES) - {"max", "min"}) + sorted(CONSTANTS)

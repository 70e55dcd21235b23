"""Fold: the float64 value of a constant part of an expression string, to check it is finite.

The parser refuses a literal that does not fit in float64 (``1e400``); by the same rule it
refuses a part that reads no input and is not a finite float64 number: ``10**400`` and
``exp(1000)`` (overflow), ``1/0`` and ``log(0)`` (infinite), ``0/0`` and ``sqrt(-1)`` (NaN).
Such a part would otherwise be folded, silently, to inf or NaN in the kernel. This module
computes those values with NumPy (SciPy for the special functions, imported only when a
constant needs one); the kernel never uses them: it still computes every constant itself.
"""
from __future__ import annotations

import importlib
from typing import Callable

import numpy as np

_NUMPY: dict[str, Callable] = {
    "+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide, "**": np.power, "pow": np.power,
    "neg": np.negative, "<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal,
    "==": np.equal, "!=": np.not_equal, "and": np.logical_and, "abs": np.abs,
    "softplus": lambda x: np.logaddexp(0.0, x), "where": np.where, "clip": np.clip,
    **{name: getattr(np, name) for name in "sin cos tan arcsin arccos arctan sinh cosh tanh arcsinh arccosh "
       "arctanh exp exp2 expm1 log log2 log10 log1p sqrt sign arctan2 maximum minimum hypot square reciprocal "
       "deg2rad rad2deg negative multiply divide".split()},
    "rsqrt": lambda x: 1.0 / np.sqrt(x),
}
_SCIPY = {"erf": "erf", "erfc": "erfc", "erfinv": "erfinv", "gammaln": "gammaln", "digamma": "psi",
          "sigmoid": "expit", "polygamma": "polygamma"}


def value(name: str, arguments: list[float]) -> float:
    """``name`` (a function or operator of ``elemgrad_gpu.language``) of ``arguments`` in float64."""
    if name in _SCIPY:
        function = getattr(importlib.import_module("scipy.special"), _SCIPY[name])
    else:
        function = _NUMPY[name]
    with np.errstate(all="ignore"):
        return float(function(*[np.float64(a) for a in arguments]))

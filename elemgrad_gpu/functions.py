"""The math functions of the expression language, usable in callables too.

Each takes and returns symbolic PyTensor tensors (NumPy arrays and Python numbers are
accepted as constants). ``FUNCTIONS`` maps each name to its function and its arity,
which is what the string parser accepts; ``CONSTANTS`` holds ``pi`` and ``e``.

Example:
    >>> import numpy as np, elemgrad_gpu as eg
    >>> fn = eg.compile(lambda x: eg.tanh(x) ** 2, orders=(0, 1))
    >>> value, slope = fn(0.5)
    >>> bool(np.isclose(slope, 2 * np.tanh(0.5) / np.cosh(0.5) ** 2, rtol=1e-15))
    True
"""
from __future__ import annotations

import math
from typing import Callable, NamedTuple

import pytensor.tensor as pt

from elemgrad_gpu.special import digamma, erfinv, hypot, polygamma

sin, cos, tan = pt.sin, pt.cos, pt.tan
arcsin, arccos, arctan, arctan2 = pt.arcsin, pt.arccos, pt.arctan, pt.arctan2
sinh, cosh, tanh = pt.sinh, pt.cosh, pt.tanh
arcsinh, arccosh, arctanh = pt.arcsinh, pt.arccosh, pt.arctanh
exp, exp2, expm1 = pt.exp, pt.exp2, pt.expm1
log, log2, log10, log1p = pt.log, pt.log2, pt.log10, pt.log1p
sqrt, abs, sign = pt.sqrt, pt.abs, pt.sign
erf, erfc, gammaln = pt.erf, pt.erfc, pt.gammaln
sigmoid, softplus = pt.sigmoid, pt.softplus
maximum, minimum, clip = pt.maximum, pt.minimum, pt.clip
pi, e = math.pi, math.e


def where(condition, a, b):
    """``a`` where ``condition`` holds, else ``b`` (NumPy's ``where``)."""
    return pt.where(condition, a, b)


def pow(a, b):  # noqa: A001 - the expression language's name
    """``a ** b`` elementwise."""
    return pt.pow(a, b)


class Function(NamedTuple):
    """One function of the expression language: its implementation and arity."""

    impl: Callable
    arity: int


_ARITY = {
    1: "sin cos tan arcsin arccos arctan sinh cosh tanh arcsinh arccosh arctanh exp exp2 "
    "expm1 log log2 log10 log1p sqrt abs sign erf erfc erfinv gammaln digamma sigmoid softplus",
    2: "arctan2 maximum minimum pow hypot polygamma",
    3: "where clip",
}
FUNCTIONS: dict[str, Function] = {
    name: Function(globals()[name], arity) for arity, names in _ARITY.items() for name in names.split()
}
CONSTANTS: dict[str, float] = {"pi": pi, "e": e}

__all__ = sorted(FUNCTIONS) + ["pi", "e"]

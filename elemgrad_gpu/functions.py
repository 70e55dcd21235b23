"""The math functions of the expression language, usable in callables too.

Each takes and returns symbolic PyTensor tensors (NumPy arrays and Python numbers are
accepted as constants). ``IMPLEMENTATIONS`` maps each name of the language
(``elemgrad_gpu.language``: functions and operators) to the function that builds it.

Example:
    >>> import numpy as np, elemgrad_gpu as eg
    >>> fn = eg.compile(lambda x: eg.tanh(x) ** 2, orders=(0, 1))
    >>> value, slope = fn(0.5)
    >>> bool(np.isclose(slope, 2 * np.tanh(0.5) / np.cosh(0.5) ** 2, rtol=1e-15))
    True
"""
from __future__ import annotations

import math
from typing import Callable

import pytensor.tensor as pt

from elemgrad_gpu.kinks import clip, maximum, minimum, pow  # noqa: A004 - derivatives by selection
from elemgrad_gpu.language import ARITY, OPERATORS
from elemgrad_gpu.removable import exprel, sinc, xlog1py, xlogy
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
pi, e = math.pi, math.e


def where(condition, a, b):
    """``a`` where ``condition`` holds, else ``b`` (NumPy's ``where``)."""
    return pt.where(condition, a, b)


_OPERATOR_IMPLEMENTATIONS = (pt.add, pt.sub, pt.mul, pt.true_div, pow, pt.neg,
                             pt.lt, pt.le, pt.gt, pt.ge, pt.eq, pt.neq, pt.and_)
IMPLEMENTATIONS: dict[str, Callable] = {
    **{name: globals()[name] for name in ARITY}, **dict(zip(OPERATORS, _OPERATOR_IMPLEMENTATIONS, strict=True)),
}

__all__ = sorted(ARITY) + ["pi", "e"]

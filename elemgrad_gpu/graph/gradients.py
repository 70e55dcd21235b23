"""PyTensor's ops whose derivative formulas fail where the function is fine, with ours in their place.

Found by the vocabulary's mpmath walk (tests/expr/test_vocabulary_mpmath.py):

* ``log1mexp``: PyTensor's derivative is ``-1/expm1(-x)``, and the derivative of that,
  ``-exp(-x)/expm1(-x)**2``, is inf/inf = NaN below x = -709 (-88 in float32), where the
  true value is ~ -exp(x). Here the first derivative ``g = exp(x)/expm1(x)`` is an op of its
  own (no overflow below 0) whose derivative is ``g * (1 - g)`` (exact: g' =
  -exp(x)/(1 - exp(x))**2), finite everywhere on x < 0 and without cancellation (g < 0 there).
* ``arcsin``, ``arccos``, ``arccosh`` and ``arctanh``: PyTensor's ``1/sqrt(1 - x*x)``,
  ``1/sqrt(x*x - 1)`` and ``1/(1 - x*x)`` round x*x before subtracting 1, which costs relative
  accuracy 1/|x*x - 1| near x = +-1 (in float32, 3.5e-5 at x = 1.001 for arccosh's second
  derivative, 1e-5 at x = 0.999 for arcsin's). Here the factors ``(1 - x)(1 + x)`` and
  ``(x - 1)(x + 1)``, each exact near +-1 or rounded once.

The ops are subclasses of PyTensor's (their values' C code, their Taylor rules in
graph/taylor.py, which look a rule up along the class's bases); PyTensor's own ops in a
user's callable are replaced by them (graph/substitute.py).
"""
from __future__ import annotations

import numpy as np
import pytensor.scalar as ps
import pytensor.tensor as pt
from pytensor.scalar.basic import ArcCos, ArcCosh, ArcSin, ArcTanh, UnaryScalarOp, upgrade_to_float_no_complex
from pytensor.scalar.math import Log1mexp
from pytensor.tensor.elemwise import Elemwise

from elemgrad_gpu.compat import Pullback
from elemgrad_gpu.graph.substitute import substitutes


class Log1mexpSlope(Pullback, UnaryScalarOp):
    """d/dx log(1 - exp(x)) = exp(x)/expm1(x) for x < 0 (never overflows), -inf at 0 (PyTensor's), NaN
    above 0 and for NaN (where log1mexp is NaN); its own derivative is ``y * (1 - y)`` of its value y."""

    def impl(self, x):
        kind = np.asarray(x).dtype.type
        if x < 0:
            return kind(np.exp(x) / np.expm1(x))
        return kind(-np.inf if x == 0 else np.nan)

    def c_code(self, node, name, inputs, outputs, sub) -> str:
        (x,), (z,) = inputs, outputs  # isgreater: quiet on NaN; float32 stays float32 (no double literal)
        return f"{z} = isgreater(0, {x}) ? exp({x}) / expm1({x}) : ({x} == 0 ? -INFINITY : NAN);"

    def c_code_cache_version(self) -> tuple[int, ...]:
        return (3,)

    def pullback(self, inputs, outputs, gout):
        (y,), (gz,) = outputs, gout
        return [gz * (y * (1 - y))]


log1mexp_slope = Log1mexpSlope(upgrade_to_float_no_complex, name="log1mexp_slope")


class AccurateLog1mexp(Pullback, Log1mexp):
    """PyTensor's log1mexp values, with the derivative ``log1mexp_slope``."""

    def pullback(self, inputs, outputs, gout):
        (x,), (gz,) = inputs, gout
        return [gz * log1mexp_slope(x)]


class AccurateArcSin(Pullback, ArcSin):
    """arcsin, with the derivative 1/sqrt((1 - x)(1 + x))."""

    def pullback(self, inputs, outputs, gout):
        (x,), (gz,) = inputs, gout
        return [gz / ps.sqrt((1 - x) * (1 + x))]


class AccurateArcCos(Pullback, ArcCos):
    """arccos, with the derivative -1/sqrt((1 - x)(1 + x))."""

    def pullback(self, inputs, outputs, gout):
        (x,), (gz,) = inputs, gout
        return [-gz / ps.sqrt((1 - x) * (1 + x))]


class AccurateArcCosh(Pullback, ArcCosh):
    """arccosh, with the derivative 1/sqrt((x - 1)(x + 1))."""

    def pullback(self, inputs, outputs, gout):
        (x,), (gz,) = inputs, gout
        return [gz / ps.sqrt((x - 1) * (x + 1))]


class AccurateArcTanh(Pullback, ArcTanh):
    """arctanh, with the derivative 1/((1 - x)(1 + x))."""

    def pullback(self, inputs, outputs, gout):
        (x,), (gz,) = inputs, gout
        return [gz / ((1 - x) * (1 + x))]


_log1mexp = Elemwise(AccurateLog1mexp(upgrade_to_float_no_complex, name="log1mexp"))
_arcsin = Elemwise(AccurateArcSin(upgrade_to_float_no_complex, name="arcsin"))
_arccos = Elemwise(AccurateArcCos(upgrade_to_float_no_complex, name="arccos"))
_arccosh = Elemwise(AccurateArcCosh(upgrade_to_float_no_complex, name="arccosh"))
_arctanh = Elemwise(AccurateArcTanh(upgrade_to_float_no_complex, name="arctanh"))
OURS = {Log1mexp: (AccurateLog1mexp, _log1mexp), ArcSin: (AccurateArcSin, _arcsin),
        ArcCos: (AccurateArcCos, _arccos), ArcCosh: (AccurateArcCosh, _arccosh),
        ArcTanh: (AccurateArcTanh, _arctanh)}  # PyTensor's class -> (ours, our elemwise)


def log1mexp(x) -> pt.TensorVariable:
    """Elementwise log(1 - exp(x)) for x < 0, with derivatives finite far below 0."""
    return _log1mexp(x)


def arcsin(x) -> pt.TensorVariable:
    """Elementwise arcsin(x), |x| <= 1, with derivatives accurate near +-1."""
    return _arcsin(x)


def arccos(x) -> pt.TensorVariable:
    """Elementwise arccos(x), |x| <= 1, with derivatives accurate near +-1."""
    return _arccos(x)


def arccosh(x) -> pt.TensorVariable:
    """Elementwise arccosh(x), x >= 1, with derivatives accurate near 1."""
    return _arccosh(x)


def arctanh(x) -> pt.TensorVariable:
    """Elementwise arctanh(x), |x| < 1, with derivatives accurate near +-1."""
    return _arctanh(x)


@substitutes(Log1mexp, ArcSin, ArcCos, ArcCosh, ArcTanh)
def _ours(node):
    """PyTensor's op replaced by ours (ours are subclasses of it: left alone)."""
    scalar_op = node.op.scalar_op
    for theirs, (our_class, elemwise) in OURS.items():
        if isinstance(scalar_op, theirs):
            return None if isinstance(scalar_op, our_class) else [elemwise(*node.inputs)]
    return None

"""Functions with a removable singularity, exact at and near it: sinc, exprel, xlogy, xlog1py, xlogx.

Differentiated symbolically, ``sin(x)/x`` cancels catastrophically near 0: its k-th
derivative sums terms of size ``k!/x**(k+1)`` into a result of size ~1 (docs/
EXPRESSIONS.md, "Removable singularities"). So ``sinc`` and ``exprel`` are
``where(|x| < R, Taylor polynomial, closed form)``: below ``R`` the polynomial (truncated
far enough that its first four derivatives keep float64 precision up to ``R``), above it
the closed form, whose first four derivatives lose less than 1e-13 there (measured in
tests/graph/test_removable.py). The closed form is evaluated at an argument moved away from 0
below ``R``, and the polynomial at 0 above it (``Guard``), so no branch, and no
derivative of one, overflows, divides by zero or raises a floating-point flag.

``xlogy(x, y)`` and ``xlog1py(x, y)`` are 0 where ``x == 0`` (unless ``y`` is NaN), as in
SciPy. They are scalar ops whose k-th derivatives in ``y`` are ``x / y**k`` up to a
factor, computed by an op that is 0 where ``x == 0`` (TensorFlow's ``xdivy`` for k = 1)
and whose own derivative in ``y`` is the op of order k + 1: at ``x == 0`` every
derivative in ``y`` is 0, also at ``y == 0``, and the derivative in ``x`` is ``log(y)``
(``log1p(y)``), -inf at ``y == 0``.

``xlogx(x)`` is ``x * log(x)``, 0 at ``x == 0`` (its limit from the right), NaN below 0; its
derivatives are ``log(x) + 1``, then ``(-1)**k (k-2)! / x**(k-1)``: finite for ``x > 0``
and, at 0, the limits from the right (-inf, inf, -inf, ...).

PyTensor's own ``xlogy``/``xlog1py`` (an OpFromGraph in PyTensor 3, refused as not
elementwise) and ``xlogx``/``xlogy0`` (scalar ops in PyTensor 2.38, ``xlogy(x, x)`` in 3)
are replaced by these in a user's graph (``substitute.py``).
"""
from __future__ import annotations

import math
from functools import cache

import numpy as np
import pytensor.scalar as ps
import pytensor.tensor as pt
import scipy.special
from pytensor.scalar.basic import BinaryScalarOp, UnaryScalarOp, upgrade_to_float_no_complex
from pytensor.tensor.elemwise import Elemwise

from elemgrad_gpu.compat import Pullback
from elemgrad_gpu.graph.substitute import pytensor_classes, substitutes

SINC_RADIUS = 1.0  # |x| below which sinc is its Taylor polynomial (pi*|x| < pi)
EXPREL_RADIUS = 2.0  # |x| below which exprel is its Taylor polynomial
_SINC_TERMS = 19  # sum_k (-1)^k t^(2k) / (2k+1)!, t = pi x: the 4th derivative's tail < 1e-20 at t = pi
_EXPREL_TERMS = 32  # sum_k x^k / (k+1)!: the 4th derivative's tail < 1e-20 at |x| = 2


class Polynomial(Pullback, UnaryScalarOp):
    """``sum_k coefficients[k] * x**k`` by Horner's rule, in the node's dtype; its derivative
    is the polynomial of the derived coefficients (one node per order, not a growing graph)."""

    __props__ = ("coefficients",)
    output_types_preference = staticmethod(upgrade_to_float_no_complex)

    def __init__(self, coefficients: tuple[float, ...], name: str):
        super().__init__(name=name)
        self.coefficients = tuple(float(c) for c in coefficients) or (0.0,)

    def impl(self, x):
        return np.polyval(self.coefficients[::-1], x)

    def c_code(self, node, name, inputs, outputs, sub) -> str:
        (x,), (z,) = inputs, outputs
        horner = f"({self.coefficients[-1]!r})"
        for c in reversed(self.coefficients[:-1]):
            horner = f"({horner} * {x} + ({c!r}))"
        return f"{z} = {horner};"

    def c_code_cache_version(self) -> tuple[int, ...]:
        return (1,)

    def pullback(self, inputs, outputs, gout):
        (x,), (gz,) = inputs, gout
        derived = tuple(k * c for k, c in enumerate(self.coefficients) if k > 0)
        return [gz * Polynomial(derived, f"{self.name}'")(x)]


def _constant(value: float, like) -> pt.TensorConstant:
    return pt.constant(np.asarray(value, dtype=like.dtype))


class Guard(Pullback, UnaryScalarOp):
    """``x`` where ``|x| < radius`` (``inside``) or where not (``not inside``, NaN included),
    else the constant ``other``: the argument one branch of a ``where`` sees, so that no
    branch divides by 0 or overflows where it is not taken.

    An op of its own, not a ``switch``: PyTensor merges an operation on two switches of one
    condition into one switch of the operation (``local_merge_switch_same_cond``), which
    would put the unguarded argument back into the untaken branch."""

    __props__ = ("radius", "inside", "other")
    output_types_preference = staticmethod(upgrade_to_float_no_complex)

    def __init__(self, radius: float, inside: bool, other: float):
        super().__init__(name="guard")
        self.radius, self.inside, self.other = float(radius), bool(inside), float(other)

    def impl(self, x):
        return x if (abs(x) < self.radius) == self.inside else self.other

    def c_code(self, node, name, inputs, outputs, sub) -> str:
        (x,), (z,) = inputs, outputs
        near, far = (x, repr(self.other)) if self.inside else (repr(self.other), x)
        return f"{z} = fabs({x}) < {self.radius!r} ? {near} : {far};"

    def c_code_cache_version(self) -> tuple[int, ...]:
        return (1,)

    def pullback(self, inputs, outputs, gout):
        (x,), (gz,) = inputs, gout
        near = ps.lt(ps.abs(x), ps.constant(np.asarray(self.radius, dtype=gz.type.dtype)))
        zero = ps.constant(np.asarray(0.0, dtype=gz.type.dtype))
        return [ps.switch(near, gz, zero) if self.inside else ps.switch(near, zero, gz)]


def _apart(x, radius: float, scale: float, away: float) -> tuple:
    """(``scale * x`` where ``|x| < radius`` else 0, ``scale * x`` elsewhere, else ``away``)."""
    near, far = Elemwise(Guard(radius, True, 0.0))(x), Elemwise(Guard(radius, False, away))(x)
    return (near, far) if scale == 1 else (near * _constant(scale, x), far * _constant(scale, x))


def _series(coefficients: list[float], name: str, x) -> pt.TensorVariable:
    return Elemwise(Polynomial(tuple(coefficients), name))(x)


def _float(x) -> pt.TensorVariable:
    x = pt.as_tensor_variable(x)
    return x if x.dtype.startswith("float") else pt.cast(x, "float64")


def sinc(x) -> pt.TensorVariable:
    """NumPy's normalized ``sinc(x) = sin(pi x) / (pi x)``, 1 at 0."""
    x = _float(x)
    near = pt.lt(pt.abs(x), _constant(SINC_RADIUS, x))
    series = [(-1) ** k / math.factorial(2 * k + 1) for k in range(_SINC_TERMS)]
    t_near, t_far = _apart(x, SINC_RADIUS, math.pi, 1.0)
    return pt.switch(near, _series(series, "sinc_series", t_near * t_near), pt.sin(t_far) / t_far)


def exprel(x) -> pt.TensorVariable:
    """SciPy's ``exprel(x) = expm1(x) / x``, 1 at 0 (inf at +inf, 0 at -inf)."""
    x = _float(x)
    near = pt.lt(pt.abs(x), _constant(EXPREL_RADIUS, x))
    series = [1 / math.factorial(k + 1) for k in range(_EXPREL_TERMS)]
    x_near, x_far = _apart(x, EXPREL_RADIUS, 1.0, 2.0)
    far = pt.switch(pt.eq(x, _constant(np.inf, x)), x, pt.expm1(x_far) / x_far)
    return pt.switch(near, _series(series, "exprel_series", x_near), far)


class _ZeroWhereXIsZero(Pullback, BinaryScalarOp):
    """``x * g(y)``, 0 where ``x == 0`` unless ``y`` is NaN (SciPy's xlogy convention)."""

    nin = 2
    output_types_preference = staticmethod(upgrade_to_float_no_complex)
    c_form: str  # C expression of x and y for x != 0

    def c_code(self, node, name, inputs, outputs, sub) -> str:
        (x, y), (z,) = inputs, outputs
        return f"{z} = ({x} == 0 && !isnan({y})) ? 0 : {self.c_form.format(x=x, y=y)};"

    def c_code_cache_version(self) -> tuple[int, ...]:
        return (1,)


class XOverPower(_ZeroWhereXIsZero):
    """``x / y**k``, 0 where ``x == 0``: the k-th derivatives of xlogy in y (up to a factor).

    Its derivative in y is the same op of order ``k + 1`` (not a product with ``1/y``,
    which would give ``0 * inf = NaN`` at ``x = 0, y = 0``)."""

    __props__ = ("k",)

    def __init__(self, k: int):
        super().__init__(name="xdivy" if k == 1 else f"xdivy{k}")
        self.k = int(k)

    @property
    def c_form(self) -> str:
        return "{x}" + " / {y}" * self.k  # k divisions: no overflow of y**k before x divides

    def impl(self, x, y):
        if x == 0 and not np.isnan(y):
            return 0.0
        for _ in range(self.k):
            x = x / y
        return x

    def pullback(self, inputs, outputs, gout):
        (x, y), (gz,) = inputs, gout
        one = ps.constant(np.asarray(1.0, dtype=gz.type.dtype))
        return gz * x_over_power(self.k)(one, y), -self.k * gz * x_over_power(self.k + 1)(x, y)


@cache
def x_over_power(k: int) -> XOverPower:
    """The scalar op ``x / y**k`` (0 where x == 0), one shared instance per ``k``."""
    return XOverPower(k)


class XLogY(_ZeroWhereXIsZero):
    """``x * log(y)``, 0 where ``x == 0`` (scipy.special.xlogy)."""

    c_form = "{x} * log({y})"

    def impl(self, x, y):
        return scipy.special.xlogy(x, y)

    def pullback(self, inputs, outputs, gout):
        (x, y), (gz,) = inputs, gout
        return gz * ps.log(y), gz * x_over_power(1)(x, y)


class XLog1PY(_ZeroWhereXIsZero):
    """``x * log1p(y)``, 0 where ``x == 0`` (scipy.special.xlog1py)."""

    c_form = "{x} * log1p({y})"

    def impl(self, x, y):
        return scipy.special.xlog1py(x, y)

    def pullback(self, inputs, outputs, gout):
        (x, y), (gz,) = inputs, gout
        return gz * ps.log1p(y), gz * x_over_power(1)(x, y + 1)


_xlogy, _xlog1py = Elemwise(XLogY(name="xlogy")), Elemwise(XLog1PY(name="xlog1py"))


def xlogy(x, y) -> pt.TensorVariable:
    """``x * log(y)``, 0 where ``x == 0`` (also at ``y == 0``), as scipy.special.xlogy."""
    return _xlogy(x, y)


def xlog1py(x, y) -> pt.TensorVariable:
    """``x * log1p(y)``, 0 where ``x == 0`` (also at ``y == -1``), as scipy.special.xlog1py."""
    return _xlog1py(x, y)


class XLogX(Pullback, UnaryScalarOp):
    """``x * log(x)``, 0 where ``x == 0``: PyTensor 2.38's ``XlogX``, with our derivatives."""

    output_types_preference = staticmethod(upgrade_to_float_no_complex)

    def impl(self, x):
        return scipy.special.xlogy(x, x)

    def c_code(self, node, name, inputs, outputs, sub) -> str:
        (x,), (z,) = inputs, outputs
        return f"{z} = {x} == 0 ? 0 : {x} * log({x});"

    def c_code_cache_version(self) -> tuple[int, ...]:
        return (1,)

    def pullback(self, inputs, outputs, gout):
        (x,), (gz,) = inputs, gout
        return [gz * (ps.log(x) + ps.constant(np.asarray(1.0, dtype=gz.type.dtype)))]


_xlogx = Elemwise(XLogX(name="xlogx"))


def xlogx(x) -> pt.TensorVariable:
    """``x * log(x)``, 0 at ``x == 0``; d/dx = log(x) + 1 (-inf at 0), NaN below 0."""
    return _xlogx(_float(x))


def _like(out, node) -> list:
    """``out`` of the replaced node's dtype."""
    dtype = node.outputs[0].dtype
    return [out if out.dtype == dtype else pt.cast(out, dtype)]


@substitutes(*pytensor_classes("pytensor.tensor.special.XLogY", "pytensor.tensor.xlogx.XlogY0"))
def _pytensor_xlogy(node):
    x, y = node.inputs
    return _like(xlogx(x) if x is y else xlogy(x, y), node)  # PyTensor 3's xlogx(x) is xlogy(x, x)


@substitutes(*pytensor_classes("pytensor.tensor.special.XLog1PY"))
def _pytensor_xlog1py(node):
    return _like(xlog1py(*node.inputs), node)


@substitutes(*pytensor_classes("pytensor.tensor.xlogx.XlogX"))
def _pytensor_xlogx(node):
    return _like(xlogx(node.inputs[0]), node)

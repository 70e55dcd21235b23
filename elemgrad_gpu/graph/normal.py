"""The error function and the normal distribution as PyTensor scalar ops with C code.

erfcx, erfcinv, ndtr, log_ndtr, ndtri, ndtri_exp, dawsn and owens_t, computed in C from
``normal.h`` beside this module (with ``special.h``, whose ``eg_erfinv`` it calls; the same text
compiles as CUDA device code), in the node's dtype: float32 stays float32. Their tails are right
where the textbook formulas fail: ``log_ndtr(-40)`` is finite (``log(erfc(-x/sqrt(2))/2)`` is
-inf), ``erfcx(30)`` is finite (``exp(x**2)*erfc(x)`` is NaN), ``erfcinv(1e-10)`` is accurate
to the last bits (``erfinv(1 - y)`` is off by 2e-9).

Derivatives are closed forms, to any order: erfcx' = 2x erfcx - 2/sqrt(pi), ndtr' = phi,
log_ndtr' = G = phi/Phi with G' = -G (x + G), erfcinv and ndtri by the inverse function rule,
ndtri_exp' = 1/G(ndtri_exp), dawsn' = 1 - 2x dawsn, and Owen's T's partials
dT/dh = -exp(-h^2/2) erf(a h/sqrt(2)) / (2 sqrt(2 pi)), dT/da = exp(-h^2 (1 + a^2)/2) / (2 pi (1 + a^2)).
Where such a form cancels (2x erfcx - 2/sqrt(pi) for large x, x + G far below 0, 1 - 2x dawsn
for large |x|), the C code computes it from the continued fraction or series directly, so
the second derivatives keep their accuracy in the tails; the inverses' derivatives go through
erfcx rather than exp(z**2), which magnifies the rounding of z 2 z**2 times.

PyTensor's own ``Erfcx`` (C++ code gcc cannot build as C), ``Erfcinv`` and ``Owens_t`` (no C
code) are replaced by these in a user's graph (``substitute.py``).

Example:
    >>> import pytensor, pytensor.tensor as pt
    >>> x = pt.dvector("x")
    >>> f = pytensor.function([x], log_ndtr(x))
    >>> [round(float(v), 6) for v in f([-40.0])]
    [-804.608442]
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytensor.scalar as ps
import pytensor.scalar.math as psm
import scipy.special as sc
from pytensor.scalar.basic import BinaryScalarOp, UnaryScalarOp
from pytensor.tensor.elemwise import Elemwise

from elemgrad_gpu.graph import special
from elemgrad_gpu.graph.headers import constant as _const
from elemgrad_gpu.graph.substitute import substitutes

HEADER = Path(__file__).with_name("normal.h")
_SQRT_PI = math.sqrt(math.pi)


class _NormalOp(special._SpecialOp):
    """C from normal.h (after special.h): ``eg_<c_name>[f](inputs)``."""

    __props__ = ()
    headers = (special.HEADER, HEADER)


class Erfcx(_NormalOp, UnaryScalarOp):
    """``exp(x**2) * erfc(x)``, finite for large x; +inf below -26.6 (overflow) and at -inf."""

    c_name = "erfcx"
    nfunc_spec = ("scipy.special.erfcx", 1, 1)

    def impl(self, x):
        return sc.erfcx(x)

    def pullback(self, inputs, outputs, output_gradients):
        return [output_gradients[0] * scalar_erfcx_d1(inputs[0])]


class ErfcxD1(_NormalOp, UnaryScalarOp):
    """erfcx'(x) = 2x erfcx(x) - 2/sqrt(pi), computed without cancellation for large x."""

    c_name = "erfcx_d1"

    def impl(self, x):
        return 2 * x * sc.erfcx(x) - 2 / _SQRT_PI

    def pullback(self, inputs, outputs, output_gradients):
        (x,), (gz,) = inputs, output_gradients
        return [gz * _const(2.0, x) * (scalar_erfcx(x) + x * scalar_erfcx_d1(x))]


class Erfcinv(_NormalOp, UnaryScalarOp):
    """Inverse of erfc on (0, 2): +inf at 0, -inf at 2, NaN outside; relative accuracy near 0 and 2."""

    c_name = "erfcinv"
    nfunc_spec = ("scipy.special.erfcinv", 1, 1)

    def impl(self, y):
        return sc.erfcinv(y)

    def pullback(self, inputs, outputs, output_gradients):
        return [output_gradients[0] * scalar_erfcinv_d1(inputs[0])]


class ErfcinvD1(_NormalOp, UnaryScalarOp):
    """erfcinv'(y) = -sqrt(pi)/2 exp(z**2), z = erfcinv(y), in C as -sqrt(pi)/2 erfcx(z) / y: exp(z**2)
    magnifies the rounding of z 2 z**2 times (1e-5 in float32 near y = 1e-38), erfcx does not. Its
    derivative 2 z D**2 is a product: it overflows to inf, never to inf - inf."""

    c_name = "erfcinv_d1"

    def impl(self, y):
        return -_SQRT_PI / 2 * sc.erfcx(sc.erfcinv(y)) / y

    def pullback(self, inputs, outputs, output_gradients):
        (y,), (d,), (gz,) = inputs, outputs, output_gradients
        return [gz * _const(2.0, y) * scalar_erfcinv(y) * d * d]


class Ndtr(_NormalOp, UnaryScalarOp):
    """The standard normal CDF Phi(x), accurate in both tails."""

    c_name = "ndtr"
    nfunc_spec = ("scipy.special.ndtr", 1, 1)

    def impl(self, x):
        return sc.ndtr(x)

    def pullback(self, inputs, outputs, output_gradients):
        (x,), (gz,) = inputs, output_gradients
        return [gz * _const(1 / math.sqrt(2 * math.pi), x) * ps.exp(_const(-0.5, x) * x * x)]


class LogNdtr(_NormalOp, UnaryScalarOp):
    """log Phi(x), finite and accurate far below 0 (about -x**2/2 there)."""

    c_name = "log_ndtr"
    nfunc_spec = ("scipy.special.log_ndtr", 1, 1)

    def impl(self, x):
        return sc.log_ndtr(x)

    def pullback(self, inputs, outputs, output_gradients):
        return [output_gradients[0] * scalar_log_ndtr_d1(inputs[0])]


class LogNdtrD1(_NormalOp, UnaryScalarOp):
    """G(x) = phi(x)/Phi(x), the derivative of log_ndtr; G' = -G (x + G)."""

    c_name = "log_ndtr_d1"

    def impl(self, x):
        return np.exp(-0.5 * x * x - 0.5 * math.log(2 * math.pi) - sc.log_ndtr(x))

    def pullback(self, inputs, outputs, output_gradients):
        (x,), (g,), (gz,) = inputs, outputs, output_gradients
        return [-gz * g * scalar_log_ndtr_r(x)]


class LogNdtrR(_NormalOp, UnaryScalarOp):
    """x + G(x), from Mills' continued fraction far below 0 where that sum cancels; its derivative 1 - G (x + G)."""

    c_name = "log_ndtr_r"

    def impl(self, x):
        return x + np.exp(-0.5 * x * x - 0.5 * math.log(2 * math.pi) - sc.log_ndtr(x))

    def pullback(self, inputs, outputs, output_gradients):
        (x,), (r,), (gz,) = inputs, outputs, output_gradients
        return [gz * (_const(1.0, x) - scalar_log_ndtr_d1(x) * r)]


class Ndtri(_NormalOp, UnaryScalarOp):
    """Inverse of ndtr on (0, 1): -inf at 0, +inf at 1, NaN outside."""

    c_name = "ndtri"
    nfunc_spec = ("scipy.special.ndtri", 1, 1)

    def impl(self, p):
        return sc.ndtri(p)

    def pullback(self, inputs, outputs, output_gradients):
        return [output_gradients[0] * scalar_ndtri_d1(inputs[0])]


class NdtriD1(_NormalOp, UnaryScalarOp):
    """ndtri'(p) = 1/phi(z), z = ndtri(p), in C as sqrt(pi/2) erfcx(|z|/sqrt(2)) / min(p, 1 - p) (as
    ErfcinvD1); its derivative z D**2."""

    c_name = "ndtri_d1"

    def impl(self, p):
        return 1 / np.exp(-0.5 * sc.ndtri(p) ** 2) * math.sqrt(2 * math.pi)

    def pullback(self, inputs, outputs, output_gradients):
        (p,), (d,), (gz,) = inputs, outputs, output_gradients
        return [gz * scalar_ndtri(p) * d * d]


class NdtriExp(_NormalOp, UnaryScalarOp):
    """``ndtri(exp(y))`` for y <= 0 (+inf at 0, NaN above), accurate for y far below 0."""

    c_name = "ndtri_exp"
    nfunc_spec = ("scipy.special.ndtri_exp", 1, 1)

    def impl(self, y):
        return sc.ndtri_exp(y)

    def pullback(self, inputs, outputs, output_gradients):
        return [output_gradients[0] * scalar_ndtri_exp_d1(inputs[0])]


class NdtriExpD1(_NormalOp, UnaryScalarOp):
    """ndtri_exp'(y) = 1/G(z), z = ndtri_exp(y) (the inverse of log_ndtr), in C above z = 0 as
    exp(y) sqrt(pi/2) erfcx(z/sqrt(2)) / -expm1(y), free of phi(z)'s magnified rounding of z;
    its derivative (z + G(z)) D**2 (G' = -G (z + G))."""

    c_name = "ndtri_exp_d1"

    def impl(self, y):
        z = sc.ndtri_exp(y)
        return np.exp(sc.log_ndtr(z) + 0.5 * z * z) * math.sqrt(2 * math.pi)

    def pullback(self, inputs, outputs, output_gradients):
        (y,), (d,), (gz,) = inputs, outputs, output_gradients
        return [gz * scalar_log_ndtr_r(scalar_ndtri_exp(y)) * d * d]


class Dawsn(_NormalOp, UnaryScalarOp):
    """Dawson's integral exp(-x**2) * integral_0^x exp(t**2) dt."""

    c_name = "dawsn"
    nfunc_spec = ("scipy.special.dawsn", 1, 1)

    def impl(self, x):
        return sc.dawsn(x)

    def pullback(self, inputs, outputs, output_gradients):
        return [output_gradients[0] * scalar_dawsn_d1(inputs[0])]


class DawsnD1(_NormalOp, UnaryScalarOp):
    """dawsn'(x) = 1 - 2x dawsn(x), from the asymptotic series where that form cancels."""

    c_name = "dawsn_d1"

    def impl(self, x):
        return 1 - 2 * x * sc.dawsn(x)

    def pullback(self, inputs, outputs, output_gradients):
        (x,), (gz,) = inputs, output_gradients
        return [gz * _const(-2.0, x) * (scalar_dawsn(x) + x * scalar_dawsn_d1(x))]


class OwensT(_NormalOp, BinaryScalarOp):
    """Owen's T(h, a), even in h, odd in a; T(h, +-inf) = +-erfc(|h|/sqrt(2))/4, T(+-inf, a) = 0."""

    c_name = "owens_t"
    nfunc_spec = ("scipy.special.owens_t", 2, 1)

    def impl(self, h, a):
        return sc.owens_t(h, a)

    def pullback(self, inputs, outputs, output_gradients):
        (h, a), (gz,) = inputs, output_gradients
        half_h2 = _const(0.5, h) * h * h
        d_h = _const(-1 / (2 * math.sqrt(2 * math.pi)), h) * ps.exp(-half_h2) * ps.erf(
            a * h * _const(1 / math.sqrt(2), h))
        one_a2 = _const(1.0, a) + a * a
        d_a = ps.exp(-half_h2 * one_a2) / (_const(2 * math.pi, a) * one_a2)
        return [gz * d_h, gz * d_a]


scalar_erfcx, scalar_erfcx_d1 = Erfcx(name="erfcx"), ErfcxD1(name="erfcx_d1")
scalar_log_ndtr_d1, scalar_log_ndtr_r = LogNdtrD1(name="log_ndtr_d1"), LogNdtrR(name="log_ndtr_r")
scalar_dawsn, scalar_dawsn_d1 = Dawsn(name="dawsn"), DawsnD1(name="dawsn_d1")
scalar_erfcinv, scalar_erfcinv_d1 = Erfcinv(name="erfcinv"), ErfcinvD1(name="erfcinv_d1")
scalar_ndtri, scalar_ndtri_d1 = Ndtri(name="ndtri"), NdtriD1(name="ndtri_d1")
scalar_ndtri_exp, scalar_ndtri_exp_d1 = NdtriExp(name="ndtri_exp"), NdtriExpD1(name="ndtri_exp_d1")
_elemwise = {op.name: Elemwise(op) for op in (
    scalar_erfcx, scalar_erfcinv, Ndtr(name="ndtr"), LogNdtr(name="log_ndtr"), scalar_ndtri,
    scalar_ndtri_exp, scalar_dawsn, OwensT(name="owens_t"))}


def erfcx(x):
    """Elementwise scaled complementary error function ``exp(x**2) * erfc(x)``."""
    return _elemwise["erfcx"](x)


def erfcinv(y):
    """Elementwise inverse of erfc, for y in (0, 2)."""
    return _elemwise["erfcinv"](y)


def ndtr(x):
    """Elementwise standard normal CDF."""
    return _elemwise["ndtr"](x)


def log_ndtr(x):
    """Elementwise log of the standard normal CDF."""
    return _elemwise["log_ndtr"](x)


def ndtri(p):
    """Elementwise inverse of the standard normal CDF, for p in (0, 1)."""
    return _elemwise["ndtri"](p)


def ndtri_exp(y):
    """Elementwise ``ndtri(exp(y))``, for y <= 0."""
    return _elemwise["ndtri_exp"](y)


def dawsn(x):
    """Elementwise Dawson's integral."""
    return _elemwise["dawsn"](x)


def owens_t(h, a):
    """Elementwise Owen's T function T(h, a)."""
    return _elemwise["owens_t"](h, a)


@substitutes(psm.Erfcx)
def _pytensor_erfcx(node):
    return [erfcx(*node.inputs)]


@substitutes(psm.Erfcinv)
def _pytensor_erfcinv(node):
    return [erfcinv(*node.inputs)]


@substitutes(psm.Owens_t)
def _pytensor_owens_t(node):
    return [owens_t(*node.inputs)]


def _register_taylor_rules() -> None:
    from elemgrad_gpu.graph import taylor  # taylor.py imports special, which this module builds on

    taylor.register({Erfcx: taylor.erfcx_rule, Erfcinv: taylor.erfinv_like_rule(-_SQRT_PI / 2)})


_register_taylor_rules()

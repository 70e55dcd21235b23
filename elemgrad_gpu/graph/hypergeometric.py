"""Exponential, trigonometric and Fresnel integrals, Hurwitz zeta, hyp1f1 and hyp2f1: scalar ops with C code.

``zeta(x, q)``, ``hyp1f1(a, b, x)`` and ``hyp2f1(a, b, c, x)`` are ops that take their
derivative orders in x (zeta) or in the parameters (hyp1f1, hyp2f1) as properties, so each
derivative is another op of the family; their classes say how and on which domain (also
docs/EXPRESSIONS.md). PyTensor's own ``Hyp2F1`` in a user's graph is replaced by ours
(``@substitutes``), and each op's Taylor-mode rule is registered in graph/taylor.py's table.

``expi`` (Ei), ``exp1`` (E1), ``expn(n, x)`` (E_n, n a non-negative integer literal),
``si`` and ``ci`` (SciPy's ``sici`` as two functions), ``fresnel_s`` and ``fresnel_c``
(SciPy's ``fresnel``: ``S(x) = int_0^x sin(pi t**2 / 2) dt``). Each computes in C from
``hypergeometric.h`` beside this module (the same text compiles as CUDA device code), in
the node's dtype: float32 stays float32.

Derivatives are closed forms, each an op of the same kind, so every order is available:
``Ei' = e**x / x``, ``E1' = -e**-x / x``, ``E_n' = -E_(n-1)`` (``E_n`` for n <= 0 is
elementary and computed in closed form), ``Si^(k) = (sin(x)/x)^(k-1)`` (an op that is its
Taylor series for ``|x| < 2``: finite and exact at the removable singularity 0),
``Ci^(k) = (cos(x)/x)^(k-1)``, ``S' = sin(pi x**2 / 2)``, ``C' = cos(pi x**2 / 2)`` (with
``x**2`` reduced exactly, so the phase is right for large x).

NaN, infinities and poles are as SciPy's: ``Ei(0) = -inf``, ``E1(0) = inf``, ``E1(x < 0)``
and ``E_n(x < 0)`` NaN, ``Ci(0) = -inf``, ``Ci(x < 0) = Ci(|x|)`` (the real part),
``Ci(-inf)`` NaN. Accuracy: tests/graph/test_hypergeometric.py, docs/EXPRESSIONS.md.
"""
from __future__ import annotations

import math
from functools import cache
from pathlib import Path

import mpmath
import numpy as np
import pytensor.scalar as ps
import pytensor.tensor as pt
import scipy.special
from pytensor.graph.basic import Variable
from pytensor.scalar.basic import BinaryScalarOp, ScalarOp, UnaryScalarOp
from pytensor.scalar.math import Hyp2F1 as PyTensorHyp2F1
from pytensor.tensor.elemwise import Elemwise
from pytensor.tensor.exceptions import NotScalarConstantError

from elemgrad_gpu.errors import ExpressionError, NoTaylorRule
from elemgrad_gpu.graph.headers import constant as _const
from elemgrad_gpu.graph.special import _SpecialOp
from elemgrad_gpu.graph.substitute import substitutes
from elemgrad_gpu.graph.taylor_series import is_number

HEADER = Path(__file__).with_name("hypergeometric.h")
MAX_EXPN_ORDER = 100
"""Largest ``n`` of ``expn(n, x)`` (its derivatives use ``E_m`` down to ``m = n - order``)."""
MAX_DERIVATIVE = 6
"""Largest derivative order of the ops whose C code takes the order (``EG_HG_MMAX``)."""


class _HypergeometricOp(_SpecialOp):
    """special.py's C plumbing, with the C from hypergeometric.h."""

    headers = (HEADER,)


class Expi(_HypergeometricOp, UnaryScalarOp):
    """The exponential integral ``Ei(x)``; ``Ei(0) = -inf``."""

    __props__ = ()
    c_name = "hg_ei"

    def impl(self, x):
        return scipy.special.expi(x)

    def pullback(self, inputs, outputs, output_gradients):
        (x,), (gz,) = inputs, output_gradients
        return [gz * exp_over_x(0)(x)]

    def nth_derivative(self, j: int, x):
        return exp_over_x(j - 1)(x)


class ExpOverX(_HypergeometricOp, UnaryScalarOp):
    """The ``m``-th derivative of ``e**x / x`` (Ei's derivative of order m + 1)."""

    __props__ = ("m",)
    c_name = "hg_exp_over_x"

    def __init__(self, m: int):
        super().__init__(name=f"exp_over_x{m}")
        self.m = int(m)

    def impl(self, x):
        return math.exp(x) * sum(math.comb(self.m, i) * (-1) ** i * math.factorial(i) / x ** (i + 1)
                                 for i in range(self.m + 1))

    def c_prefix(self) -> str:
        return f"{self.m}, "

    def pullback(self, inputs, outputs, output_gradients):
        (x,), (gz,) = inputs, output_gradients
        return [gz * exp_over_x(self.m + 1)(x)]


class ExpN(_HypergeometricOp, UnaryScalarOp):
    """``E_n(x) = int_1^inf e**(-x t) / t**n dt`` for an integer ``n`` (n <= 0: elementary)."""

    __props__ = ("n",)
    c_name = "hg_expn"

    def __init__(self, n: int):
        super().__init__(name=f"expn{n}")
        self.n = int(n)

    def impl(self, x):
        if self.n >= 0:
            return scipy.special.expn(self.n, x)
        m = -self.n  # E_{-m}(x) = m! e^-x / x^(m+1) sum_k x^k / k!
        return math.factorial(m) * np.exp(-x) / x ** (m + 1) * sum(x ** k / math.factorial(k) for k in range(m + 1))

    def c_prefix(self) -> str:
        return f"{self.n}, "

    def printed_call(self, arguments: list[str]) -> str:
        """How graph/formula.py prints it: ``expn(2, x)`` (a negative n, of a derivative, does not parse back)."""
        return f"expn({self.n}, {arguments[0]})"

    def pullback(self, inputs, outputs, output_gradients):
        (x,), (gz,) = inputs, output_gradients
        return [-gz * scalar_expn(self.n - 1)(x)]

    def nth_derivative(self, j: int, x):
        return scalar_expn(self.n - j)(x) if j % 2 == 0 else -scalar_expn(self.n - j)(x)


class TrigOverX(_HypergeometricOp, UnaryScalarOp):
    """The ``m``-th derivative of ``sin(x)/x`` (its Taylor series for |x| < 2: exact at 0) or ``cos(x)/x``."""

    __props__ = ("cosine", "m")
    c_name = "hg_trig_over_x"

    def __init__(self, cosine: bool, m: int):
        super().__init__(name=f"{'cos' if cosine else 'sin'}_over_x{m}")
        self.cosine, self.m = bool(cosine), int(m)

    def impl(self, x):
        return _trig_over_x(self.cosine, self.m, float(x))

    def c_prefix(self) -> str:
        return f"{int(self.cosine)}, {self.m}, "

    def pullback(self, inputs, outputs, output_gradients):
        (x,), (gz,) = inputs, output_gradients
        return [gz * trig_over_x(self.cosine, self.m + 1)(x)]

    def nth_derivative(self, j: int, x):
        return trig_over_x(self.cosine, self.m + j)(x)


def _trig_over_x(cosine: bool, m: int, x: float) -> float:
    """hypergeometric.h's ``eg_hg_trig_over_x`` in Python (for constant folding)."""
    if not cosine and abs(x) < 2:  # sum_j (-1)^j x^(2j) / (2j+1)!, derived m times
        return sum((-1) ** j / math.factorial(2 * j + 1) * math.perm(2 * j, m) * x ** (2 * j - m)
                   for j in range(20) if 2 * j >= m)
    trig = (math.sin, math.cos, lambda t: -math.sin(t), lambda t: -math.cos(t))
    return sum(math.comb(m, i) * trig[(i + cosine) % 4](x) * (-1) ** (m - i) * math.factorial(m - i)
               / x ** (m - i + 1) for i in range(m + 1))


class _Integral(_HypergeometricOp, UnaryScalarOp):
    """A one-argument integral whose derivative is ``derivative(x)`` (a scalar op)."""

    __props__ = ()
    scipy_name: str
    index: int = 0  # which output of scipy's function (sici and fresnel give two)

    def impl(self, x):
        value = getattr(scipy.special, self.scipy_name)(x)
        return value[self.index] if isinstance(value, tuple) else value

    def derivative(self, x):
        raise NotImplementedError

    def pullback(self, inputs, outputs, output_gradients):
        (x,), (gz,) = inputs, output_gradients
        return [gz * self.derivative(x)]


class Exp1(_Integral):
    """``E1(x)``; ``E1(0) = inf``, NaN for x < 0."""

    c_name, scipy_name = "hg_e1", "exp1"

    def derivative(self, x):
        return -scalar_expn(0)(x)

    def nth_derivative(self, j: int, x):
        return scalar_expn(1).nth_derivative(j, x)


class Si(_Integral):
    """The sine integral ``Si(x) = int_0^x sin(t)/t dt``."""

    c_name, scipy_name, index = "hg_si", "sici", 0

    def derivative(self, x):
        return trig_over_x(False, 0)(x)

    def nth_derivative(self, j: int, x):
        return trig_over_x(False, j - 1)(x)


class Ci(_Integral):
    """The cosine integral ``Ci(x) = gamma + log|x| + int_0^|x| (cos(t) - 1)/t dt``; -inf at 0."""

    c_name, scipy_name, index = "hg_ci", "sici", 1

    def derivative(self, x):
        return trig_over_x(True, 0)(x)

    def nth_derivative(self, j: int, x):
        return trig_over_x(True, j - 1)(x)


class SinHalfPiSq(_Integral):
    """``sin(pi x**2 / 2)``, accurate for large x (the Fresnel S integrand)."""

    c_name = "hg_sin_half_pi_sq"

    def impl(self, x):
        return np.sin(np.pi * x * x / 2)

    def derivative(self, x):
        return _const(np.pi, x) * x * cos_half_pi_sq(x)


class CosHalfPiSq(_Integral):
    """``cos(pi x**2 / 2)``, accurate for large x (the Fresnel C integrand)."""

    c_name = "hg_cos_half_pi_sq"

    def impl(self, x):
        return np.cos(np.pi * x * x / 2)

    def derivative(self, x):
        return -_const(np.pi, x) * x * sin_half_pi_sq(x)


class FresnelS(_Integral):
    """Fresnel's ``S(x) = int_0^x sin(pi t**2 / 2) dt`` (SciPy's normalisation)."""

    c_name, scipy_name, index = "hg_fresnel_s", "fresnel", 0

    def derivative(self, x):
        return sin_half_pi_sq(x)


class FresnelC(_Integral):
    """Fresnel's ``C(x) = int_0^x cos(pi t**2 / 2) dt`` (SciPy's normalisation)."""

    c_name, scipy_name, index = "hg_fresnel_c", "fresnel", 1

    def derivative(self, x):
        return cos_half_pi_sq(x)


@cache
def scalar_expn(n: int) -> ExpN:
    """The scalar op of ``E_n`` (one shared instance per n; negative n for derivatives)."""
    return ExpN(n)


@cache
def exp_over_x(m: int) -> ExpOverX:
    """The scalar op of the m-th derivative of ``e**x / x``."""
    return ExpOverX(m)


@cache
def trig_over_x(cosine: bool, m: int) -> TrigOverX:
    """The scalar op of the m-th derivative of ``sin(x)/x`` or ``cos(x)/x``."""
    return TrigOverX(cosine, m)


sin_half_pi_sq = SinHalfPiSq(name="sin_half_pi_sq")
cos_half_pi_sq = CosHalfPiSq(name="cos_half_pi_sq")
_ELEMWISE = {name: Elemwise(op) for name, op in (
    ("expi", Expi(name="expi")), ("exp1", Exp1(name="exp1")), ("si", Si(name="si")), ("ci", Ci(name="ci")),
    ("fresnel_s", FresnelS(name="fresnel_s")), ("fresnel_c", FresnelC(name="fresnel_c")))}


def _float(x) -> pt.TensorVariable:
    x = pt.as_tensor_variable(x)
    return x if x.dtype.startswith("float") else pt.cast(x, "float64")


def expi(x) -> pt.TensorVariable:
    """Elementwise exponential integral ``Ei(x)`` (scipy.special.expi)."""
    return _ELEMWISE["expi"](_float(x))


def exp1(x) -> pt.TensorVariable:
    """Elementwise ``E1(x)`` (scipy.special.exp1)."""
    return _ELEMWISE["exp1"](_float(x))


def si(x) -> pt.TensorVariable:
    """Elementwise sine integral (scipy.special.sici's first output)."""
    return _ELEMWISE["si"](_float(x))


def ci(x) -> pt.TensorVariable:
    """Elementwise cosine integral (scipy.special.sici's second output)."""
    return _ELEMWISE["ci"](_float(x))


def fresnel_s(x) -> pt.TensorVariable:
    """Elementwise Fresnel S (scipy.special.fresnel's first output)."""
    return _ELEMWISE["fresnel_s"](_float(x))


def fresnel_c(x) -> pt.TensorVariable:
    """Elementwise Fresnel C (scipy.special.fresnel's second output)."""
    return _ELEMWISE["fresnel_c"](_float(x))


def _literal(name: str, n, largest: int) -> int:
    """``n`` as a Python int in ``[0, largest]``: an integer or a constant integer scalar variable."""
    value = n
    if isinstance(n, Variable):
        try:
            value = pt.get_underlying_scalar_constant_value(n)
        except NotScalarConstantError:
            raise ExpressionError(f"{name}'s order n must be a constant integer, got the variable {n}") from None
    array = np.asarray(value)
    # the expression language passes its numbers as float constants: 3.0 is the literal 3
    integral = array.dtype.kind in "iu" or (array.dtype.kind == "f" and array.ndim == 0 and float(array).is_integer())
    if isinstance(value, bool) or array.ndim != 0 or not integral or not 0 <= int(array) <= largest:
        raise ExpressionError(f"{name}'s order n must be an integer in [0, {largest}], got {value!r}")
    return int(array)


@cache
def _elemwise_expn(n: int) -> Elemwise:
    return Elemwise(scalar_expn(n))


def expn(n, x) -> pt.TensorVariable:
    """Elementwise generalized exponential integral ``E_n(x)`` for a constant integer ``0 <= n <= 100``."""
    return _elemwise_expn(_literal("expn", n, MAX_EXPN_ORDER))(_float(x))


class Zeta(_HypergeometricOp, BinaryScalarOp):
    """The ``m``-th derivative in ``x`` of Hurwitz's ``zeta(x, q)`` (scipy.special.zeta(x, q) for m = 0).

    Euler-Maclaurin: the direct sum up to ``a = q + N >= max(9, (x + 26)/pi)``, then the
    integral, half and ``EG_HG_BERNOULLI = 14`` Bernoulli terms, each differentiated m times
    in x. Consecutive Bernoulli terms fall by ``((x + 2j)/(2 pi a))**2 <= 1/4`` or faster,
    and for m = 0 (a completely monotone summand) the remainder is below the first omitted
    term, ``|B_30/30!| (x)_29 a**(-x-29)``: under 2e-17 of the value on the documented
    domain ``1 < x <= 60``, ``0 < q <= 1e4`` (tests/graph/test_hypergeometric.py checks the
    bound, and the derivatives against mpmath).
    """

    __props__ = ("m",)
    c_name = "hg_zeta"

    def __init__(self, m: int):
        super().__init__(name=f"zeta{m}" if m else "zeta")
        self.m = int(m)

    def impl(self, x, q):
        if self.m:
            return float(mpmath.diff(lambda t: mpmath.zeta(t, q), x, self.m))
        return scipy.special.zeta(x, q)

    def c_prefix(self) -> str:
        return f"{self.m}, "

    def pullback(self, inputs, outputs, output_gradients):
        (x, q), (gz,) = inputs, output_gradients
        one = _const(1.0, x)
        dq = -x * scalar_zeta(self.m)(x + one, q)  # d/dq zeta(x, q) = -x zeta(x + 1, q), derived m times in x
        if self.m:
            dq = dq - _const(self.m, x) * scalar_zeta(self.m - 1)(x + one, q)
        return [gz * scalar_zeta(self.m + 1)(x, q), gz * dq]


@cache
def scalar_zeta(m: int) -> Zeta:
    """The scalar op of the m-th x-derivative of zeta; an ExpressionError past ``MAX_DERIVATIVE``."""
    if m > MAX_DERIVATIVE:
        raise ExpressionError(f"zeta(x, q) is differentiated at most {MAX_DERIVATIVE} times in x "
                              f"(the C code's EG_HG_MMAX), not {m}")
    return Zeta(m)


def zeta(x, q) -> pt.TensorVariable:
    """Elementwise Hurwitz zeta ``sum_k (q + k)**-x`` (scipy.special.zeta(x, q)); x > 1, q > 0."""
    x, q = _float(x), _float(q)
    return Elemwise(scalar_zeta(0))(x, q)



def _parameter_order(name: str, orders: tuple[int, ...]) -> tuple[int, ...]:
    if sum(orders) > MAX_DERIVATIVE:
        raise ExpressionError(f"{name} is differentiated at most {MAX_DERIVATIVE} times in its parameters together "
                              f"(the C code's EG_HG_MMAX), not {sum(orders)}")
    return orders


def _leibniz_terms(k: int, factor, one):
    """``d^k/dp^k (p * G(p + 1))`` as [(coefficient, order of G)]: ``p G^(k) + k G^(k-1)``."""
    return [(factor, k)] + ([(_const(k, one), k - 1)] if k else [])


class Hyp1F1(_HypergeometricOp, ScalarOp):
    """``d^i/da^i d^j/db^j`` of Kummer's ``M(a, b, x) = 1F1(a; b; x)`` (scipy.special.hyp1f1 for i = j = 0).

    Its series, ``sum_k (a)_k / (b)_k x**k / k!``, for x >= 0, and Kummer's transformation
    ``e**x M(b - a, b, -x)`` for x < 0 (so no term cancels beyond a few where ``b - a < 0``);
    the parameter derivatives are the same series with the Taylor coefficients in a and b of
    ``(a)_k`` and ``1/(b)_k`` (no digamma needed). Ends when two consecutive terms are below
    ``eps`` of the sum past ``k > |x|``, NaN after 5000 terms. Documented domain:
    ``-10 <= a <= 10``, ``0.1 <= b <= 10``, ``|x| <= 30`` (tests/graph/test_hypergeometric.py).
    """

    __props__ = ("i", "j")
    nin, nout = 3, 1
    c_name = "hg_hyp1f1"

    def __init__(self, i: int, j: int):
        super().__init__(name="hyp1f1" if i == j == 0 else f"hyp1f1_d{i}{j}")
        self.i, self.j = _parameter_order("hyp1f1(a, b, x)", (int(i), int(j)))

    def impl(self, a, b, x):
        if self.i == self.j == 0:
            return scipy.special.hyp1f1(a, b, x)
        return float(mpmath.diff(lambda u, v: mpmath.hyp1f1(u, v, x), (a, b), (self.i, self.j)))

    def c_prefix(self) -> str:
        return f"{self.i}, {self.j}, "

    def pullback(self, inputs, outputs, output_gradients):
        (a, b, x), (gz,) = inputs, output_gradients
        one = _const(1.0, x)
        terms = []  # d^i/da^i d^j/db^j of a/b M(a + 1, b + 1, x)
        for coefficient, i in _leibniz_terms(self.i, a, one):
            for m in range(self.j + 1):  # d^m/db^m 1/b = (-1)^m m! / b^(m+1)
                weight = _const((-1) ** m * math.comb(self.j, m) * math.factorial(m), one) / b ** (m + 1)
                terms.append(coefficient * weight * scalar_hyp1f1(i, self.j - m)(a + one, b + one, x))
        return [gz * scalar_hyp1f1(self.i + 1, self.j)(a, b, x), gz * scalar_hyp1f1(self.i, self.j + 1)(a, b, x),
                gz * ps.add(*terms)]


class Hyp2F1(_HypergeometricOp, ScalarOp):
    """``d^i/da^i d^j/db^j d^l/dc^l`` of Gauss's ``2F1(a, b; c; x)`` (scipy.special.hyp2f1 for i = j = l = 0).

    Its series ``sum_k (a)_k (b)_k / (c)_k x**k / k!`` for ``0 <= x < 1`` and Pfaff's
    transformation ``(1 - x)**-a 2F1(a, c - b; c; x / (x - 1))`` for ``x < 0`` (so every x
    below 1 maps into [0, 1)); the parameter derivatives are the same series with the Taylor
    coefficients of the Pochhammer symbols, combined through the transformation by the
    chain rule. Ends when two consecutive terms are below ``eps`` of the sum, NaN after
    5000 terms (x within about 1e-3 of 1, or x below about -1e3). Documented domain:
    ``-5 <= a, b <= 5``, ``0.5 <= c <= 8``, ``-20 <= x <= 0.9``.
    """

    __props__ = ("i", "j", "l")
    nin, nout = 4, 1
    c_name = "hg_hyp2f1"

    def __init__(self, i: int, j: int, l: int):
        super().__init__(name="hyp2f1" if i == j == l == 0 else f"hyp2f1_d{i}{j}{l}")
        self.i, self.j, self.l = _parameter_order("hyp2f1(a, b, c, x)", (int(i), int(j), int(l)))

    def impl(self, a, b, c, x):
        if self.i == self.j == self.l == 0:
            return scipy.special.hyp2f1(a, b, c, x)
        return float(mpmath.diff(lambda u, v, w: mpmath.hyp2f1(u, v, w, x), (a, b, c), (self.i, self.j, self.l)))

    def c_prefix(self) -> str:
        return f"{self.i}, {self.j}, {self.l}, "

    def pullback(self, inputs, outputs, output_gradients):
        (a, b, c, x), (gz,) = inputs, output_gradients
        one = _const(1.0, x)
        terms = []  # d^i/da^i d^j/db^j d^l/dc^l of a b / c 2F1(a + 1, b + 1; c + 1; x)
        for ca, i in _leibniz_terms(self.i, a, one):
            for cb, j in _leibniz_terms(self.j, b, one):
                for m in range(self.l + 1):
                    weight = _const((-1) ** m * math.comb(self.l, m) * math.factorial(m), one) / c ** (m + 1)
                    terms.append(ca * cb * weight * scalar_hyp2f1(i, j, self.l - m)(a + one, b + one, c + one, x))
        i, j, l = self.i, self.j, self.l
        return [gz * scalar_hyp2f1(i + 1, j, l)(a, b, c, x), gz * scalar_hyp2f1(i, j + 1, l)(a, b, c, x),
                gz * scalar_hyp2f1(i, j, l + 1)(a, b, c, x), gz * ps.add(*terms)]


@cache
def scalar_hyp1f1(i: int, j: int) -> Hyp1F1:
    """The scalar op of ``d^i/da^i d^j/db^j hyp1f1``; an ExpressionError past ``MAX_DERIVATIVE`` in all."""
    return Hyp1F1(i, j)


@cache
def scalar_hyp2f1(i: int, j: int, l: int) -> Hyp2F1:
    """The scalar op of ``d^i/da^i d^j/db^j d^l/dc^l hyp2f1``; an ExpressionError past ``MAX_DERIVATIVE``."""
    return Hyp2F1(i, j, l)


def hyp1f1(a, b, x) -> pt.TensorVariable:
    """Elementwise confluent hypergeometric ``M(a, b, x)`` (scipy.special.hyp1f1)."""
    return Elemwise(scalar_hyp1f1(0, 0))(_float(a), _float(b), _float(x))


def hyp2f1(a, b, c, x) -> pt.TensorVariable:
    """Elementwise Gauss hypergeometric ``2F1(a, b; c; x)`` for x < 1 (scipy.special.hyp2f1)."""
    return Elemwise(scalar_hyp2f1(0, 0, 0))(_float(a), _float(b), _float(c), _float(x))


@substitutes(PyTensorHyp2F1)
def _pytensor_hyp2f1(node):
    """PyTensor's hyp2f1 (C code, but a ScalarLoop gradient that does not fuse): ours, same inputs."""
    return [hyp2f1(*node.inputs)]


# Taylor mode (graph/taylor.py): the rules of these ops, registered in its table.

def _taylor_compose(a, node, s):
    """``f(u)`` for an op whose ``nth_derivative(j, x)`` is a closed form: by composition."""
    u0 = s[0][0]
    derivatives = [a.call(lambda v, j=j: node.op.nth_derivative(j, v), u0) for j in range(1, a.order + 1)]
    return a.compose(s[0], derivatives, node.outputs[0])


def _taylor_fresnel(a, node, s):
    """Fresnel S and C: ``y' = sin(phase) u'`` (or cos), ``phase = pi/2 u**2`` by the sin/cos recurrence."""
    from elemgrad_gpu.graph.taylor import _sin_cos

    u = s[0]
    phase = [a.mul(math.pi / 2, c) for c in a.product(u, u)]
    sin, cos = _sin_cos(a, phase, a.call(sin_half_pi_sq, u[0]), a.call(cos_half_pi_sq, u[0]))
    return a.chain(u, sin if isinstance(node.op, FresnelS) else cos, node.outputs[0])


def _varies(a, series) -> bool:
    return any(not (is_number(c) and float(c) == 0) for c in series[1:])


def _taylor_zeta(a, node, s):
    """zeta(x, q) with one of x, q varying: x-derivatives are ops; d^j/dq^j = (-1)^j (x)_j zeta(x + j, q)."""
    (x, q), m = s, node.op.m
    if _varies(a, x) and _varies(a, q) or (m and _varies(a, q)):
        raise NoTaylorRule("zeta(x, q) with both arguments varying has no Taylor rule: symbolic instead")
    if not _varies(a, q):
        derivatives = [a.call(scalar_zeta(m + j), x[0], q[0]) for j in range(1, a.order + 1)]
        return a.compose(x, derivatives, node.outputs[0])
    derivatives = []
    for j in range(1, a.order + 1):
        rising = a.mul(*[a.add(x[0], float(i)) for i in range(j)])
        derivatives.append(a.mul((-1.0) ** j, rising, a.call(scalar_zeta(0), a.add(x[0], float(j)), q[0])))
    return a.compose(q, derivatives, node.outputs[0])


def _taylor_hypergeometric(a, node, s):
    """hyp1f1 and hyp2f1 with only x varying: d^j/dx^j = prod (p)_j / prod (q)_j F(p + j; q + j; x)."""
    *parameters, x = s
    if any(_varies(a, p) for p in parameters) or any(getattr(node.op, k, 0) for k in "ijl"):
        raise NoTaylorRule(f"{node.op} with a parameter varying has no Taylor rule: symbolic instead")
    values = [p[0] for p in parameters]
    upper = values[:-1]  # a (and b); the last parameter is the lower one
    derivatives = []
    for j in range(1, a.order + 1):
        rising = [a.add(v, float(r)) for v in upper for r in range(j)]
        lower = a.mul(*[a.add(values[-1], float(r)) for r in range(j)])
        shifted = [a.add(v, float(j)) for v in values]
        op = scalar_hyp1f1(0, 0) if len(values) == 2 else scalar_hyp2f1(0, 0, 0)
        derivatives.append(a.div(a.mul(*rising, a.call(op, *shifted, x[0])), lower))
    return a.compose(x, derivatives, node.outputs[0])


def _register_taylor_rules() -> None:
    from elemgrad_gpu.graph import taylor

    taylor.register({Expi: _taylor_compose, ExpN: _taylor_compose, Exp1: _taylor_compose, Si: _taylor_compose,
                         Ci: _taylor_compose, TrigOverX: _taylor_compose, ExpOverX: _taylor_compose,
                         FresnelS: _taylor_fresnel, FresnelC: _taylor_fresnel, Zeta: _taylor_zeta,
                         Hyp1F1: _taylor_hypergeometric, Hyp2F1: _taylor_hypergeometric})


_register_taylor_rules()

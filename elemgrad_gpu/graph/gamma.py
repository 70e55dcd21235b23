"""The gamma family as PyTensor scalar ops with C code: gamma, rgamma, gammasgn, trigamma,
beta, betaln, poch, factorial, comb, multigammaln.

The C code is ``gamma.h`` beside this module (after ``special.h``, whose polygamma it
uses); the same text compiles as CUDA device code. Each op computes in its node's dtype.

* ``gamma``, ``rgamma`` (1/gamma), ``factorial`` and ``multigammaln`` are ops of a derivative
  order ``k``: the op of order k differentiates to the op of order k + 1, so every derivative
  is one node (and a Taylor rule composes them). rgamma is entire: 0 at the poles of gamma,
  where its derivative is (-1)^n n! at x = -n, computed from sin(pi x)/pi * gamma(1 - x).
* ``beta``, ``betaln``, ``poch`` and ``comb`` differentiate through ``psidiff(x, d) =
  digamma(x + d) - digamma(x)``, computed without cancellation (``digamma(a) - digamma(a + b)``
  for large ``a`` and small ``b`` would lose ``log(a) / (b / a)`` in relative terms).
* ``betaln`` is Stirling's series for all three gammas where both arguments are >= 10 (no
  cancellation: ``betaln(1e5, 1e5)`` to 1e-15); ``poch`` is ``exp`` of the same accurate
  ``lgamma(z + m) - lgamma(z)``.

Conventions follow scipy.special (its poles, signs, NaN and inf): ``gamma`` is NaN at the
negative integers and +-inf at +-0; ``factorial`` is 0 for x < 0; ``comb`` (``exact=False``)
is 0 unless 0 <= k <= N; ``multigammaln(a, d)`` is NaN where a <= (d - 1)/2 (SciPy raises).
Accuracy against mpmath: tests/graph/test_gamma.py and docs/EXPRESSIONS.md.

PyTensor's own ``Gamma`` op in a user's graph is replaced by ours (``substitute.py``), so
``pt.gamma``, ``pt.special.factorial``, ``pt.special.beta`` and ``pt.special.poch`` (built of
it) get the Taylor rule; ``pt.gammaln``, ``pt.psi``, ``pt.tri_gamma`` and ``pt.polygamma``
already compute with special.py's accurate ops.

Example:
    >>> import numpy as np, elemgrad_gpu as eg
    >>> value, slope = eg.compile("rgamma(x)", orders=(0, 1), device="cpu")(np.array([-2.0]))
    >>> float(value[0]), float(slope[0])  # 1/gamma at the pole -2, and its slope (-1)^2 2!
    (0.0, 2.0)
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytensor.scalar as ps
import pytensor.scalar.math as psm
import pytensor.tensor as pt
import scipy.special
from pytensor.graph.basic import Apply, Variable
from pytensor.scalar.basic import BinaryScalarOp, UnaryScalarOp, upgrade_to_float_no_complex
from pytensor.tensor.elemwise import Elemwise
from pytensor.tensor.exceptions import NotScalarConstantError

from elemgrad_gpu.compat import Pullback
from elemgrad_gpu.errors import ExpressionError
from elemgrad_gpu.graph import special, taylor
from elemgrad_gpu.graph.headers import constant as _const
from elemgrad_gpu.graph.special import _SpecialOp, scalar_polygamma
from elemgrad_gpu.graph.substitute import substitutes

HEADER = Path(__file__).with_name("gamma.h")
MAX_DERIVATIVE = 16
"""Largest derivative order of gamma, rgamma, factorial and multigammaln (EG_KMAX of gamma.h)."""


class _GammaOp(_SpecialOp):
    """C code from special.h and gamma.h."""

    headers = (special.HEADER, HEADER)


def _bell(derivatives: list[float]) -> list[float]:
    """Complete Bell polynomials Y_0..Y_k of ``derivatives`` (g', .., g^(k)): d^m exp(g) / exp(g)."""
    y = [1.0]
    for m in range(len(derivatives)):
        y.append(sum(math.comb(m, i) * derivatives[i] * y[m - i] for i in range(m + 1)))
    return y


class _Derivative(_GammaOp, UnaryScalarOp):
    """The k-th derivative of a function of one argument; its derivative is the op of order k + 1."""

    __props__ = ("k",)
    function: str  # the row's name: the op of order 0 prints as it

    def __init__(self, k: int = 0):
        if not 0 <= k <= MAX_DERIVATIVE:
            raise ExpressionError(f"{self.function}'s derivatives go up to order {MAX_DERIVATIVE}, not {k}")
        super().__init__(name=self.function if k == 0 else f"{self.function}_d{k}")
        self.k = int(k)

    def c_prefix(self) -> str:
        return f"{self.k}, "

    def pullback(self, inputs, outputs, output_gradients):
        (x,), (gz,) = inputs, output_gradients
        return [gz * type(self)(self.k + 1)(x)]


class GammaK(_Derivative):
    """``gamma(x)`` (k = 0, C's tgamma) and its k-th derivative, gamma(x) Y_k(digamma, ..)."""

    function, c_name = "gamma", "gamma_k"

    def impl(self, x):
        if self.k == 0:
            return scipy.special.gamma(x)
        return scipy.special.gamma(x) * _bell([scipy.special.polygamma(i, x) for i in range(self.k)])[-1]


class RGammaK(_Derivative):
    """``1/gamma(x)`` (k = 0) and its k-th derivative: entire, 0 at the poles of gamma."""

    function, c_name = "rgamma", "rgamma_k"

    def impl(self, x):
        if self.k == 0:
            return scipy.special.rgamma(x)
        if x >= 0.5:
            return _bell([-scipy.special.polygamma(i, x) for i in range(self.k)])[-1] * scipy.special.rgamma(x)
        h = x - np.round(x)  # Leibniz over sin(pi x)/pi and gamma(1 - x), as gamma.h
        s, c = (np.sin(np.pi * h), np.cos(np.pi * h)) if np.round(x) % 2 == 0 else (-np.sin(np.pi * h),
                                                                                     -np.cos(np.pi * h))
        g, y = scipy.special.gamma(1 - x), _bell([scipy.special.polygamma(i, 1 - x) for i in range(self.k)])
        terms = ((math.comb(self.k, j) * np.pi ** (j - 1) * (s, c, -s, -c)[j % 4],
                  (-1) ** (self.k - j) * g * y[self.k - j]) for j in range(self.k + 1))
        return sum(a * b for a, b in terms if a != 0)


class FactorialK(_Derivative):
    """``factorial(x)`` = gamma(x + 1) for x >= 0, 0 below (scipy.special.factorial, exact=False)."""

    function, c_name = "factorial", "factorial_k"

    def impl(self, x):
        return 0.0 if x < 0 else GammaK(self.k).impl(x + 1)


class GammaSgn(_GammaOp, UnaryScalarOp):
    """The sign of gamma(x) (scipy.special.gammasgn); piecewise constant: derivative 0."""

    __props__ = ()
    c_name = "gammasgn"

    def impl(self, x):
        return scipy.special.gammasgn(x)

    def pullback(self, inputs, outputs, output_gradients):
        (x,), (gz,) = inputs, output_gradients
        return [gz * _const(0.0, gz)]


class MultiGammaLnK(_GammaOp, BinaryScalarOp):
    """``multigammaln(a, d)`` (k = 0) and its k-th derivative in ``a``, ``d`` a constant input
    (an integer literal: the printed formula shows it)."""

    __props__ = ("k",)
    c_name = "multigammaln_k"

    def __init__(self, k: int = 0):
        if not 0 <= k <= MAX_DERIVATIVE:
            raise ExpressionError(f"multigammaln's derivatives go up to order {MAX_DERIVATIVE}, not {k}")
        super().__init__(name="multigammaln" if k == 0 else f"multigammaln_d{k}")
        self.k = int(k)

    def c_prefix(self) -> str:
        return f"{self.k}, "

    def impl(self, a, d):
        d = int(d)
        if not a > (d - 1) / 2:
            return np.nan
        if self.k == 0:
            return scipy.special.multigammaln(a, d) if d > 0 else 0.0
        return sum(scipy.special.polygamma(self.k - 1, a - j / 2) for j in range(d))

    def pullback(self, inputs, outputs, output_gradients):
        (a, d), (gz,) = inputs, output_gradients
        return [gz * MultiGammaLnK(self.k + 1)(a, d), gz * _const(0.0, gz)]  # d: a literal, never varied


class PsiDiff(_GammaOp, BinaryScalarOp):
    """``digamma(x + d) - digamma(x)``, without cancellation for x, x + d > 0."""

    __props__ = ()
    c_name = "psidiff"

    def impl(self, x, d):
        return scipy.special.digamma(x + d) - scipy.special.digamma(x)

    def pullback(self, inputs, outputs, output_gradients):
        (x, d), (gz,) = inputs, output_gradients
        trigamma = scalar_polygamma(1)
        return [gz * (trigamma(x + d) - trigamma(x)), gz * trigamma(x + d)]


psidiff_op = PsiDiff(name="psidiff")


class Beta(_GammaOp, BinaryScalarOp):
    """``beta(a, b)`` (scipy.special.beta); d/da = beta * (digamma(a) - digamma(a + b))."""

    __props__ = ()
    c_name = "beta"
    commutative = True

    def impl(self, a, b):
        return scipy.special.beta(a, b)

    def pullback(self, inputs, outputs, output_gradients):
        (a, b), (z,), (gz,) = inputs, outputs, output_gradients
        return [-gz * z * psidiff_op(a, b), -gz * z * psidiff_op(b, a)]


class BetaLn(_GammaOp, BinaryScalarOp):
    """``log|beta(a, b)|`` (scipy.special.betaln); d/da = digamma(a) - digamma(a + b)."""

    __props__ = ()
    c_name = "betaln"
    commutative = True

    def impl(self, a, b):
        return scipy.special.betaln(a, b)

    def pullback(self, inputs, outputs, output_gradients):
        (a, b), (gz,) = inputs, output_gradients
        return [-gz * psidiff_op(a, b), -gz * psidiff_op(b, a)]


class Poch(_GammaOp, BinaryScalarOp):
    """``gamma(z + m) / gamma(z)`` (scipy.special.poch); d/dz = poch * (digamma(z + m) -
    digamma(z)), d/dm = poch * digamma(z + m)."""

    __props__ = ()
    c_name = "poch"

    def impl(self, z, m):
        return scipy.special.poch(z, m)

    def pullback(self, inputs, outputs, output_gradients):
        (z, m), (p,), (gz,) = inputs, outputs, output_gradients
        return [gz * p * psidiff_op(z, m), gz * p * scalar_polygamma(0)(z + m)]


def _inside(n, k, like):
    """0 <= k <= N (False for NaN): where comb is a binomial coefficient."""
    zero = _const(0.0, like)
    return ps.and_(ps.and_(ps.le(k, n), ps.ge(n, zero)), ps.ge(k, zero))


class CombGuard(Pullback, BinaryScalarOp):
    """``N`` (which = 0) or ``k`` (which = 1) where 0 <= k <= N, else 2 or 1 (binom(2, 1) is
    defined): the arguments of comb's derivatives, so that outside its support, where comb is
    0, they compute no 0 * inf and raise no "invalid" flag. An op, not a switch, so that
    PyTensor does not merge it into the switch of the derivative (see removable.Guard)."""

    __props__ = ("which",)
    output_types_preference = staticmethod(upgrade_to_float_no_complex)

    def __init__(self, which: int):
        super().__init__(name=f"comb_guard{which}")
        self.which = int(which)

    def impl(self, n, k):
        return (n, k)[self.which] if 0 <= k <= n else (2.0, 1.0)[self.which]

    def c_code(self, node, name, inputs, outputs, sub) -> str:
        (n, k), (z,) = inputs, outputs
        safe = "2" if self.which == 0 else "1"
        return f"{z} = ({k} <= {n} && {n} >= 0 && {k} >= 0) ? {(n, k)[self.which]} : {safe};"

    def c_code_cache_version(self) -> tuple[int, ...]:
        return (1,)

    def pullback(self, inputs, outputs, output_gradients):
        (n, k), (gz,) = inputs, output_gradients
        zero = _const(0.0, gz)
        passed = ps.switch(_inside(n, k, gz), gz, zero)
        return [passed, zero] if self.which == 0 else [zero, passed]


comb_guards = (CombGuard(0), CombGuard(1))


class Comb(_GammaOp, BinaryScalarOp):
    """``comb(N, k)`` = binom(N, k) where 0 <= k <= N, else 0 (scipy.special.comb, exact=False)."""

    __props__ = ()
    c_name = "comb"

    def impl(self, n, k):
        return scipy.special.comb(n, k)

    def pullback(self, inputs, outputs, output_gradients):
        (n, k), (c,), (gz,) = inputs, outputs, output_gradients
        zero, one = _const(0.0, gz), _const(1.0, gz)
        n_in, k_in = (guard(n, k) for guard in comb_guards)
        # d/dN: digamma(N + 1) - digamma(N - k + 1); d/dk: digamma(N - k + 1) - digamma(k + 1)
        dn = c * psidiff_op(n_in - k_in + one, k_in)
        dk = c * psidiff_op(k_in + one, n_in - k_in - k_in)
        inside = _inside(n, k, gz)
        return [ps.switch(inside, gz * dn, zero), ps.switch(inside, gz * dk, zero)]


_gamma, _rgamma, _factorial = (Elemwise(op(0)) for op in (GammaK, RGammaK, FactorialK))
_gammasgn = Elemwise(GammaSgn(name="gammasgn"))
_beta, _betaln = Elemwise(Beta(name="beta")), Elemwise(BetaLn(name="betaln"))
_poch, _comb = Elemwise(Poch(name="poch")), Elemwise(Comb(name="comb"))
_multigammaln = Elemwise(MultiGammaLnK(0))


def _float(x) -> pt.TensorVariable:
    x = pt.as_tensor_variable(x)
    return x if x.dtype.startswith("float") else pt.cast(x, "float64")


def gamma(x) -> pt.TensorVariable:
    """Elementwise gamma function (scipy.special.gamma: NaN at the negative integers)."""
    return _gamma(_float(x))


def rgamma(x) -> pt.TensorVariable:
    """Elementwise 1/gamma(x): entire, 0 at 0, -1, -2, ..."""
    return _rgamma(_float(x))


def gammasgn(x) -> pt.TensorVariable:
    """Elementwise sign of gamma(x) (scipy.special.gammasgn)."""
    return _gammasgn(_float(x))


def trigamma(x) -> pt.TensorVariable:
    """Elementwise trigamma, ``polygamma(1, x)``."""
    return special.polygamma(1, x)


def factorial(n) -> pt.TensorVariable:
    """Elementwise gamma(n + 1) for real n >= 0, 0 for n < 0 (scipy.special.factorial, exact=False)."""
    return _factorial(_float(n))


def beta(a, b) -> pt.TensorVariable:
    """Elementwise beta function gamma(a) gamma(b) / gamma(a + b)."""
    return _beta(a, b)


def betaln(a, b) -> pt.TensorVariable:
    """Elementwise log|beta(a, b)|, accurate for large arguments."""
    return _betaln(a, b)


def poch(z, m) -> pt.TensorVariable:
    """Elementwise Pochhammer symbol (rising factorial) gamma(z + m) / gamma(z)."""
    return _poch(z, m)


def comb(n, k) -> pt.TensorVariable:
    """Elementwise binomial coefficient for real N, k: 0 unless 0 <= k <= N (scipy.special.comb, exact=False)."""
    return _comb(n, k)


def _dimension(d) -> int:
    """multigammaln's ``d``: a non-negative integer (Python, NumPy or a constant scalar)."""
    value = d
    if isinstance(d, Variable):
        try:
            value = pt.get_underlying_scalar_constant_value(d)
        except NotScalarConstantError:
            raise ExpressionError(f"multigammaln's d must be a constant integer, got the variable {d}") from None
    array = np.asarray(value)
    if isinstance(value, bool) or array.ndim != 0 or array.dtype.kind not in "iu" or int(array) < 0:
        raise ExpressionError(f"multigammaln's d must be a non-negative integer, got {d!r}")
    return int(array)


def multigammaln(a, d) -> pt.TensorVariable:
    """Elementwise log of the multivariate gamma function of dimension ``d`` (an integer literal)."""
    a = _float(a)
    return _multigammaln(a, pt.constant(np.asarray(_dimension(d), dtype=a.dtype)))


# ---- Taylor rules: the derivative ops of order k + 1 .. k + K, composed with the argument ----

def _derivative_rule(a, node, s):
    op, u0 = node.op, s[0][0]
    derivatives = [a.call(type(op)(op.k + j), u0) for j in range(1, a.order + 1)]
    return a.compose(s[0], derivatives, node.outputs[0])


def _multigammaln_rule(a, node, s):
    if not taylor._is_constant(s[1]):
        raise taylor.NoTaylorRule("multigammaln's d varies")
    op, (u0, d) = node.op, (s[0][0], node.inputs[1])
    derivatives = [a.call(MultiGammaLnK(op.k + j), u0, d) for j in range(1, a.order + 1)]
    return a.compose(s[0], derivatives, node.outputs[0])


def _varying(s) -> int:
    """The one operand of a binary op whose series varies; NoTaylorRule when both do."""
    varying = [i for i, series in enumerate(s) if not taylor._is_constant(series)]
    if len(varying) != 1:
        raise taylor.NoTaylorRule("a gamma-family function of two varying arguments")
    return varying[0]


def _polygamma_difference(a, j: int, plus, minus):
    """polygamma(j, plus) - polygamma(j, minus) (either may be None: left out)."""
    terms = [a.call(scalar_polygamma(j), v) if v is not None else 0.0 for v in (plus, minus)]
    return a.sub(terms[0], terms[1])


def _log_derivatives(a, node, i: int) -> list:
    """d^j/du^j log|f| for j = 1..order, u the operand ``i`` of ``node`` (beta, betaln, poch, comb)."""
    op, (x, y) = node.op, (a.var(v) for v in node.inputs)
    one = _const(1.0, node.outputs[0])
    if isinstance(op, Comb):  # no 0 * inf outside comb's support, where its derivatives are selected away
        x, y = (a.call(guard, x, y) for guard in comb_guards)
    if isinstance(op, Beta | BetaLn):  # in a: digamma(a) - digamma(a + b), then polygamma differences
        u, v = (x, y) if i == 0 else (y, x)
        first, plus, minus = a.neg(a.call(psidiff_op, u, v)), u, u + v
    elif isinstance(op, Poch) and i == 0:  # in z: digamma(z + m) - digamma(z)
        first, plus, minus = a.call(psidiff_op, x, y), x + y, x
    elif isinstance(op, Poch):  # in m: digamma(z + m)
        first, plus, minus = a.call(scalar_polygamma(0), x + y), x + y, None
    elif i == 0:  # comb in N: digamma(N + 1) - digamma(N - k + 1)
        first, plus, minus = a.call(psidiff_op, x - y + one, y), x + one, x - y + one
    else:  # comb in k: digamma(N - k + 1) - digamma(k + 1), then -psi_j(k + 1) - (-1)^j psi_j(N - k + 1)
        first = a.call(psidiff_op, y + one, x - y - y)
        return [first] + [a.sub(a.neg(a.call(scalar_polygamma(j - 1), y + one)),
                                a.mul((-1.0) ** j, a.call(scalar_polygamma(j - 1), x - y + one)))
                          for j in range(2, a.order + 1)]
    return [first] + [_polygamma_difference(a, j - 1, plus, minus) for j in range(2, a.order + 1)]


def _bell_series(a, value, log_derivatives: list) -> list:
    """f^(j) = f * Y_j(L', .., L^(j)) for j = 1..order, L = log|f| (the complete Bell polynomials)."""
    y = [1.0]
    for m in range(len(log_derivatives)):
        y.append(a.add(*[a.mul(float(math.comb(m, i)), log_derivatives[i], y[m - i]) for i in range(m + 1)]))
    return [a.mul(value, y[j]) for j in range(1, len(y))]


def _binary_rule(a, node, s):
    """beta, betaln, poch, comb with one varying operand: their derivatives in it, composed."""
    i = _varying(s)
    logs = _log_derivatives(a, node, i)
    value = node.outputs[0]
    if isinstance(node.op, BetaLn):
        return a.compose(s[i], logs, value)
    derivatives = _bell_series(a, value, logs)
    if isinstance(node.op, Comb):  # 0 outside 0 <= k <= N
        inside = _inside(*(a.var(v) for v in node.inputs), value)
        derivatives = [a.select(inside, d, 0.0) for d in derivatives]
    return a.compose(s[i], derivatives, value)


def _psidiff_rule(a, node, s):
    """psidiff(x, d): in x, polygamma(j, x + d) - polygamma(j, x); in d, polygamma(j, x + d)."""
    i = _varying(s)
    x, d = (a.var(v) for v in node.inputs)
    derivatives = [_polygamma_difference(a, j, x + d, x if i == 0 else None) for j in range(1, a.order + 1)]
    return a.compose(s[i], derivatives, node.outputs[0])


def _comb_guard_rule(a, node, s):
    """CombGuard: its argument's coefficients inside comb's support, else zeros."""
    inside = _inside(*(a.var(v) for v in node.inputs), node.outputs[0])
    return [None] + [a.select(inside, c, 0.0) for c in s[node.op.which][1:]]


taylor.register({CombGuard: _comb_guard_rule, _Derivative: _derivative_rule, MultiGammaLnK: _multigammaln_rule,
                     GammaSgn: taylor._zero,
                     Beta: _binary_rule, BetaLn: _binary_rule, Poch: _binary_rule, Comb: _binary_rule,
                     PsiDiff: _psidiff_rule})


@substitutes(psm.Gamma)
def _pytensor_gamma(node):
    """PyTensor's gamma (also inside pt.special.beta, poch, factorial): ours, which has a Taylor rule."""
    return [gamma(node.inputs[0])]


__all__ = ["beta", "betaln", "comb", "factorial", "gamma", "gammasgn", "multigammaln", "poch", "rgamma", "trigamma"]

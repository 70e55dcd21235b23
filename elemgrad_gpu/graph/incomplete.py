"""Incomplete gamma and beta functions, differentiable to order 2 in every argument.

``gammainc(a, x)`` and ``gammaincc(a, x)`` are SciPy's regularized lower and upper
incomplete gamma functions P and Q; ``gammal`` and ``gammau`` PyTensor's unregularized
ones, ``gamma(a) * P`` and ``gamma(a) * Q``; ``chi2sf(k, x) = Q(k/2, x/2)``;
``betainc(a, b, x)`` SciPy's regularized incomplete beta function I_x(a, b).

The derivatives in ``x`` are closed forms (the gamma and beta densities, computed from an
accurate log prefactor); the derivatives in the shape parameters have none: the C code
in ``incomplete.h`` carries first and second derivatives in ``a`` (and ``b``) through the
series and continued fractions that compute the values (what that header says). Each
function and derivative is a scalar op with that C code (the same text compiles as
CUDA device code); a derivative's own pullback is the next derivative, so every
derivative of order 2 is one op. The third derivative in a shape parameter is not
available (``grad_not_implemented``); every other third derivative is, and orders >= 3 in
``x`` alone go through Taylor mode (the rule at the end of this module).

Accuracy (tests/graph/test_incomplete.py, against mpmath at 40 digits; docs/EXPRESSIONS.md
"Incomplete gamma and beta"): float64 computes in long double on the CPU, float32 in float.

PyTensor's own ``GammaInc``, ``GammaIncC``, ``GammaL``, ``GammaU`` and ``BetaInc`` in a
user's graph are replaced by these (graph/substitute.py): their shape-parameter gradients
are ``ScalarLoop`` ops that fail in C and have no second derivative.
"""
from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

import mpmath
import numpy as np
import pytensor.scalar as ps
import pytensor.tensor as pt
import scipy.special
from pytensor.gradient import NullType, grad_not_implemented
from pytensor.scalar.basic import ScalarOp, upgrade_to_float_no_complex
from pytensor.scalar.math import BetaInc, GammaInc, GammaIncC, GammaL, GammaU
from pytensor.tensor.elemwise import Elemwise

from elemgrad_gpu.compat import Pullback
from elemgrad_gpu.graph import headers, special
from elemgrad_gpu.graph.substitute import substitutes

HEADER = Path(__file__).with_name("incomplete.h")
MAX_TERMS = 100000  # the most terms of a series or continued fraction (a ~ x ~ 1e6 takes ~1e4)

_PREAMBLE = """
#ifdef __CUDACC__
#define EG_HEAVY static __noinline__
#else
#define EG_HEAVY static inline
#endif
"""
# The double copy computes in long double on the host, in double in CUDA; the float copy in float.
_DOUBLE = """
#define EG_T double
#define EG_FN(n) n
#if defined(__CUDACC__) || defined(EG_INCOMPLETE_NO_LONG_DOUBLE)
#define EG_W double
#define EG_WM(n) n
#define EG_WL(x) x
#define EG_WEPS 1.2e-16
#else
#define EG_W long double
#define EG_WM(n) n##l
#define EG_WL(x) x##L
#define EG_WEPS 1.1e-19L
#endif
"""
_FLOAT = """
#define EG_T float
#define EG_FN(n) n##f
#define EG_W float
#define EG_WM(n) n##f
#define EG_WL(x) x##f
#define EG_WEPS 6e-8f
"""
_UNDEF = "\n" + "\n".join(f"#undef {m}" for m in ("EG_T", "EG_FN", "EG_W", "EG_WM", "EG_WL", "EG_WEPS")) + "\n"


@cache
def support_code() -> str:
    """The C of every function here, for double (``eg_NAME``) and float (``eg_NAMEf``)."""
    body = HEADER.read_text()
    return (headers.support_code() + "\n#ifndef EG_INCOMPLETE_H\n#define EG_INCOMPLETE_H\n" + _PREAMBLE + f"#define EG_MAXIT {MAX_TERMS}\n"
            + _DOUBLE + body + _UNDEF + _FLOAT + body + _UNDEF + "#undef EG_MAXIT\n#endif\n")


@cache
def _version() -> int:
    return int(hashlib.sha256(support_code().encode()).hexdigest()[:15], 16)


def _mp_gamma(kind: str, a, x):
    """The Python value of a gamma op (constant folding only): mpmath at 30 digits."""
    with mpmath.workdps(30):
        a, x = mpmath.mpf(float(a)), mpmath.mpf(float(x))
        if a <= 0 or x <= 0 or mpmath.isinf(x) or mpmath.isinf(a):
            return {"gammainc_dx": scipy.special.gammainc(float(a), float(x)) * 0.0}.get(kind, np.nan)
        lower = mpmath.gammainc(a, 0, x, regularized=True) < 0.5
        f = ((lambda s: mpmath.gammainc(s, 0, x, regularized=True)) if lower
             else (lambda s: -mpmath.gammainc(s, x, mpmath.inf, regularized=True)))
        return float(mpmath.diff(f, a, 1 if kind == "gammainc_da" else 2))


def _mp_beta(kind: str, a, b, x):
    """The Python value of a beta derivative op (constant folding only): mpmath at 30 digits."""
    orders = {"betainc_da": (1, 0), "betainc_db": (0, 1), "betainc_daa": (2, 0), "betainc_dab": (1, 1),
              "betainc_dbb": (0, 2)}[kind]
    with mpmath.workdps(30):
        a, b, x = (mpmath.mpf(float(v)) for v in (a, b, x))
        if not (a > 0 and b > 0 and 0 < x < 1) or mpmath.isinf(a) or mpmath.isinf(b):
            return 0.0 if a > 0 and b > 0 and x in (0, 1) else np.nan
        return float(mpmath.diff(lambda s, t: mpmath.betainc(s, t, 0, x, regularized=True), (a, b), orders))


def _impl(kind: str, *args):
    """Python values of the op ``kind`` (PyTensor calls it when folding constants)."""
    if kind in _SCIPY:
        return _SCIPY[kind](*args)
    if kind == "betainc_dx":
        a, b, x = args
        return np.exp((a - 1) * np.log(x) + (b - 1) * np.log1p(-x) - scipy.special.betaln(a, b))
    mp = _mp_gamma if kind.startswith("gamma") else _mp_beta
    return np.vectorize(lambda *v: mp(kind, *v), otypes=[np.float64])(*args)


_SCIPY = {
    "gammainc": scipy.special.gammainc, "gammaincc": scipy.special.gammaincc, "betainc": scipy.special.betainc,
    "gammal": lambda a, x: scipy.special.gamma(a) * scipy.special.gammainc(a, x),
    "gammau": lambda a, x: scipy.special.gamma(a) * scipy.special.gammaincc(a, x), "chi2sf": scipy.special.chdtrc,
    "gammainc_dx": lambda a, x: np.exp((a - 1) * np.log(x) - x - scipy.special.gammaln(a)),
}


class Incomplete(Pullback, ScalarOp):
    """One function of ``incomplete.h``: ``eg_<kind>`` (double) or ``eg_<kind>f`` (float)."""

    __props__ = ("kind",)
    output_types_preference = staticmethod(upgrade_to_float_no_complex)

    def __init__(self, kind: str):
        self.kind = kind
        self.nin = 3 if kind.startswith("beta") else 2
        super().__init__(name=kind)

    def impl(self, *args):
        return _impl(self.kind, *args)

    def c_code(self, node, name, inputs, outputs, sub) -> str:
        dtype = node.outputs[0].type.dtype
        if dtype not in ("float32", "float64"):
            raise NotImplementedError(f"{self.kind} has C code for float32 and float64 only, not {dtype}")
        ctype, suffix = ("float", "f") if dtype == "float32" else ("double", "")
        args = ", ".join(f"({ctype}){x}" for x in inputs)
        return f"{outputs[0]} = eg_{self.kind}{suffix}({args});"

    def c_support_code(self, **kwargs) -> str:
        return support_code()

    def c_code_cache_version(self) -> tuple[int, ...]:
        return (1, _version())

    def pullback(self, inputs, outputs, output_gradients):
        (gz,) = output_gradients
        return [g if isinstance(g.type, NullType) else gz * g for g in _PULLBACKS[self.kind](*inputs)]


@cache
def _op(kind: str) -> Elemwise:
    return Elemwise(Incomplete(kind))


def _s(kind: str, *args):
    """The scalar op ``kind`` applied to scalar variables (inside a pullback)."""
    return Incomplete(kind)(*args)


def _psi(v):
    return special.scalar_polygamma(0)(v)


def _psi1(v):
    return special.scalar_polygamma(1)(v)


def _missing(op_kind: str, position: int, var):
    name = "abx"[position] if op_kind.startswith("beta") else "ax"[position]
    return grad_not_implemented(Incomplete(op_kind), position, var,
                                f"the third derivative of {op_kind.split('_')[0]} in {name} is not available "
                                "(order 2 is the most in a shape parameter)")


def _gamma_dx_log_derivatives(a, x):
    """d/da and d/dx of log(dP/dx): log x - psi(a), (a - 1) / x - 1."""
    one = ps.constant(np.asarray(1, dtype=x.type.dtype))
    return ps.log(x) - _psi(a), (a - one) / x - one


def _pull_gamma_da(a, x):
    la, _ = _gamma_dx_log_derivatives(a, x)
    return [_s("gammainc_daa", a, x), _s("gammainc_dx", a, x) * la]


def _pull_gamma_daa(a, x):
    la, _ = _gamma_dx_log_derivatives(a, x)
    return [_missing("gammainc_daa", 0, a), _s("gammainc_dx", a, x) * (la * la - _psi1(a))]


def _pull_gamma_dx(a, x):
    la, lx = _gamma_dx_log_derivatives(a, x)
    d = _s("gammainc_dx", a, x)
    return [d * la, d * lx]


def _beta_dx_log_derivatives(a, b, x):
    """d/da, d/db and d/dx of log(dI/dx): log x - psi(a) + psi(a+b), log1p(-x) - psi(b) + psi(a+b),
    (a - 1)/x - (b - 1)/(1 - x)."""
    one = ps.constant(np.asarray(1, dtype=x.type.dtype))
    pab = _psi(a + b)
    return (ps.log(x) - _psi(a) + pab, ps.log1p(-x) - _psi(b) + pab,
            (a - one) / x - (b - one) / (one - x))


def _pull_beta_second(kind: str, first: tuple, second):
    """Pullback of a second derivative: not available in a and b; in x, d2/d() of the density."""
    def pull(a, b, x):
        la, lb, _ = _beta_dx_log_derivatives(a, b, x)
        logs = {"a": la, "b": lb}
        return [_missing(kind, 0, a), _missing(kind, 1, b),
                _s("betainc_dx", a, b, x) * (logs[first[0]] * logs[first[1]] + second(a, b))]
    return pull


def _pull_beta_da(a, b, x):
    la, _, _ = _beta_dx_log_derivatives(a, b, x)
    return [_s("betainc_daa", a, b, x), _s("betainc_dab", a, b, x), _s("betainc_dx", a, b, x) * la]


def _pull_beta_db(a, b, x):
    _, lb, _ = _beta_dx_log_derivatives(a, b, x)
    return [_s("betainc_dab", a, b, x), _s("betainc_dbb", a, b, x), _s("betainc_dx", a, b, x) * lb]


def _pull_beta_dx(a, b, x):
    la, lb, lx = _beta_dx_log_derivatives(a, b, x)
    d = _s("betainc_dx", a, b, x)
    return [d * la, d * lb, d * lx]


def _half(like):
    """0.5 in ``like``'s float type (float64 for an integer ``like``)."""
    dtype = like.type.dtype
    return ps.constant(np.asarray(0.5, dtype=dtype if dtype.startswith("float") else "float64"))


def _pull_gamma_product(sign: int):
    """gamma(a) * P (sign 1) or gamma(a) * Q (sign -1): the product rule, gamma' = gamma psi."""
    def pull(a, x):
        value = _s("gammainc" if sign > 0 else "gammaincc", a, x)
        g = ps.gamma(a)
        return [g * (_psi(a) * value + sign * _s("gammainc_da", a, x)), sign * g * _s("gammainc_dx", a, x)]
    return pull


def _pull_chi2sf(k, x):
    half = _half(x)
    s, y = k * half, x * half
    return [-half * _s("gammainc_da", s, y), -half * _s("gammainc_dx", s, y)]


_PULLBACKS = {
    "gammal": _pull_gamma_product(1),
    "gammau": _pull_gamma_product(-1),
    "chi2sf": _pull_chi2sf,
    "gammainc": lambda a, x: [_s("gammainc_da", a, x), _s("gammainc_dx", a, x)],
    "gammaincc": lambda a, x: [-_s("gammainc_da", a, x), -_s("gammainc_dx", a, x)],
    "gammainc_da": _pull_gamma_da,
    "gammainc_daa": _pull_gamma_daa,
    "gammainc_dx": _pull_gamma_dx,
    "betainc": lambda a, b, x: [_s("betainc_da", a, b, x), _s("betainc_db", a, b, x), _s("betainc_dx", a, b, x)],
    "betainc_da": _pull_beta_da,
    "betainc_db": _pull_beta_db,
    "betainc_daa": _pull_beta_second("betainc_daa", "aa", lambda a, b: _psi1(a + b) - _psi1(a)),
    "betainc_dab": _pull_beta_second("betainc_dab", "ab", lambda a, b: _psi1(a + b)),
    "betainc_dbb": _pull_beta_second("betainc_dbb", "bb", lambda a, b: _psi1(a + b) - _psi1(b)),
    "betainc_dx": _pull_beta_dx,
}


def gammainc(a, x) -> pt.TensorVariable:
    """Regularized lower incomplete gamma function P(a, x) (scipy.special.gammainc)."""
    return _op("gammainc")(a, x)


def gammaincc(a, x) -> pt.TensorVariable:
    """Regularized upper incomplete gamma function Q(a, x) = 1 - P(a, x) (scipy.special.gammaincc)."""
    return _op("gammaincc")(a, x)


def gammal(a, x) -> pt.TensorVariable:
    """Lower incomplete gamma function gamma(a) * P(a, x) (PyTensor's gammal)."""
    return _op("gammal")(a, x)


def gammau(a, x) -> pt.TensorVariable:
    """Upper incomplete gamma function gamma(a) * Q(a, x) (PyTensor's gammau)."""
    return _op("gammau")(a, x)


def chi2sf(k, x) -> pt.TensorVariable:
    """Chi-squared survival function with k degrees of freedom, Q(k/2, x/2) (scipy.special.chdtrc(k, x))."""
    return _op("chi2sf")(k, x)


def betainc(a, b, x) -> pt.TensorVariable:
    """Regularized incomplete beta function I_x(a, b) (scipy.special.betainc)."""
    return _op("betainc")(a, b, x)


@substitutes(GammaInc, GammaIncC, GammaL, GammaU, BetaInc)
def _pytensor_incomplete(node):
    """PyTensor's incomplete gamma and beta ops, as ours (same values, derivatives that compile)."""
    ours = {GammaInc: gammainc, GammaIncC: gammaincc, GammaL: gammal, GammaU: gammau, BetaInc: betainc}
    build = ours[type(node.op.scalar_op)]
    (out,) = node.outputs
    return [pt.cast(build(*node.inputs), out.dtype)]


# Taylor mode (graph/taylor.py) for orders >= 3 in x: with the shape parameters constant,
# y' = c * density(x(t)) * x'(t), and the density is exp of a series in t. Derivative ops, and
# varying shape parameters, fall back to symbolic differentiation (NoTaylorRule).
_DENSITY_FACTOR = {"gammainc": 1.0, "gammaincc": -1.0, "gammal": 1.0, "gammau": -1.0, "chi2sf": -1.0, "betainc": 1.0}


def _taylor_rule(a, node, s):
    """The Taylor series of gammainc & co. in x, shape parameters constant."""
    from elemgrad_gpu.errors import NoTaylorRule
    from elemgrad_gpu.graph.taylor import _is_constant

    kind, *shapes, u = node.op.kind, *node.inputs[:-1], s[-1]
    if kind not in _DENSITY_FACTOR or not all(_is_constant(series) for series in s[:-1]):
        raise NoTaylorRule(f"no Taylor rule for {kind} with varying shape parameters")
    if kind == "chi2sf":  # Q(k/2, x/2)
        shapes, u = [shapes[0] * _half(shapes[0])], [a.mul(0.5, c) for c in u]
    log_u = a.log(u, a.call(ps.log, u[0]))
    if kind == "betainc":
        (p, q), one = shapes, ps.constant(np.asarray(1, dtype=node.outputs[0].type.dtype))
        log_v = a.log([a.sub(1.0, u[0])] + [a.neg(c) for c in u[1:]], a.call(ps.log1p, a.neg(u[0])))
        w = [0.0] + [a.add(a.mul(p - one, log_u[k]), a.mul(q - one, log_v[k])) for k in range(1, a.order + 1)]
        density = a.exp(w, a.call(Incomplete("betainc_dx"), p, q, u[0]))
    else:
        (p,), one = shapes, ps.constant(np.asarray(1, dtype=node.outputs[0].type.dtype))
        w = [0.0] + [a.sub(a.mul(p - one, log_u[k]), u[k]) for k in range(1, a.order + 1)]
        density = a.exp(w, a.call(Incomplete("gammainc_dx"), p, u[0]))
    factor = _DENSITY_FACTOR[kind]
    if kind in ("gammal", "gammau"):
        factor = a.mul(factor, a.call(ps.gamma, p))
    return a.chain(u, [a.mul(factor, c) for c in density], node.outputs[0])


def _register_taylor_rule() -> None:
    from elemgrad_gpu.graph import taylor

    taylor.register({Incomplete: _taylor_rule})


_register_taylor_rule()

"""mpmath references of the incomplete gamma and beta functions (graph/incomplete.py).

Derivatives are mpmath.diff of whichever of the regularized function and its complement
(Q = 1 - P, 1 - I_x(a, b) = I_(1-x)(b, a)) is below 1/2: a difference quotient of a value near 1
would lose the tiny derivative of the other one. The domains are those of docs/EXPRESSIONS.md
("Incomplete gamma and beta"); gammal and gammau stop where gamma(a) overflows float32.
"""
from __future__ import annotations

import mpmath as mp

from mpref import Ref


def _p(a, x):
    return mp.gammainc(a, 0, x, regularized=True)


def _q(a, x):
    return mp.gammainc(a, x, mp.inf, regularized=True)


def _orders(index: tuple[int, ...], arity: int) -> tuple[int, ...]:
    return tuple(index.count(p) for p in range(arity))


def _gamma_derivative(upper: bool, scale_k: bool = False):
    """Partials of P (Q with ``upper``) of (a, x), or of Q(k/2, x/2) with ``scale_k`` (chi2sf)."""
    def derivative(args, index):
        def p(a, x):
            return _p(a / 2, x / 2) if scale_k else _p(a, x)

        def q(a, x):
            return _q(a / 2, x / 2) if scale_k else _q(a, x)
        sign = -1 if upper else 1
        if p(*args) < 0.5:
            return sign * mp.diff(p, args, _orders(index, 2))
        return -sign * mp.diff(q, args, _orders(index, 2))
    return derivative


def _betainc_derivative(args, index):
    a, b, x = args
    if mp.betainc(a, b, 0, x, regularized=True) < 0.5:
        return mp.diff(lambda s, t, y: mp.betainc(s, t, 0, y, regularized=True), args, _orders(index, 3))
    return -mp.diff(lambda s, t, y: mp.betainc(t, s, 0, 1 - y, regularized=True), args, _orders(index, 3))


WIDE = (1e-3, 1e3)
SMALL_A = (0.1, 30)  # gamma(a) overflows float32 past 35
TOL32_PRODUCT = 1e-4
PRODUCT = ("gamma(a) times P or Q, as PyTensor's: the second a-derivative sums terms of size 1/a^2 "
           "(gamma(a)'' Q ~ 2 E1(x) / a^2) into a result of size 1, so its error grows as eps / a^2 near a = 0")
REFERENCES: dict[str, Ref] = {
    "gammainc": Ref(_p, (WIDE, WIDE), derivatives=_gamma_derivative(False)),
    "gammaincc": Ref(_q, (WIDE, WIDE), derivatives=_gamma_derivative(True)),
    "gammal": Ref(lambda a, x: mp.gammainc(a, 0, x), (SMALL_A, (0.01, 100)), tol32=TOL32_PRODUCT,
                  note=PRODUCT),
    "gammau": Ref(lambda a, x: mp.gammainc(a, x, mp.inf), (SMALL_A, (0.01, 100)), tol32=TOL32_PRODUCT,
                  note=PRODUCT),
    "chi2sf": Ref(lambda k, x: _q(k / 2, x / 2), (WIDE, WIDE), derivatives=_gamma_derivative(True, True)),
    "betainc": Ref(lambda a, b, x: mp.betainc(a, b, 0, x, regularized=True), ((0.05, 100), (0.05, 100), (1e-3, 0.999)),
                   points=5, derivatives=_betainc_derivative, tol32=1e-4,
                   note="float32: the log prefactor sums float lgamma terms of size (a + b) log(a + b)"),
}

"""mpmath references of the elementary compositions, rounding and remainders (graph/elementary.py).

The rounding and remainder functions are exact: their references are mpmath's exact
integer parts, and their derivatives (``derivatives``: ``(args, index)``, ``index`` the
argument positions differentiated, ``(1, 1)`` for d2/db2) are 0, except the remainders'
first ones, 1 in ``a`` and minus the exact integer quotient in ``b``.
"""
from __future__ import annotations

import mpmath as M

from mpref import Ref


def _trunc(t):
    return M.sign(t) * M.floor(abs(t))


def _half_even(t):
    """Round half to even (NumPy's round)."""
    low = M.floor(t)
    if t - low != M.mpf(0.5):
        return M.floor(t + M.mpf(0.5))
    return low if low % 2 == 0 else low + 1


def _half_away(t):
    """Round half away from zero (C's round)."""
    return M.sign(t) * M.floor(abs(t) + M.mpf(0.5))


def _zero(args, index):
    return M.mpf(0)


def _remainder_derivative(quotient):
    """d/da = 1, d/db = -quotient(a/b), every higher order 0."""
    def derivative(args, index):
        if len(index) != 1:
            return M.mpf(0)
        a, b = args
        return M.mpf(1) if index[0] == 0 else -quotient(a / b)
    return derivative


def _rounding(function) -> Ref:
    return Ref(function, ((-10.3, 10.3),), derivatives=_zero)


REFERENCES = {
    "logit": Ref(lambda x: M.log(x / (1 - x)), ((1e-6, 0.999),)),
    "logaddexp": Ref(lambda a, b: M.log(M.exp(a) + M.exp(b)), ((-50.0, 50.0), (-50.0, 50.0))),
    "logaddexp2": Ref(lambda a, b: M.log(M.power(2, a) + M.power(2, b), 2), ((-50.0, 50.0), (-50.0, 50.0))),
    "cbrt": Ref(lambda x: M.sign(x) * M.cbrt(abs(x)), ((-1e3, 1e3),)),
    "entr": Ref(lambda x: -x * M.log(x), ((1e-6, 1e3),)),
    "kl_div": Ref(lambda x, y: x * M.log(x / y) - x + y, ((1e-3, 1e3), (1e-3, 1e3))),
    "rel_entr": Ref(lambda x, y: x * M.log(x / y), ((1e-3, 1e3), (1e-3, 1e3))),
    "boxcox": Ref(lambda x, lm: M.expm1(lm * M.log(x)) / lm if lm else M.log(x), ((1e-2, 1e2), (-3.0, 3.0))),
    "boxcox1p": Ref(lambda x, lm: M.expm1(lm * M.log1p(x)) / lm if lm else M.log1p(x), ((-0.99, 1e2), (-3.0, 3.0))),
    "floor": _rounding(M.floor),
    "ceil": _rounding(M.ceil),
    "trunc": _rounding(_trunc),
    "round": _rounding(_half_even),
    "round_half_away_from_zero": _rounding(_half_away),
    "mod": Ref(lambda a, b: a - b * M.floor(a / b), ((-9.7, 8.8), (-4.3, 3.7)),
               derivatives=_remainder_derivative(M.floor)),
    "fmod": Ref(lambda a, b: a - b * _trunc(a / b), ((-9.7, 8.8), (-4.3, 3.7)),
                derivatives=_remainder_derivative(_trunc)),
    "fmax": Ref(max, ((-5.0, 5.0), (-4.1, 3.9))),
    "fmin": Ref(min, ((-5.0, 5.0), (-4.1, 3.9))),
    "clamp": Ref(lambda low, x, high: min(max(x, low), high), ((-2.0, -0.5), (-3.0, 3.0), (0.5, 2.0))),
}

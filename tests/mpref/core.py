"""mpmath references of the vocabulary's first rows: the elementary functions, the special
functions the language began with, the kinks, the removable singularities and NumPy's names.

Domains are the documented ones (docs/EXPRESSIONS.md), cut to where float32 is finite so that
one interval serves both dtypes; the tails beyond them are tested one by one in
tests/expr/test_vocabulary_mpmath.py. Kinked functions (abs, sign, maximum, minimum, clip,
where, hypot at 0) are sampled away from their kinks and ties: there the derivative is a
convention (docs/EXPRESSIONS.md, "Kinks and branches", tested in tests/graph/test_kinks.py) and a
central difference means nothing. Closed-form derivatives (``derivatives=``) are mpmath's own
functions (polygamma for the gamma family, erfinv's inverse-function rule), faster than
differences of functions that mpmath computes by root finding.
"""
from __future__ import annotations

import mpmath as mp

from mpref import Ref

KINKS = "sampled away from the kink at 0, where the derivative is the convention of docs/EXPRESSIONS.md"
FACTORED = "derivatives with 1 - x*x factored, accurate near +-1 (graph/gradients.py)"
TIES = "sampled off the ties a = b (grids offset by 1), where the derivative is the mean of the one-sided ones"


def one(function, low: float, high: float, points: int = 12, **options) -> Ref:
    """The reference of a one-argument function on [low, high]."""
    return Ref(function, ((low, high),), points=points, **options)


def _erfinv_derivative(args, index):
    """d/dx erfinv(x) = sqrt(pi)/2 exp(y**2) with y = erfinv(x); d2 = 2 y (d1)**2."""
    y = mp.erfinv(args[0])
    first = mp.sqrt(mp.pi) / 2 * mp.exp(y * y)
    return first if len(index) == 1 else 2 * y * first * first


def _polygamma_rule(shift: int):
    """Derivatives of a function whose k-th derivative is polygamma(shift + k - 1, x) of its last argument."""
    def derivative(args, index):
        order = (args[0] if len(args) == 2 else 0) + shift + len(index) - 1
        return mp.polygamma(order, args[-1])
    return derivative


def _sigmoid(x):
    return 1 / (1 + mp.exp(-x))


REFERENCES: dict[str, Ref] = {
    "sin": one(mp.sin, -50, 50), "cos": one(mp.cos, -50, 50),
    "tan": one(mp.tan, -1.5, 1.5, note="between the poles at -pi/2 and pi/2"),
    "sinh": one(mp.sinh, -88, 88), "cosh": one(mp.cosh, -88, 88), "tanh": one(mp.tanh, -20, 20),
    "exp": one(mp.exp, -87, 88), "exp2": one(lambda x: mp.power(2, x), -126, 127),
    "expm1": one(mp.expm1, -40, 80),
    "log": one(mp.log, 1e-30, 1e30), "log2": one(lambda x: mp.log(x, 2), 1e-30, 1e30),
    "log10": one(mp.log10, 1e-30, 1e30), "log1p": one(mp.log1p, -0.99, 10),
    "erf": one(mp.erf, -6, 6), "erfc": one(mp.erfc, -6, 26),
    "arcsin": one(mp.asin, -0.999, 0.999, note=FACTORED), "arccos": one(mp.acos, -0.999, 0.999, note=FACTORED),
    "arctan": one(mp.atan, -20, 20), "arcsinh": one(mp.asinh, -50, 50),
    "arccosh": one(mp.acosh, 1.001, 1e10, note=FACTORED),
    "arctanh": one(mp.atanh, -0.999, 0.999, note=FACTORED),
    "sqrt": one(mp.sqrt, 1e-20, 1e20),
    "abs": one(mp.fabs, -10, 10, note=KINKS), "sign": one(mp.sign, -10, 10, note=KINKS),
    "erfinv": one(mp.erfinv, -0.999999, 0.999999, derivatives=_erfinv_derivative),
    "gammaln": one(mp.loggamma, 1e-20, 1e30, derivatives=_polygamma_rule(0),
                   note="x > 0; for x < 0 it is log|gamma(x)|, sampled in the tail tests"),
    "digamma": one(mp.digamma, -9.7, 9.7, derivatives=_polygamma_rule(1),
                   note="between the poles at 0, -1, -2, ...; near them in the tail tests"),
    "sigmoid": one(_sigmoid, -40, 40), "softplus": one(lambda x: mp.log1p(mp.exp(x)), -40, 40),
    "arctan2": Ref(mp.atan2, ((-10, 10), (-10, 10)), note="off the branch cut y = 0, x < 0"),
    "maximum": Ref(max, ((-10, 10), (-9, 11)), note=TIES), "minimum": Ref(min, ((-10, 10), (-9, 11)), note=TIES),
    "pow": Ref(mp.power, ((0.01, 10), (-3, 3)), note="x > 0 (a negative x needs an integer y)"),
    "hypot": Ref(mp.hypot, ((-1e3, 1e3), (-1e3, 1e3)), note="off its kink at (0, 0)"),
    "polygamma": Ref(mp.polygamma, ((1e-3, 1e3),), literal={0: (0, 1, 2, 4)}, points=8,
                     derivatives=_polygamma_rule(1), note="orders n = 0, 1, 2, 4"),
    "where": Ref(lambda c, a, b: a if c > 0 else b, ((-1, 1), (-5, 5), (-7, 3)), differentiable=(1, 2),
                 points=4, form="where({0} > 0, {1}, {2})",
                 note="derivatives in the branches, not in the condition"),
    "clip": Ref(lambda x, low, high: min(max(x, low), high), ((-10, 10), (-7.5, 3.5), (-3.5, 7.5)), points=4,
                note="NumPy's: high where low > high; " + TIES.replace("a = b", "of x, low and high")),
    "sinc": one(mp.sincpi, -10, 10), "exprel": one(lambda x: mp.expm1(x) / x, -50, 50),
    "xlogy": Ref(lambda x, y: x * mp.log(y), ((-5, 5), (1e-10, 1e10))),
    "xlog1py": Ref(lambda x, y: x * mp.log1p(y), ((-5, 5), (-0.99, 50))),
    "log1mexp": one(lambda x: mp.log(-mp.expm1(x)), -1e3, -1e-10,
                    note="x < 0; derivatives finite far below 0 (graph/gradients.py)"),
    "square": one(lambda x: x * x, -100, 100), "reciprocal": one(lambda x: 1 / x, -100, 100),
    "rsqrt": one(lambda x: 1 / mp.sqrt(x), 1e-20, 1e20),
    "deg2rad": one(mp.radians, -1e3, 1e3), "rad2deg": one(mp.degrees, -100, 100),
    "negative": one(lambda x: -x, -100, 100),
    "multiply": Ref(lambda x, y: x * y, ((-100, 100), (-100, 100))),
    "divide": Ref(lambda x, y: x / y, ((-100, 100), (-100, 100))),
}

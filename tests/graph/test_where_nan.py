"""``where`` never lets the untaken branch's NaN or inf into a value or derivative.

The regression set of JAX and PyTorch (jax-ml/jax#1052, #5798, pytorch#68425, #108618,
#156212): a branch that is NaN, inf or overflows where it is not taken (sqrt below 0,
sin(x)/x at 0, x*log(x) at 0, log1p(exp(x)) for large x, exp(-1/x) below 0, arctanh
outside (-1, 1), log1p below -1) must contribute nothing, to any order. Each case is
checked as a string and as a callable (``pt.where``, ``pt.switch``), in float64 and
float32, orders 0 to 3, at 0, the branch boundary, negative and large values, against
the taken branch's derivatives by SymPy, evaluated at 30 digits.
"""
import warnings

import numpy as np
import pytensor.tensor as pt
import pytest
import sympy

import elemgrad_gpu as eg

ORDERS = (0, 1, 2, 3)

# (expression, condition (NumPy), taken branch, other branch (SymPy, of x), points float64, points float32)
CASES = [
    ("where(x > 0, sqrt(x), 0)", lambda x: x > 0, "sqrt(x)", "0", [-4.0, -1e-300, 0.0, 1e-6, 0.5, 9.0, 1e12]),
    ("where(x != 0, sin(x)/x, 1)", lambda x: x != 0, "sin(x)/x", "1", [-3.0, 0.0, 0.75, 2.0, 1e4]),
    ("where(x > 0, x*log(x), 0)", lambda x: x > 0, "x*log(x)", "0", [-2.0, 0.0, 1e-3, 1.0, 5.0, 1e10]),
    ("where(x < 30, log1p(exp(x)), x)", lambda x: x < 30, "log(1 + exp(x))", "x",
     [-800.0, -30.0, 0.0, 10.0, 29.5, 30.0, 100.0, 800.0]),
    ("where(x > 0, exp(-1/x), 0)", lambda x: x > 0, "exp(-1/x)", "0", [-1.0, -1e-3, 0.0, 1e-3, 0.2, 1.0, 1e6]),
    ("where(abs(x) < 1, arctanh(x), 0)", lambda x: abs(x) < 1, "atanh(x)", "0",
     [-2.0, -1.0, -0.5, 0.0, 0.9, 1.0, 1e8]),
    ("where(x > -1, log1p(x), 0)", lambda x: x > -1, "log(1 + x)", "0", [-1e6, -2.0, -1.0, -0.5, 0.0, 3.0, 1e6]),
    ("where(x > 0, x**0.5, 0)", lambda x: x > 0, "sqrt(x)", "0", [-1.0, 0.0, 0.25, 4.0, 1e8]),
    ("where(x > 0, log(x), 0)", lambda x: x > 0, "log(x)", "0", [-1.0, 0.0, 0.125, 1.0, 1e7]),
    ("where(x < 0, 1/x, 0)", lambda x: x < 0, "1/x", "0", [-1e6, -2.0, -0.5, 0.0, 0.5, 1e6]),
    ("where(abs(x) < 1, sqrt(1 - x**2), 0)", lambda x: abs(x) < 1, "sqrt(1 - x**2)", "0",
     [-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0]),
    ("where(x >= 1, sqrt(x - 1), 0)", lambda x: x >= 1, "sqrt(x - 1)", "0", [-1.0, 0.0, 0.5, 1.0 + 2 ** -20, 2.0, 1e6]),
    ("where(x > 0, arccosh(1 + x), 0)", lambda x: x > 0, "acosh(1 + x)", "0", [-3.0, -1.0, 0.0, 0.5, 2.0, 1e6]),
    ("where(x > 0, sqrt(x)*log(x), 0)", lambda x: x > 0, "sqrt(x)*log(x)", "0", [-1.0, 0.0, 0.01, 1.0, 100.0]),
]
_SYMPY_X = sympy.Symbol("x")
_NAMES = {"where": pt.where, "sqrt": pt.sqrt, "sin": pt.sin, "log": pt.log, "log1p": pt.log1p, "exp": pt.exp,
          "arctanh": pt.arctanh, "arccosh": pt.arccosh, "abs": pt.abs}


def _callable(text: str, where):
    """The string as a callable of PyTensor's functions, with ``where`` as given (pt.where or pt.switch)."""
    text = text.replace("x != 0", "neq(x, 0)")  # a symbolic != is Python's identity test
    return eval("lambda x: " + text, {**_NAMES, "where": where, "neq": pt.neq})  # noqa: S307 - our own tests


_REFERENCES: dict = {}  # (taken, other, points, dtype) -> the reference rows, shared by the three spellings


def _reference(taken: str, other: str, condition, points, dtype) -> list[np.ndarray]:
    """Value and derivatives 1..3 of the branch the condition takes, by SymPy at 30 digits."""
    key = (taken, other, tuple(points), dtype)
    if key not in _REFERENCES:
        _REFERENCES[key] = _exact(taken, other, condition, points, dtype)
    return _REFERENCES[key]


def _exact(taken: str, other: str, condition, points, dtype) -> list[np.ndarray]:
    branches = [sympy.sympify(taken), sympy.sympify(other)]
    rows = []
    for k in ORDERS:
        row = []
        for t in np.asarray(points, dtype=dtype):
            branch = branches[0] if condition(t) else branches[1]
            d = sympy.diff(branch, _SYMPY_X, k) if k else branch
            exact = sympy.N(d.subs(_SYMPY_X, sympy.Float(float(t), 40)), 30)
            row.append(float(exact) if exact.is_real else np.nan)
        with np.errstate(over="ignore"):
            rows.append(np.array(row).astype(dtype))
    return rows


def _check(got, expected, dtype, text):
    rtol = 1e-9 if dtype == "float64" else 2e-3
    for k, (g, e) in enumerate(zip(got, expected)):
        assert g.dtype == dtype
        assert not np.isnan(g).any(), f"{text}: NaN in order {k}: {g}"
        finite = np.isfinite(e)
        np.testing.assert_array_equal(g[~finite], e[~finite], err_msg=f"{text}, order {k}")
        np.testing.assert_allclose(g[finite], e[finite], rtol=rtol, atol=rtol, err_msg=f"{text}, order {k}")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("how", ["string", "pt.where", "pt.switch"])
@pytest.mark.parametrize("text, condition, taken, other, points", CASES, ids=[c[0] for c in CASES])
def test_the_untaken_branch_contributes_nothing(text, condition, taken, other, points, how, dtype):
    if dtype == "float32":
        points = [p for p in points if abs(p) < 1e30 and (p == 0 or abs(p) > 1e-30)]
    f = text if how == "string" else _callable(text, pt.where if how == "pt.where" else pt.switch)
    x = np.asarray(points, dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the untaken branch may raise FP flags
        got = eg.compile(f, orders=ORDERS, device="cpu")(x)
    _check(got, _reference(taken, other, condition, points, dtype), dtype, text)

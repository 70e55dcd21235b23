"""Kinks and branches: the values and derivatives docs/EXPRESSIONS.md promises at the kinks.

One rule (elemgrad_gpu/kinks.py): a function that selects an argument takes its
derivatives, the others contribute nothing, NaN and inf included; at a tie of maximum or
minimum each tied argument contributes half; piecewise-constant functions have
derivative 0, also at their jumps; d/dx x**y is 0 where y == 0.
"""
import math
import warnings

import numpy as np
import pytensor.tensor as pt
import pytest

import elemgrad_gpu as eg

DTYPES = ("float64", "float32")
NAN = math.nan

# (expression, x, value, first derivative, second derivative): the table of docs/EXPRESSIONS.md
KINKS = [
    ("abs(x)", 0.0, 0.0, 0.0, 0.0),
    ("sign(x)", 0.0, 0.0, 0.0, 0.0),
    ("maximum(x, 0)", 0.0, 0.0, 0.5, 0.0),
    ("maximum(0, x)", 0.0, 0.0, 0.5, 0.0),
    ("minimum(x, 0)", 0.0, 0.0, 0.5, 0.0),
    ("minimum(0, x)", 0.0, 0.0, 0.5, 0.0),
    ("maximum(x, -x)", 0.0, 0.0, 0.0, 0.0),  # abs(x), the same rule
    ("maximum(x**2, x)", 1.0, 1.0, 1.5, 1.0),  # tie at 1: the mean of 2 and 1, of 2 and 0
    ("clip(x, -1, 2)", -1.0, -1.0, 0.5, 0.0),
    ("clip(x, -1, 2)", 2.0, 2.0, 0.5, 0.0),
    ("clip(x, -1, 2)", 0.5, 0.5, 1.0, 0.0),
    ("clip(x, -1, 2)", -3.0, -1.0, 0.0, 0.0),
    ("where(x > 0, x, 0)", 0.0, 0.0, 0.0, 0.0),  # the condition decides: its branch's derivative
    ("where(x >= 0, x, 0)", 0.0, 0.0, 1.0, 0.0),
    ("x**0.5", 0.0, 0.0, math.inf, -math.inf),
]

# The losing argument's derivative is inf or NaN there: it must contribute nothing.
LOSERS = [
    ("maximum(1, sqrt(abs(x)))", 0.0, 1.0),
    ("maximum(sqrt(abs(x)), 1)", 0.0, 1.0),
    ("minimum(-1, -sqrt(abs(x)))", 0.0, -1.0),
    ("clip(1, sqrt(abs(x)) - 5, 2)", 0.0, 1.0),  # the low bound loses
    ("clip(1, -2, 2 + sqrt(abs(x)))", 0.0, 1.0),  # the high bound loses
    ("clip(sqrt(abs(x)), 1, 2)", 0.0, 1.0),  # x itself loses
    ("maximum(x, log(x))", 0.0, 0.0),  # log: value -inf, derivatives inf, -inf
    ("minimum(1, 1/x)", 0.0, 1.0),  # the loser is inf, its derivative -inf
    ("maximum(1, sqrt(x)*sqrt(x)*0.5)", 0.0, 1.0),  # the loser's derivative is 0 * inf = NaN
]


def orders_at(text, x, dtype, orders=(0, 1, 2)):
    """The value and derivatives ``orders`` of ``text`` at the single point ``x``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the losing side may raise FP flags
        outputs = eg.compile(text, orders=orders)(np.array([x], dtype=dtype))
    return [float(v[0]) for v in outputs]


def assert_same(got, want, what):
    assert np.allclose(got, want, rtol=1e-6, atol=0, equal_nan=True), f"{what}: got {got}, want {want}"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("text, x, value, first, second", KINKS, ids=[f"{k[0]}@{k[1]}" for k in KINKS])
def test_values_and_derivatives_at_the_kinks(text, x, value, first, second, dtype):
    assert_same(orders_at(text, x, dtype), [value, first, second], f"{text} at {x} ({dtype})")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("text, x, value", LOSERS, ids=[k[0] for k in LOSERS])
def test_the_losing_argument_contributes_nothing_nan_and_inf_included(text, x, value, dtype):
    got = orders_at(text, x, dtype, orders=(0, 1, 2, 3))
    slope = 1.0 if text.startswith("maximum(x,") else 0.0
    assert_same(got, [value, slope, 0.0, 0.0], f"{text} at {x} ({dtype})")


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_nan_argument_gives_nan_value_as_numpy_and_nan_slope(dtype):
    for text, numpy in (("maximum(x, 0)", np.maximum), ("minimum(x, 0)", np.minimum),
                        ("maximum(0, x)", lambda a, b: np.maximum(b, a))):
        got = orders_at(text, NAN, dtype, orders=(0, 1))
        assert np.isnan(numpy(np.array(NAN, dtype), 0)) and all(np.isnan(got)), (text, got)
    value, slope = eg.compile("maximum(x, 1)", orders=(0, 1))(np.array([np.inf, -np.inf], dtype=dtype))
    assert value.tolist() == [np.inf, 1.0] and slope.tolist() == [1.0, 0.0]


@pytest.mark.parametrize("dtype", DTYPES)
def test_clip_values_are_numpys_with_nan_and_crossed_bounds(dtype):
    fn = eg.compile("clip(x, low, high)", orders=0)
    x = np.array([1.0, 1.0, 0.0, 5.0, NAN, 1.0], dtype)
    low = np.array([NAN, 0.0, 2.0, 2.0, 0.0, -np.inf], dtype)
    high = np.array([2.0, NAN, 1.0, 1.0, 1.0, np.inf], dtype)
    np.testing.assert_array_equal(fn(x, low, high), np.clip(x, low, high))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("text", ["pow(x, y)", "x**y"])
def test_pow_at_zero_slopes_0_1_0_as_jax(text, dtype):
    fn = eg.compile(text, derivatives=[(), ("x",), ("x", "x"), ("y",)])
    value, d_x, d_xx, d_y = fn(np.zeros(3, dtype), np.arange(3, dtype=dtype))
    assert value.tolist() == [1.0, 0.0, 0.0]
    assert d_x.tolist() == [0.0, 1.0, 0.0]  # jax.grad of x**arange(3) at 0 (jax#14397, autograd#116)
    assert d_xx.tolist() == [0.0, 0.0, 2.0]
    assert d_y.tolist() == [0.0, 0.0, 0.0]


@pytest.mark.parametrize("dtype", DTYPES)
def test_callables_with_pytensor_ops_follow_the_same_rule(dtype):
    fn = eg.compile(lambda x: pt.maximum(1, pt.sqrt(pt.abs(x))) + pt.clip(x, 0, 1) + x ** pt.zeros_like(x),
                    orders=(0, 1, 2))
    value, first, second = fn(np.array([0.0], dtype))
    assert value.tolist() == [2.0] and first.tolist() == [0.5] and second.tolist() == [0.0]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["floor", "ceil", "trunc", "round"])
def test_piecewise_constant_functions_have_derivative_0_also_at_the_jumps(name, dtype):
    function = getattr(pt, name)
    fn = eg.compile(lambda x: function(x) + function(pt.sqrt(x)), orders=(1, 2))
    points = np.array([0.0, 0.5, 1.0, 1.5, 2.0], dtype)
    for derivative in fn(points):
        assert derivative.tolist() == [0.0] * 5


def test_printed_formulas_keep_their_names():
    assert eg.compile("maximum(x, 0) + clip(x, 0, 1) + x**y", wrt="x").expressions[0].count("maximum") >= 1
    assert "**" in eg.compile("x**y", wrt="x", orders=0).expressions[0]

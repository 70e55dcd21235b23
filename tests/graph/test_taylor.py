"""Taylor mode (elemgrad_gpu/taylor.py): orders 3 to 8 in one variable against mpmath at 40 digits.

The reference is ``mpmath.diffs`` of SymPy's expression evaluated by mpmath, independent of
both of elemgrad_gpu's paths; the tolerance is test_reference.py's (1e-12 float64, 1e-5
float32, relative to max(1, |derivative|)), scaled for orders above 4 as documented below.
"""
import math
import time

import mpmath
import numpy as np
import pytest
import sympy as sp

import elemgrad_gpu as eg
from cases import CASES, x

ORDERS = (3, 4, 5, 6, 7, 8)
TOLERANCE = {"float64": 1e-12, "float32": 1e-5}


def tolerance(dtype: str, order: int) -> float:
    """test_reference.py's tolerance to order 6; wider at 7 and 8, where the recurrences' rounding
    grows with the magnitude of the intermediate coefficients (worst seen: float64 order 8 at
    3.7e-12 and float32 order 8 at 8.5e-4, both arctan2(x, 0.7) near 0; float32 order 7 at 1.4e-5,
    tanh(x)**2)."""
    scale = {7: 4.0, 8: 16.0 if dtype == "float64" else 256.0}.get(order, 1.0)
    return TOLERANCE[dtype] * scale


def references(expr: sp.Expr, points, orders=ORDERS) -> dict[int, np.ndarray]:
    evaluate = sp.lambdify(x, expr, modules="mpmath")
    table = {k: [] for k in orders}
    with mpmath.workdps(40):
        for p in points:
            values = list(mpmath.diffs(evaluate, mpmath.mpf(float(p)), max(orders)))
            for k in orders:
                table[k].append(float(mpmath.re(values[k])))
    return {k: np.array(v) for k, v in table.items()}


def assert_close(got, want, dtype, order, what):
    error = np.abs(got.astype(np.float64) - want) / np.maximum(1.0, np.abs(want))
    assert np.all(error <= tolerance(dtype, order)), f"{what}: max scaled error {error.max():.3g}"


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("text, expr, points", CASES, ids=[c[0] for c in CASES])
def test_orders_3_to_8_against_mpmath(text, expr, points, dtype):
    values = np.array(points, dtype=dtype)
    fn = eg.compile(text, orders=ORDERS, device="cpu")
    assert all("Taylor mode" in e for e in fn.expressions)
    want = references(expr, values)
    for order, got in zip(ORDERS, fn(values)):
        assert got.dtype == dtype and got.shape == values.shape
        assert_close(got, want[order], dtype, order, f"{text} order {order} ({dtype})")


NAMED = [("sigmoid(x)", 1 / (1 + sp.exp(-x)), (-3.0, -0.4, 0.0, 1.7)),
         ("hypot(x, 1)", sp.sqrt(x ** 2 + 1), (-2.5, 0.0, 0.6, 3.1)),
         ("arccosh(x)", sp.acosh(x), (1.05, 1.6, 4.0)),
         ("erfinv(x)", sp.erfinv(x), (-0.95, -0.3, 0.0, 0.7)),
         ("tanh(tanh(x))", sp.tanh(sp.tanh(x)), (-2.0, -0.3, 0.0, 0.9, 3.0))]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("text, expr, points", NAMED, ids=[c[0] for c in NAMED])
def test_done_when_orders_0_to_8_of_the_slow_cases_match_mpmath(text, expr, points, dtype):
    """The issue's cases, all orders in one kernel: 3..8 by Taylor mode, 0..2 symbolic."""
    values = np.array(points, dtype=dtype)
    fn = eg.compile(text, orders=tuple(range(9)), device="cpu")
    assert ["Taylor mode" in e for e in fn.expressions] == [False] * 3 + [True] * 6
    want = references(expr, values, orders=tuple(range(9)))
    for order, got in enumerate(fn(values)):
        assert_close(got, want[order], dtype, order, f"{text} order {order} ({dtype})")


def test_the_switch_rule_keeps_low_orders_and_mixed_partials_symbolic():
    from elemgrad_gpu.graph.taylor import uses_taylor

    assert [uses_taylor(i) for i in [(), ("x",), ("x", "x"), ("x",) * 3, ("x",) * 8, ("x", "x", "y")]] == \
        [False, False, False, True, True, False]
    fn = eg.compile("exp(x*y)", derivatives=[("x", "x"), ("x", "x", "y"), ("y", "y", "y")])
    assert ["Taylor mode" in e for e in fn.expressions] == [False, False, True]
    xs, ys = np.array([0.3, -1.2]), np.array([0.7, 0.4])
    d_xx, d_xxy, d_yyy = fn(xs, ys)
    np.testing.assert_allclose(d_xx, ys ** 2 * np.exp(xs * ys), rtol=1e-14)
    np.testing.assert_allclose(d_xxy, (2 * ys + xs * ys ** 2) * np.exp(xs * ys), rtol=1e-14)
    np.testing.assert_allclose(d_yyy, xs ** 3 * np.exp(xs * ys), rtol=1e-14)  # x held constant


@pytest.mark.parametrize("scalar_mu", [True, False])
def test_parameters_are_held_constant_also_when_hoisted(scalar_mu):
    """d^k/dx^k of a Gaussian density with mean mu: Hermite polynomials, mu a single value
    (the body is split by hoist.py) or an array."""
    fn = eg.compile("exp(-(x - mu)**2 / 2)", wrt="x", orders=(5, 6, 7, 8), device="cpu")
    xs = np.linspace(-3, 3, 7)
    mu = 0.4 if scalar_mu else np.full_like(xs, 0.4)
    t = sp.Symbol("t")
    for order, got in zip((5, 6, 7, 8), fn(xs, mu)):
        hermite = sp.lambdify(t, (-1) ** order * sp.hermite_prob(order, t) * sp.exp(-t ** 2 / 2))
        want = np.array([hermite(v - 0.4) for v in xs])
        assert_close(got, want, "float64", order, f"order {order}")


def test_integer_powers_are_exact_at_zero():
    """x**3 and x**5 at 0 by repeated products, not the power recurrence (which divides by x)."""
    got = eg.compile("x**3 + x**5 / 120", orders=(3, 4, 5, 6), device="cpu")(np.array([0.0, 1.5]))
    np.testing.assert_array_equal(np.array(got), [[6, 6 + 0.5 * 1.5 ** 2], [0, 1.5], [1, 1], [0, 0]])


def test_an_operation_without_a_taylor_rule_falls_back_to_symbolic_derivatives():
    import pytensor.tensor as pt

    fn = eg.compile(lambda x: eg.ndtr(x) + pt.sin(x), orders=(3,), device="cpu")  # ndtr: no Taylor rule
    assert "Taylor mode" not in fn.expressions[0]
    want = references((1 + sp.erf(x / sp.sqrt(2))) / 2 + sp.sin(x), [1.5, 2.5], orders=(3,))[3]
    (got,) = fn(np.array([1.5, 2.5]))
    assert_close(got, want, "float64", 3, "ndtr order 3")


def test_the_block_loop_of_a_taylor_kernel_is_vectorized():
    """The element function of an orders 0..8 body is inlined into the block loop (it passed
    GCC's inlining limit, and the loop ran scalar)."""
    from elemgrad_gpu.backends.c import compile as ccompile

    if not ccompile._reports_vectorization():
        pytest.skip("the compiler does not report vectorized loops")
    source = eg.compile("tanh(tanh(x))", orders=tuple(range(9)), device="cpu").source("c")
    block = next(n for n, line in enumerate(source.splitlines(), 1) if "eg:block-loop" in line)
    assert any(block <= line <= block + 3 for line in ccompile.vectorized_loops(source))


def test_float32_taylor_kernels_stay_float32():
    fn = eg.compile("erfinv(x) * sigmoid(x)", orders=(0, 8), device="cpu")
    value, eighth = fn(np.array([0.1, 0.5], dtype=np.float32))
    assert value.dtype == eighth.dtype == np.float32
    assert "npy_float64" not in fn.source("c", dtype="float32").split("eg_element")[1].split("}\n")[0]


def test_family_rules_register_once_and_a_second_different_rule_is_refused():
    """Each family module adds its rules through taylor.register; overruling one is an error, not silent."""
    from elemgrad_gpu.graph import normal, taylor

    assert taylor.RULES[normal.Erfcx] is taylor.erfcx_rule  # registered by normal.py, not written into taylor.py
    taylor.register({normal.Erfcx: taylor.erfcx_rule})  # the same rule again: nothing changes
    with pytest.raises(ValueError, match="Erfcx"):
        taylor.register({normal.Erfcx: taylor._zero})
    assert taylor.RULES[normal.Erfcx] is taylor.erfcx_rule

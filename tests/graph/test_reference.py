"""Values and derivatives (orders 0 to 4) of every function against SymPy at 30 digits."""
import mpmath
import numpy as np
import pytest
import sympy as sp

import elemgrad_gpu as eg
from cases import CASES, x, y

ORDERS = (0, 1, 2, 3, 4)
TOLERANCE = {"float64": 1e-12, "float32": 1e-5}


def reference(expr: sp.Expr, order: int, points: np.ndarray, symbol=x) -> np.ndarray:
    derivative = sp.diff(expr, symbol, order).replace(sp.DiracDelta, lambda *args: sp.S.Zero)  # points avoid 0
    evaluate = sp.lambdify(symbol, derivative, modules="mpmath")
    with mpmath.workdps(30):
        return np.array([float(mpmath.re(evaluate(mpmath.mpf(float(p))))) for p in points])


def assert_close(got: np.ndarray, want: np.ndarray, dtype: str, what: str) -> None:
    error = np.abs(got.astype(np.float64) - want) / np.maximum(1.0, np.abs(want))
    assert np.all(error <= TOLERANCE[dtype]), f"{what}: max scaled error {error.max():.3g} at {np.argmax(error)}"


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("text, expr, points", CASES, ids=[c[0] for c in CASES])
def test_orders_0_to_4_against_sympy(text, expr, points, dtype):
    values = np.array(points, dtype=dtype)
    outputs = eg.compile(text, orders=ORDERS)(values)
    for order, got in zip(ORDERS, outputs):
        assert got.dtype == dtype and got.shape == values.shape
        assert_close(got, reference(expr, order, values), dtype, f"{text} order {order} ({dtype})")


def test_mixed_partials_of_gaussian_log_density():
    mu, s = sp.symbols("mu s", real=True)
    expr = -(x - mu) ** 2 / (2 * s ** 2) - sp.log(s) - sp.log(2 * sp.pi) / 2
    text = "-(x - mu)**2 / (2*s**2) - log(s) - log(2*pi)/2"
    indices = [(), ("x",), ("mu",), ("s",), ("x", "mu"), ("s", "s"), ("x", "mu", "s"), ("s", "s", "s", "s")]
    xs = np.array([-1.3, 0.2, 0.9, 2.4])
    m, sd = 0.4, 1.7
    outputs = eg.compile(text, derivatives=indices)(xs, m, sd)
    symbols = {"x": x, "mu": mu, "s": s}
    for index, got in zip(indices, outputs):
        derivative = sp.diff(expr, *[symbols[n] for n in index]) if index else expr
        want = np.array([float(derivative.subs({x: v, mu: m, s: sd}).evalf(30)) for v in xs])
        assert got.shape == xs.shape
        assert_close(got, want, "float64", f"d{index}")


def test_partials_of_two_inputs_by_orders():
    fn = eg.compile("pow(x, y)", wrt=("x", "y"), orders=2)
    xs, ys = np.array([0.5, 1.5, 2.5]), np.array([1.5, -0.5, 3.0])
    d_xx, d_xy, d_yy = fn(xs, ys)
    expr = x ** y
    for got, symbols in ((d_xx, (x, x)), (d_xy, (x, y)), (d_yy, (y, y))):
        want = np.array([float(sp.diff(expr, *symbols).subs({x: a, y: b}).evalf(30)) for a, b in zip(xs, ys)])
        assert_close(got, want, "float64", str(symbols))


def test_done_when_tanh_squared_three_orders_on_a_million_points():
    xs = np.linspace(-3, 3, 10 ** 6)
    value, first, second = eg.compile("tanh(x)**2", orders=(0, 1, 2))(x=xs)
    t = np.tanh(xs)
    s = 1 - t ** 2
    for got, want in ((value, t ** 2), (first, 2 * t * s), (second, 2 * s * (1 - 3 * t ** 2))):
        assert got.dtype == np.float64
        assert np.max(np.abs(got - want) / np.maximum(1, np.abs(want))) < 1e-12

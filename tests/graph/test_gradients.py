"""graph/gradients.py: PyTensor's log1mexp, arcsin, arccos, arccosh and arctanh with derivative formulas that hold
where theirs fail (NaN below x = -709; cancellation of x*x - 1 near +-1 in float32), in strings
and in callables that use PyTensor's own ops. References: mpmath at 40 digits, closed forms."""
import mpmath
import numpy as np
import pytensor.tensor as pt
import pytest

import elemgrad_gpu as eg


def arcsin_derivatives(x: float) -> list[float]:
    with mpmath.workdps(40):
        x = mpmath.mpf(x)
        return [float(mpmath.asin(x)), float(1 / mpmath.sqrt(1 - x * x)), float(x / (1 - x * x) ** 1.5)]


def arccos_derivatives(x: float) -> list[float]:
    return [float(mpmath.pi / 2) - v if k == 0 else -v for k, v in enumerate(arcsin_derivatives(x))]


def arccosh_derivatives(x: float) -> list[float]:
    with mpmath.workdps(40):
        x = mpmath.mpf(x)
        return [float(mpmath.acosh(x)), float(1 / mpmath.sqrt(x * x - 1)), float(-x / (x * x - 1) ** 1.5)]


def arctanh_derivatives(x: float) -> list[float]:
    with mpmath.workdps(40):
        x = mpmath.mpf(x)
        return [float(mpmath.atanh(x)), float(1 / (1 - x * x)), float(2 * x / (1 - x * x) ** 2)]


@pytest.mark.parametrize("how", ["string", "pytensor callable"])
@pytest.mark.parametrize("name, x, reference", [
    ("arccosh", 1.0010000467300415, arccosh_derivatives), ("arctanh", -0.9990000128746033, arctanh_derivatives),
    ("arctanh", 0.9999, arctanh_derivatives), ("arcsin", 0.9999, arcsin_derivatives),
    ("arccos", -0.9999, arccos_derivatives)])
def test_float32_derivatives_near_one_are_accurate(name, x, reference, how):
    text = f"{name}(x)" if how == "string" else (lambda x: getattr(pt, name)(x))
    got = eg.compile(text, orders=(0, 1, 2), device="cpu")(np.array([x], dtype=np.float32))
    for order, (g, w) in enumerate(zip(got, reference(float(np.float32(x))))):
        assert g.dtype == np.float32
        assert abs(float(g[0]) - w) / max(1.0, abs(w)) <= 1e-5, f"{name} order {order}: {g[0]} vs {w}"


def test_log1mexp_of_a_pytensor_callable_has_a_finite_second_derivative():
    got = eg.compile(lambda x: pt.log1mexp(x), orders=(1, 2), device="cpu")(np.array([-1e3, -0.5]))
    with mpmath.workdps(40):
        e, m = mpmath.exp(-0.5), mpmath.expm1(-0.5)
        want = [[0.0, float(e / m)], [0.0, float(-e / m ** 2)]]
    np.testing.assert_allclose(np.array(got), want, rtol=1e-14, atol=0)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_log1mexp_derivatives_at_zero_above_it_and_far_below_it(dtype):
    """-inf at 0 (PyTensor's), NaN above 0 and for NaN (where log1mexp is NaN), 0 far below."""
    x = np.array([0.0, 0.5, np.nan, -1e3], dtype=dtype)
    value, slope, curvature = eg.compile("log1mexp(x)", orders=(0, 1, 2), device="cpu")(x)
    assert slope.dtype == curvature.dtype == dtype
    assert slope[0] == curvature[0] == -np.inf and slope[3] == curvature[3] == 0
    assert np.isnan(slope[1:3]).all() and np.isnan(curvature[1:3]).all() and np.isnan(value[1:3]).all()


def test_taylor_mode_still_takes_orders_three_and_up():
    fn = eg.compile("log1mexp(x) + arccosh(x + 2) + arctanh(x/2000) + arcsin(x) + arccos(x/3)", orders=(3, 4),
                    device="cpu")
    assert all("Taylor mode" in e for e in fn.expressions)
    x = -0.7
    with mpmath.workdps(40):
        def f(t):
            return (mpmath.log(-mpmath.expm1(t)) + mpmath.acosh(t + 2) + mpmath.atanh(t / 2000) + mpmath.asin(t)
                    + mpmath.acos(t / 3))
        want = [float(mpmath.diff(f, x, k)) for k in (3, 4)]
    np.testing.assert_allclose([g[0] for g in fn(np.array([x]))], want, rtol=1e-12)

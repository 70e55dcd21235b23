"""sinc, exprel, xlogy, xlog1py: orders 0 to 4 at and near their removable singularities.

References: mpmath at 40 digits (derivatives by mpmath.diff of the function with its
limit filled in), values against NumPy/SciPy. Tolerance |got - ref| / max(1, |ref|):
1e-12 in float64, 1e-5 in float32, as tests/graph/test_reference.py.
"""
import warnings

import mpmath
import numpy as np
import pytest
import scipy.special

import elemgrad_gpu as eg

ORDERS = (0, 1, 2, 3, 4)
TOLERANCE = {"float64": 1e-12, "float32": 1e-5}
MAGNITUDES = (0.0, 1e-300, 1e-8, 1e-5, 1e-3, 0.1, 0.5, 0.999, 1.0, 1.001, 1.999, 2.0, 2.001, 3.7, 10.0)
POINTS = np.array(sorted({s * m for m in MAGNITUDES for s in (-1, 1)}))


def _sinc(t):
    return mpmath.mpf(1) if t == 0 else mpmath.sin(mpmath.pi * t) / (mpmath.pi * t)


def _exprel(t):
    return mpmath.mpf(1) if t == 0 else mpmath.expm1(t) / t


def mp_derivative(f, point: float, order: int) -> float:
    with mpmath.workdps(40):
        return float(mpmath.diff(f, mpmath.mpf(point), order))


def assert_close(got, want, dtype, what):
    error = np.abs(np.asarray(got, np.float64) - want) / np.maximum(1.0, np.abs(want))
    assert np.all(error <= TOLERANCE[dtype]), f"{what}: scaled error {error.max():.3g} at {np.argmax(error)}"


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name, f", [("sinc", _sinc), ("exprel", _exprel)])
def test_orders_0_to_4_at_and_near_zero_against_mpmath(name, f, dtype):
    points = POINTS.astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no branch may raise a floating-point error
        outputs = eg.compile(f"{name}({'x'})", orders=ORDERS)(points)
    for order, got in zip(ORDERS, outputs):
        assert got.dtype == dtype
        want = np.array([mp_derivative(f, float(p), order) for p in points])
        assert_close(got, want, dtype, f"{name} order {order} ({dtype})")


def test_symbolic_sin_x_over_x_cancels_near_zero_as_documented():
    true = mp_derivative(lambda t: mpmath.sin(t) / t, 1e-5, 4)  # 0.19999999999285...
    fourth = eg.compile("sin(x)/x", orders=4)(np.array([1e-5]))[0]
    assert abs(fourth - true) > 1e5  # docs/EXPRESSIONS.md: about -1.4e6
    assert abs(eg.compile("sinc(x/pi)", orders=4)(np.array([1e-5]))[0] - true) < 1e-12


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_values_as_numpy_and_scipy_with_special_values(dtype):
    x = np.array([0.0, -0.0, 1e-30, 3.0, -2.5, 1e5, np.inf, -np.inf, np.nan], dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        got_sinc = eg.compile("sinc(x)", orders=0)(x)
        got_exprel = eg.compile("exprel(x)", orders=0)(x[:-3])
    np.testing.assert_allclose(got_sinc, np.sinc(x), rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype])
    np.testing.assert_allclose(got_exprel, scipy.special.exprel(x[:-3].astype(np.float64)), rtol=TOLERANCE[dtype])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ends = eg.compile("exprel(x)", orders=0)(x[-3:])
    assert ends[0] == np.inf and ends[1] == 0 and np.isnan(ends[2])  # scipy: inf, 0, nan


XS = np.array([0.0, 1e-300, -1e-8, 1e-5, -0.1, 1.0, -10.0])
YS = np.array([0.0, 1e-300, 1e-8, 1e-3, 0.5, 1.0, 10.0])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name, shift", [("xlogy", 0.0), ("xlog1py", -1.0)])
def test_xlogy_partials_against_mpmath_including_x_0_and_y_at_the_pole(name, shift, dtype):
    x, y = np.meshgrid(XS, YS + shift, indexing="ij")
    x, y = x.ravel().astype(dtype), y.ravel().astype(dtype)
    indices = [(), ("x",), ("y",), ("y", "y"), ("x", "y"), ("y", "y", "y"), ("y", "y", "y", "y"), ("x", "y", "y", "y")]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # log(0) = -inf in the x-derivative
        outputs = eg.compile(f"{name}(x, y)", derivatives=indices)(x, y)
    for index, got in zip(indices, outputs):
        want = np.array([_xlog_partial(name, float(a), float(b), index) for a, b in zip(x, y)])
        finite = np.isfinite(want)
        assert np.array_equal(got[~finite], want[~finite]), (name, index, got[~finite], want[~finite])
        assert_close(got[finite], want[finite], dtype, f"{name} d{index} ({dtype})")


def _xlog_partial(name: str, x: float, y: float, index) -> float:
    """d(index) of x * log(u) (u = y, or 1 + y for xlog1py), 0 where x == 0: x enters linearly,
    so a y-partial is x times log's (0 at x = 0, also at the pole u = 0) and one x-partial
    drops the x."""
    k, by_x = index.count("y"), index.count("x")
    if by_x > 1:
        return 0.0
    with mpmath.workdps(40):
        u = mpmath.mpf(y) + (1 if name == "xlog1py" else 0)
        sign = (-1) ** (k - 1)
        if k == 0:
            inner = mpmath.log(u) if u != 0 else -mpmath.inf
        else:
            inner = sign * mpmath.factorial(k - 1) / u ** k if u != 0 else sign * mpmath.inf
        if by_x:
            return float(inner)
        return 0.0 if x == 0 else float(mpmath.mpf(x) * inner)


@pytest.mark.parametrize("name", ["xlogy", "xlog1py"])
def test_xlogy_values_as_scipy_with_special_values(name):
    x = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 2.0, np.nan, -1.0, 0.5])
    y = np.array([0.0, -1.0, -3.0, np.inf, np.nan, 0.0, 1.0, np.inf, 2.0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        got = eg.compile(f"{name}(x, y)", orders=0)(x, y)
    np.testing.assert_allclose(got, getattr(scipy.special, name)(x, y), rtol=1e-15)


CALLABLES = [("sinc(x)", lambda x: eg.sinc(x)), ("exprel(x)", lambda x: eg.exprel(x)),
             ("xlogy(x, 2.5)", lambda x: eg.xlogy(x, 2.5)), ("xlog1py(0.5, x)", lambda x: eg.xlog1py(0.5, x))]


@pytest.mark.parametrize("text, f", CALLABLES, ids=[c[0] for c in CALLABLES])
def test_callables_agree_with_strings(text, f):
    points = np.array([0.0, 0.3, -2.2])
    for got, want in zip(eg.compile(f, orders=ORDERS)(points), eg.compile(text, orders=ORDERS)(points)):
        np.testing.assert_array_equal(got, want)

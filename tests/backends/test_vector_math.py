"""The CPU loop calls glibc's vector math where it exists, with NumPy's error semantics.

libmvec's functions are accurate to a few ulp (glibc's manual); test_reference.py
holds every function to 1e-12 (float64) and 1e-5 (float32) through this same loop.
"""
import warnings

import numpy as np
import pytest

import elemgrad_gpu as eg
from elemgrad_gpu.backends.c import compile as ccompile


def library(fn, dtype: str) -> bytes:
    """The bytes of ``fn``'s compiled kernel in ``dtype``, NULs made @ (where symbol names end)."""
    return open(ccompile.load(fn.source(dtype=dtype)).__file__, "rb").read().replace(b"\0", b"@")


@pytest.mark.skipif(not ccompile.vector_math(), reason="no glibc >= 2.35 libmvec on x86_64 here")
@pytest.mark.parametrize("dtype, symbol", [("float64", b"v_expm1@"), ("float32", b"v_expm1f@")])
def test_the_compiled_loop_calls_vector_math_for_tanh(dtype, symbol):  # tanh is computed through expm1
    fn = eg.compile("tanh(x)**2 + 0.25", orders=(0, 1))
    fn(np.zeros(3, dtype=dtype))
    assert symbol in library(fn, dtype)


# expression, its derivative by hand, the vector functions its loop must call
VECTOR_LOOPS = [
    # sin and cos of one argument stay two vector calls: without -fno-builtin-sin/cos GCC
    # merges them into one scalar sincos, which has no vector version
    ("sin(x) * cos(x)", lambda x: np.cos(2 * x), (b"v_sin", b"v_cos")),
    # our tanh's select next to a sin call is still vectorized: the vector math is declared
    # const, else GCC thinks sin may write memory, keeps the select a branch and the whole
    # loop scalar (what that costs: docs/PERFORMANCE.md)
    ("tanh(x) * sin(x)", lambda x: np.sin(x) / np.cosh(x) ** 2 + np.tanh(x) * np.cos(x), (b"v_sin", b"v_expm1")),
]


@pytest.mark.skipif(not ccompile.vector_math(), reason="no glibc >= 2.35 libmvec on x86_64 here")
@pytest.mark.parametrize("dtype, suffix", [("float64", b""), ("float32", b"f")])
@pytest.mark.parametrize("text, derivative, functions", VECTOR_LOOPS)
def test_loops_call_the_vector_math(text, derivative, functions, dtype, suffix):
    fn = eg.compile(text, orders=(0, 1))
    x = np.linspace(-3, 3, 1001, dtype=dtype)
    value, slope = fn(x)
    np.testing.assert_allclose(slope, derivative(x.astype(np.float64)), rtol=1e-5 if dtype == "float32" else 1e-12,
                               atol=1e-6)
    symbols = library(fn, dtype)
    assert all(name + suffix + b"@" in symbols for name in functions) and b"sincos" not in symbols


TANH_ULP = 4  # the documented bound of the CPU loop's own tanh (docs/USER_GUIDE.md, Accuracy)


def ulps(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    """|got - want| in units in the last place of want, in want's dtype."""
    return np.abs(got.astype(np.float64) - want.astype(np.float64)) / np.spacing(np.abs(want)).astype(np.float64)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_tanh_is_within_its_documented_error_bound(dtype):
    mpmath = pytest.importorskip("mpmath")
    rng = np.random.default_rng(7)
    x = np.concatenate([rng.uniform(-20, 20, 6000), rng.uniform(-1, 1, 3000), np.linspace(0.5, 0.6, 1000),
                        np.copysign(10.0 ** rng.uniform(-300, 1.3, 3000), rng.uniform(-1, 1, 3000))]).astype(dtype)
    x = x[x != 0]
    with mpmath.workdps(40):
        want = np.array([float(mpmath.tanh(mpmath.mpf(float(v)))) for v in x]).astype(dtype)
    got = eg.compile("tanh(x)", orders=0)(x)
    assert got.dtype == dtype and ulps(got, want).max() <= TANH_ULP
    dense = np.linspace(-25, 25, 2_000_001, dtype=dtype)  # NumPy's tanh (1 ulp) as a second reference
    assert ulps(eg.compile("tanh(x)", orders=0)(dense), np.tanh(dense)).max() <= TANH_ULP + 1


def test_tanh_special_values_are_numpys():
    for dtype in ("float64", "float32"):
        info = np.finfo(dtype)
        x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, info.smallest_subnormal, -info.smallest_subnormal,
                      info.tiny, 710.0, -info.max], dtype=dtype)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            got = eg.compile("tanh(x)", orders=0)(x)
        np.testing.assert_array_equal(got, np.tanh(x))
        assert np.array_equal(np.signbit(got), np.signbit(np.tanh(x)))


def test_no_spurious_floating_point_warnings_from_vector_math():
    x = np.array([np.inf, -np.inf, np.nan, 0.5, 800.0, -800.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # NumPy's tanh warns for none of these
        value, slope = eg.compile("tanh(x)**2", orders=(0, 1))(x)
        np.tanh(x)
    np.testing.assert_array_equal(value, np.tanh(x) ** 2)
    np.testing.assert_array_equal(np.abs(slope[[0, 1, 4, 5]]), 0.0)


def test_real_floating_point_errors_are_reported_as_numpy_does():
    x = np.array([1.0, -1.0, 0.0])
    with pytest.warns(RuntimeWarning, match="invalid value"):
        got = eg.compile("log(x)", orders=0)(x[:2])
    with np.errstate(invalid="ignore", divide="ignore"):
        np.testing.assert_array_equal(got, np.log(x[:2]))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            eg.compile("log(x)", orders=0)(x)  # errstate silences ours as it silences NumPy's

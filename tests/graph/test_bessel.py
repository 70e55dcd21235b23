"""elemgrad_gpu.graph.bessel: Bessel functions and their derivatives against mpmath at 40 digits.

Errors are |got - ref| / max(1, |ref|) (absolute below 1, so near the zeros of J and Y the
error is absolute): at most 1e-12 in float64 and 1e-5 in float32, on x in [1e-3, 50] (Y
and K from 1e-2 in float32, whose largest number their v-derivatives pass below) and v
in [0, 10], plus spot checks in Hankel's region (x up to 1e4).
"""
import itertools

import mpmath as mp
import numpy as np
import pytensor.scalar.math as psm
import pytensor.tensor as pt
import pytest
import scipy.special as sc

import elemgrad_gpu as eg
from elemgrad_gpu.errors import ExpressionError
from elemgrad_gpu.graph.substitute import SUBSTITUTES

TOLERANCE = {"float64": 1e-12, "float32": 1e-5}
MP = {"jv": mp.besselj, "yv": mp.bessely, "iv": mp.besseli, "kv": mp.besselk,
      "ive": lambda v, x: mp.besseli(v, x) * mp.exp(-abs(x)), "kve": lambda v, x: mp.besselk(v, x) * mp.exp(x)}
ORDERS_V = (0.0, 0.5, 1.3, 4.7, 10.0)
POINTS_X = (1e-3, 0.04, 1.1, 2.0, 7.3, 31.0, 50.0)
INDICES = [(), ("x",), ("x", "x"), ("v",), ("v", "v"), ("v", "x")]


def reference(family: str, index: tuple, v: float, x: float) -> mp.mpf:
    """The partial derivative ``index`` of family(v, x) at 40 digits (mpmath.diff)."""
    with mp.workdps(40):
        f = MP[family]
        counts = (index.count("v"), index.count("x"))
        if counts == (0, 0):
            return f(mp.mpf(v), mp.mpf(x))
        return mp.diff(lambda a, b: f(a, b), (mp.mpf(v), mp.mpf(x)), counts)


def assert_close(got, refs, dtype, what):
    """Scaled errors below the tolerance; references beyond float32's range are skipped there."""
    worst = 0.0
    for g, r in zip(got, refs):
        if dtype == "float32" and abs(r) > 1e30:
            continue
        worst = max(worst, float(abs(mp.mpf(float(g)) - r) / max(1, abs(r))))
    assert worst <= TOLERANCE[dtype], f"{what}: scaled error {worst:.3g}"


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("family", list(MP))
def test_orders_0_to_2_in_v_and_x_against_mpmath(family, dtype):
    small = 1e-2 if dtype == "float32" and family in ("yv", "kv", "kve") else 0.0
    pairs = [(v, x) for v, x in itertools.product(ORDERS_V, POINTS_X) if x > small]
    v = np.array([p[0] for p in pairs], dtype=dtype)
    x = np.array([p[1] for p in pairs], dtype=dtype)
    outputs = eg.compile(f"{family}(v, x)", derivatives=INDICES, device="cpu")(v, x)
    for index, got in zip(INDICES, outputs):
        assert got.dtype == dtype
        refs = [reference(family, index, float(a), float(b)) for a, b in zip(v, x)]
        assert_close(got, refs, dtype, f"{family} d{index} {dtype}")


@pytest.mark.parametrize("family", ["jv", "yv", "iv", "ive", "kv", "kve"])
def test_hankel_region_spot_checks(family):
    """Large x: Hankel's expansions, their x-derivatives and v-derivatives."""
    pairs = [(0.5, 200.0), (3.0, 1e3), (7.25, 1e4), (10.0, 120.0), (2.0, 80.0)]
    if family == "iv":
        pairs = [(v, x) for v, x in pairs if x < 700]  # beyond, I_v overflows
    v, x = (np.array(c) for c in zip(*pairs))
    indices = [(), ("x",), ("v",), ("v", "v")]
    outputs = eg.compile(f"{family}(v, x)", derivatives=indices, device="cpu")(v, x)
    for index, got in zip(indices, outputs):
        if family == "kv":
            refs = [reference(family, index, a, b) for a, b in zip(v, x)]
            for g, r in zip(got, refs):  # K_v(1e4) is 1e-4345: relative
                assert r == 0 or abs(g - r) <= 1e-12 * abs(r) or abs(r) < 1e-300, (index, g, r)
            continue
        assert_close(got, [reference(family, index, a, b) for a, b in zip(v, x)], "float64", f"{family} d{index}")


UNARY = {"j0": ("jv", 0), "j1": ("jv", 1), "y0": ("yv", 0), "y1": ("yv", 1), "i0": ("iv", 0), "i1": ("iv", 1),
         "i0e": ("ive", 0), "i1e": ("ive", 1), "k0": ("kv", 0), "k1": ("kv", 1), "k0e": ("kve", 0), "k1e": ("kve", 1)}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", list(UNARY))
def test_fixed_order_functions_orders_0_to_3(name, dtype):
    family, n = UNARY[name]
    x = np.array([1e-3, 1.7, 12.0, 45.0], dtype=dtype)
    orders = (0, 1, 2, 3)
    outputs = eg.compile(f"{name}(x)", orders=orders, device="cpu")(x)
    for order, got in zip(orders, outputs):
        with mp.workdps(40):
            refs = [mp.diff(lambda t: MP[family](n, t), mp.mpf(float(p)), order) for p in x]
        if dtype == "float32" and family in ("yv", "kv", "kve"):  # near 0 the kernel's float rounding
            refs, got = refs[1:], got[1:]  # of x itself moves the value by more than 1e-5 relative
        assert_close(got, refs, dtype, f"{name} order {order} {dtype}")


def test_order_3_in_x_of_real_orders_and_integer_yn():
    x = np.array([0.2, 1.5, 6.0, 22.0])
    for text, f in (("jv(2.5, x)", lambda t: mp.besselj(2.5, t)), ("kv(0.3, x)", lambda t: mp.besselk(0.3, t)),
                    ("ive(1.5, x)", lambda t: mp.besseli(1.5, t) * mp.exp(-t)),
                    ("yn(3, x)", lambda t: mp.bessely(3, t))):
        fn = eg.compile(text, orders=(3,), device="cpu")
        with mp.workdps(40):
            refs = [mp.diff(f, mp.mpf(p), 3) for p in x]
        assert_close(fn(x)[0], refs, "float64", text)


def test_third_derivative_in_the_order_is_refused_clearly():
    with pytest.raises(ExpressionError, match="order 3 or more in the order v"):
        eg.compile("jv(v, x)", derivatives=[("v", "v", "v")], device="cpu")


SCIPY = {"jv": sc.jv, "yv": sc.yv, "iv": sc.iv, "ive": sc.ive, "kv": sc.kv, "kve": sc.kve}
EDGES_V = (0.0, 1.0, 2.0, -1.0, -2.0, 0.5, -0.5, -1.5, 2.5)
EDGES_X = (0.0, -0.0, -1.0, -2.5, np.inf, -np.inf, np.nan)


@pytest.mark.parametrize("family", list(SCIPY))
def test_poles_nan_and_inf_as_scipy(family):
    v, x = (np.array(c) for c in zip(*itertools.product(EDGES_V + (np.nan,), EDGES_X + (1.0,))))
    with np.errstate(all="ignore"):
        got = eg.compile(f"{family}(v, x)", orders=0, device="cpu")(v, x)
        want = SCIPY[family](v, x)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"{family} NaN")
    np.testing.assert_array_equal(got[np.isinf(want)], want[np.isinf(want)], err_msg=f"{family} inf")


@pytest.mark.parametrize("name", list(UNARY))
def test_fixed_order_edges_as_scipy(name):
    x = np.array([0.0, -0.0, -1.0, 1.0, np.inf, -np.inf, np.nan, 1e300, -1e300, 800.0])
    with np.errstate(all="ignore"):
        got = eg.compile(f"{name}(x)", orders=0, device="cpu")(x)
        want = getattr(sc, name)(x)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(got[np.isinf(want)], want[np.isinf(want)])
    family, n = UNARY[name]
    with mp.workdps(40):  # values against mpmath: SciPy's j0(1e300) is off by 70%
        for g, p in zip(got[np.isfinite(want)], x[np.isfinite(want)]):
            if abs(p) > 1e3 and family not in ("jv", "yv"):
                continue  # I and K overflow or underflow there: the edges above
            r = MP[family](n, mp.mpf(float(p)))
            assert abs(g - r) <= 1e-13 * abs(r) or abs(r) < 1e-300, (name, p, g, r)


def test_pytensor_ops_in_a_callable_compile_and_run():
    """Regression: PyTensor's i0 i1 iv ive j0 j1 jv kv kve have no C code; they are substituted."""
    def f(x):
        return (pt.i0(x) + pt.i1(x) + pt.iv(1.5, x) + pt.ive(0.7, x) + pt.j0(x) + pt.j1(x) + pt.jv(2.5, x)
                + pt.kv(0.3, x) + pt.kve(1.2, x))
    x = np.array([0.25, 1.5, 6.0, 13.0])
    value, slope = eg.compile(f, orders=(0, 1), device="cpu")(x)
    want = (sc.i0(x) + sc.i1(x) + sc.iv(1.5, x) + sc.ive(0.7, x) + sc.j0(x) + sc.j1(x) + sc.jv(2.5, x)
            + sc.kv(0.3, x) + sc.kve(1.2, x))
    np.testing.assert_allclose(value, want, rtol=1e-13)
    want_slope = (sc.i1(x) + sc.ivp(1, x) + sc.ivp(1.5, x) + sc.ive(-0.3, x) / 2 + sc.ive(1.7, x) / 2
                  - sc.ive(0.7, x) - sc.j1(x) + sc.jvp(1, x) + sc.jvp(2.5, x) + sc.kvp(0.3, x)
                  + sc.kvp(1.2, x) * np.exp(x) + sc.kve(1.2, x))
    np.testing.assert_allclose(slope, want_slope, rtol=1e-12)


@pytest.mark.parametrize("op_class", [psm.Jv, psm.I0])
def test_without_the_substitute_pytensors_op_fails(monkeypatch, op_class):
    """What the substitutes are for: PyTensor's op has no C code, so the kernel cannot run it."""
    monkeypatch.delitem(SUBSTITUTES, op_class)
    build = (lambda x: pt.jv(2.5, x)) if op_class is psm.Jv else (lambda x: pt.i0(x))
    with pytest.raises(Exception):
        eg.compile(build, orders=(0, 1), device="cpu")(np.array([1.0, 2.0]))


def test_eg_names_and_strings_agree():
    x = np.array([0.5, 3.0])
    by_name = eg.compile(lambda x: eg.jv(1.5, x) * eg.k1e(x) + eg.jn(2, x), orders=(0, 1), device="cpu")(x)
    by_text = eg.compile("jv(1.5, x) * k1e(x) + jn(2, x)", orders=(0, 1), device="cpu")(x)
    for a, b in zip(by_name, by_text):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(by_text[0], sc.jv(1.5, x) * sc.k1e(x) + sc.jv(2, x), rtol=1e-14)


def test_yn_takes_an_integer_order():
    with pytest.raises(ExpressionError, match="integer"):
        eg.compile(lambda x: eg.yn(1.5, x), device="cpu")(np.ones(2))  # a callable is traced at its first call


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_generated_cuda_compiles_with_nvrtc(compile_ptx, dtype):
    """Every function's value (sm_80, sm_90), and the v- and x-derivatives of two (sm_90)."""
    text = "jv(v, x) + yv(v, x) + iv(v, x) + ive(v, x) + kv(v, x) + kve(v, x) + j0(x) + y1(x) + i1e(x) + k0(x)"
    source = eg.compile(text, orders=0).source("cuda", dtype=dtype)
    for arch in ("sm_80", "sm_90"):
        assert ".entry eg_contiguous" in compile_ptx(source, arch)
    derivatives = [(), ("x",), ("v",), ("v", "v"), ("v", "x")]
    source = eg.compile("jv(v, x) + kve(v, x)", derivatives=derivatives).source("cuda", dtype=dtype)
    assert ".entry eg_contiguous" in compile_ptx(source, "sm_90")

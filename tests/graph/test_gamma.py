"""The gamma family (graph/gamma.py, gamma.h) and polygamma of any order (special.h).

Values and derivatives (orders 0 to 3, order 3 by Taylor mode) against mpmath at 40 digits:
|got - ref| / max(1, |ref|) at most 1e-12 in float64 and 1e-5 in float32. Poles, NaN and inf
as scipy.special. PyTensor's own ops in callables, and the generated CUDA through NVRTC.
"""
import warnings

import mpmath as mp
import numpy as np
import pytensor.tensor as pt
import pytest
import scipy.special

import elemgrad_gpu as eg
from elemgrad_gpu.graph import special

mp.mp.dps = 40
TOLERANCE = {"float64": 1e-12, "float32": 1e-5}
DTYPES = ("float64", "float32")


def max_error(got: np.ndarray, refs: list, dtype: str) -> float:
    """Largest |got - ref| / max(1, |ref|); a reference beyond the dtype's range must be +-inf."""
    assert got.dtype == dtype
    worst = 0.0
    for g, r in zip(got, refs):
        if abs(r) > np.finfo(dtype).max:
            assert np.isinf(g) and (g > 0) == (r > 0), (g, r)
            continue
        worst = max(worst, float(abs(mp.mpf(float(g)) - r) / max(1, abs(r))))
    return worst


def points(values, dtype: str) -> np.ndarray:
    return np.array(values, dtype=dtype)


# name -> (mpmath function, points): gamma at negative non-integers, rgamma at its zeros
UNARY = {
    "gamma": (mp.gamma, [-6.3, -3.7, -2.5, -1.2, -0.5, -0.05, 0.03, 0.5, 1.4616321449683622, 2.0, 3.3, 7.5, 25.7]),
    "rgamma": (mp.rgamma, [-9.7, -4.0, -3.0, -2.5, -1.0, -0.3, 0.0, 0.2, 0.5, 1.0, 3.5, 30.7, 150.0]),
    "trigamma": (lambda x: mp.psi(1, x), [-6.3, -2.5, -0.4, 0.01, 0.7, 5.5, 60.0, 1e4]),
    "factorial": (lambda x: mp.gamma(x + 1), [0.0, 0.05, 0.7, 3.0, 10.5, 30.5]),
    "gammasgn": (lambda x: mp.sign(mp.gamma(x)), [-6.3, -2.5, -0.5, 0.5, 3.0]),
}


def derivative(f, args: tuple, orders: tuple) -> mp.mpf:
    return f(*args) if not any(orders) else mp.diff(f, args, orders)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_orders_0_to_3_match_mpmath(name, dtype):
    f, xs = UNARY[name]
    x = points(xs, dtype)
    outputs = eg.compile(f"{name}(x)", orders=(0, 1, 2, 3), device="cpu")(x)
    for k, got in enumerate(outputs):
        if name == "gammasgn":
            refs = [f(mp.mpf(float(v))) if k == 0 else mp.mpf(0) for v in x]
        else:
            refs = [derivative(f, (mp.mpf(float(v)),), (k,)) for v in x]
        assert max_error(got, refs, dtype) < TOLERANCE[dtype] * (3 if name == "gamma" and dtype == "float32" else 1), k


def test_rgamma_at_the_poles_of_gamma_is_zero_with_slope_minus_one_to_the_n_times_n_factorial():
    n = np.arange(0, 12)
    value, slope, curvature = eg.compile("rgamma(x)", orders=(0, 1, 2), device="cpu")(-n.astype(float))
    np.testing.assert_array_equal(value, np.zeros(12))
    np.testing.assert_allclose(slope, [(-1) ** int(k) * float(mp.factorial(int(k))) for k in n], rtol=1e-14)
    refs = [mp.diff(mp.rgamma, -int(k), 2) for k in n]
    assert max_error(curvature, refs, "float64") < 1e-12


def test_multigammaln_orders_0_to_3_match_mpmath():
    def reference(a, d):
        return d * (d - 1) / mp.mpf(4) * mp.log(mp.pi) + mp.fsum(mp.loggamma(a - mp.mpf(j) / 2) for j in range(d))
    a = np.array([2.3, 3.1, 7.5, 40.7, 1e4])
    for d in (1, 3, 5):
        for dtype in DTYPES:
            outputs = eg.compile(f"multigammaln(x, {d})", orders=(0, 1, 2, 3), device="cpu")(a.astype(dtype))
            for k, got in enumerate(outputs):
                refs = [derivative(lambda t: reference(t, d), (mp.mpf(float(v)),), (k,)) for v in a.astype(dtype)]
                assert max_error(got, refs, dtype) < TOLERANCE[dtype], (d, k, dtype)


def test_multigammaln_is_nan_below_its_domain_and_its_d_must_be_an_integer_literal():
    a = np.array([0.5, 1.0, 1.01, 3.0])
    got = eg.compile("multigammaln(x, 3)", orders=0, device="cpu")(a)
    assert np.isnan(got[:2]).all() and np.isfinite(got[2:]).all()
    np.testing.assert_allclose(got[2:], scipy.special.multigammaln(a[2:], 3), rtol=1e-14)
    assert eg.compile("multigammaln(x, 0)", orders=0, device="cpu")(a).tolist() == [0.0] * 4
    for text in ("multigammaln(x, y)", "multigammaln(x, 2.5)", "multigammaln(x, -1)"):
        with pytest.raises(eg.ExpressionError, match="multigammaln's argument 2 must be a non-negative integer"):
            eg.compile(text)
    for d in (2.5, -1, pt.dscalar("d")):
        with pytest.raises(eg.ExpressionError, match="multigammaln's d must be a"):
            eg.compile(lambda x: eg.multigammaln(x, d), device="cpu")(np.ones(2))  # traced at its first call


# name -> (mpmath function, points (a, b)) on each documented domain, and beyond
BINARY = {
    "beta": (mp.beta, [(0.05, 0.7), (0.7, 3.3), (3.3, 25.0), (25.0, 60.0), (60.0, 0.05), (1.0, 1.0), (-0.5, 0.3),
                       (-2.7, 1.1), (-1.5, -0.25)]),
    "betaln": (lambda a, b: mp.log(abs(mp.beta(a, b))),
               [(0.05, 0.7), (0.7, 3.3), (3.3, 25.0), (25.0, 60.0), (1e5, 1e5), (1e10, 1.0), (3.0, 1e5),
                (1e5, 0.05), (1e10, 1e10), (0.5, 1e15), (-0.5, 0.3), (-2.7, 1.1)]),
    "poch": (mp.rf, [(0.05, 0.7), (0.8, -0.3), (4.5, 2.5), (99.0, 9.7), (1e4, 0.05), (1e4, 1.0), (-2.5, 1.3),
                     (-0.5, 0.25), (3.0, -2.5)]),
    "comb": (mp.binomial, [(0.5, 0.05), (4.5, 0.4), (10.0, 3.0), (60.5, 9.5), (30.0, 29.5), (10.0, 10.0 - 1e-3)]),
}
PARTIALS = [(), ("x",), ("y",), ("x", "x"), ("x", "y"), ("y", "y"), ("x", "x", "x"), ("y", "y", "y")]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_partials_to_order_3_match_mpmath(name, dtype):
    f, pairs = BINARY[name]
    a, b = (points(column, dtype) for column in zip(*pairs))
    if dtype == "float32":  # float32's range: betaln's huge arguments are float64's
        keep = (np.abs(a) < 1e6) & (np.abs(b) < 1e6)
        a, b = a[keep], b[keep]
    outputs = eg.compile(f"{name}(x, y)", derivatives=PARTIALS, device="cpu")(a, b)
    for index, got in zip(PARTIALS, outputs):
        orders = (index.count("x"), index.count("y"))
        refs = [derivative(f, (mp.mpf(float(u)), mp.mpf(float(v))), orders) for u, v in zip(a, b)]
        assert max_error(got, refs, dtype) < TOLERANCE[dtype], index


def test_betaln_of_large_arguments_has_no_cancellation():
    a = np.array([1e5, 1e10, 1e10, 0.5, 1e300, 2e5])
    b = np.array([1e5, 1.0, 1e10, 1e15, 1e300, 1e5])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Stirling's 1/x**2 taken as (1/x)**2: no overflow flag at 1e300
        value, da, db = eg.compile("betaln(a, b)", derivatives=[(), ("a",), ("b",)], device="cpu")(a, b)
        digamma = eg.compile("digamma(x)", orders=0, device="cpu")(np.array([1e300]))
    np.testing.assert_allclose(digamma, [np.log(1e300)], rtol=1e-15)
    for got, refs in [(value, [mp.log(mp.beta(u, v)) for u, v in zip(a, b)]),
                      (da, [mp.psi(0, u) - mp.psi(0, u + v) for u, v in zip(a, b)]),
                      (db, [mp.psi(0, v) - mp.psi(0, u + v) for u, v in zip(a, b)])]:
        relative = [float(abs(mp.mpf(float(g)) - r) / abs(r)) for g, r in zip(got, refs)]
        assert max(relative) < 1e-13, relative  # relative, not only scaled: no cancellation


def test_comb_is_zero_outside_0_le_k_le_n_with_zero_derivatives_and_no_warning():
    n, k = np.array([5.0, 5.0, -1.0, 2.5, -1.0]), np.array([6.0, -1.0, 0.0, 3.5, -1.0])
    indices = [(), ("n",), ("k",), ("n", "k"), ("n", "n", "n"), ("k", "k", "k")]  # order 3: Taylor mode
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no 0 * inf: no "invalid value" flag
        for got in eg.compile("comb(n, k)", derivatives=indices, device="cpu")(n, k):
            np.testing.assert_array_equal(got, np.zeros(5))


def test_psidiff_of_huge_arguments_raises_no_overflow_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        slope = eg.compile("betaln(a, b)", derivatives=[("a",)], device="cpu")(np.array([1e300]), np.array([1e300]))
    np.testing.assert_allclose(slope[0], [-np.log(2)], rtol=1e-15)


# Poles, signs, NaN and inf, values only, as scipy.special gives them
SPECIAL_X = [0.0, -0.0, -1.0, -2.0, -0.5, -1.5, np.inf, -np.inf, np.nan, 171.7, -171.5, -180.5, 172.0, 1e-300]
SPECIAL_PAIRS = [(-1.0, 2.0), (-3.0, 1.0), (-3.0, 2.0), (-0.5, 0.3), (0.0, 1.0), (-1.5, -1.5), (1e5, 1e5),
                 (-1.0, -1.0), (-2.0, -3.0), (np.inf, 1.0), (np.nan, 1.0), (1.0, np.nan), (-3.0, 5.0), (-3.0, -2.0),
                 (2.0, -2.0), (2.0, -2.5), (-3.0, 0.5), (0.0, 0.0), (np.nan, 0.0), (1e5, 0.5), (5.0, 2.0),
                 (5.0, 6.0), (-1.0, 0.0), (5.0, -1.0), (4.5, 2.3), (1e6, 3.5), (2.0, 1e-300)]


def assert_as_scipy(got: np.ndarray, want: np.ndarray, reference, arguments: list) -> None:
    """inf, NaN and zeros (signs included) as SciPy's; finite values against mpmath, where
    SciPy itself is sometimes off (comb(1e5, 0.5) and betaln(1e6, 3.5) by 7e-11)."""
    special = ~np.isfinite(want) | (want == 0)
    np.testing.assert_array_equal(got[special], want[special])
    assert (np.signbit(got) == np.signbit(want))[np.isinf(want)].all()
    finite = [(g, reference(*(mp.mpf(float(v)) for v in args))) for g, args, s in zip(got, arguments, special) if not s]
    assert max(float(abs(mp.mpf(float(g)) - r) / abs(r)) for g, r in finite) < 1e-13


@pytest.mark.parametrize("name", ["gamma", "rgamma", "gammasgn", "factorial", "trigamma"])
def test_unary_poles_nan_and_inf_as_scipy(name):
    x = np.array(SPECIAL_X)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        got = eg.compile(f"{name}(x)", orders=0, device="cpu")(x)
        want = (lambda v: scipy.special.polygamma(1, v)) if name == "trigamma" else getattr(scipy.special, name)
        want = want(x)
    if name == "gammasgn":  # +-1 or NaN: all as SciPy's
        np.testing.assert_array_equal(got, want)
        return
    want[x == -171.5] = float(mp.gamma(-171.5)) if name == "gamma" else want[x == -171.5]  # SciPy: 0, not 1.9e-310
    assert_as_scipy(got, want, UNARY[name][0], [(v,) for v in x])


@pytest.mark.parametrize("name", ["beta", "betaln", "poch", "comb"])
def test_binary_poles_nan_and_inf_as_scipy(name):
    a, b = (np.array(column) for column in zip(*SPECIAL_PAIRS))
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        got = eg.compile(f"{name}(a, b)", derivatives=[()], device="cpu")(a, b)[0]
        want = getattr(scipy.special, name)(a, b)
    if name in ("beta", "betaln"):  # SciPy: inf for beta(nan, 0) (its pole test comes first); ours: NaN in, NaN out
        nan_at_pole = np.isnan(a) & (b == 0)
        assert np.isnan(got[nan_at_pole]).all()
        want[nan_at_pole] = np.nan
    reference = {"comb": lambda n, k: mp.binomial(n, k) if 0 <= k <= n else mp.mpf(0)}.get(name, BINARY[name][0])
    assert_as_scipy(got, want, reference, list(zip(a, b)))


def psi_reference(n: int, x: float) -> mp.mpf:
    """polygamma(n, x) by mpmath; negative x by Hurwitz zeta, with the digits its cancellation needs."""
    with mp.workdps(40 + (0 if x > 0 else n + 20)):
        value = mp.psi(n, x) if x > 0 else (-1) ** (n + 1) * mp.factorial(n) * mp.zeta(n + 1, mp.mpf(x))
    return value


HIGH_ORDER_X = [1e-3, 0.5, 1.0, 2.5, 7.9, 26.6, 61.0, 150.0, 1e3, 1e5, -0.5, -2.5, -0.4999, -1.1273, -7.25,
                -19.67, -24.18]


@pytest.mark.parametrize("n", [41, 42, 50, 63, 64, 77, 100, 101, 150])
def test_polygamma_of_high_order_matches_mpmath_in_float64(n):
    x = np.array(HIGH_ORDER_X)
    with np.errstate(over="ignore"):
        got = eg.compile(f"polygamma({n}, x)", orders=0, device="cpu")(x)
    assert max_error(got, [psi_reference(n, v) for v in x], "float64") < 1e-12


@pytest.mark.parametrize("n", [25, 30, 40, 64])
def test_polygamma_of_high_order_matches_mpmath_in_float32(n):
    x = np.array([0.5, 2.5, 7.9, 26.6, 61.0, 150.0, -0.5, -2.5, -7.25], dtype="float32")
    with np.errstate(over="ignore"):
        got = eg.compile(f"polygamma({n}, x)", orders=0, device="cpu")(x)
    assert max_error(got, [psi_reference(n, float(v)) for v in x], "float32") < 1e-5


def test_polygamma_of_high_order_differentiates_and_works_in_callables():
    x = np.array([3.5, 40.0, 300.0])
    value, slope, curvature = eg.compile(lambda x: eg.polygamma(99, x), orders=(0, 1, 2), device="cpu")(x)
    for k, got in enumerate((value, slope, curvature)):
        assert max_error(got, [psi_reference(99 + k, v) for v in x], "float64") < 1e-12
    third = eg.compile(lambda x: pt.polygamma(200, x), orders=3, device="cpu")(x)  # PyTensor's op, substituted
    assert max_error(third, [psi_reference(203, v) for v in x], "float64") < 1e-12


def test_polygamma_order_past_its_largest_is_refused():
    with pytest.raises(eg.ExpressionError, match=f"order is at most {special.MAX_ORDER}"):
        eg.compile(f"polygamma({special.MAX_ORDER + 1}, x)")


# PyTensor's own ops in callables: (callable, mpmath function of x, points)
PYTENSOR_OPS = {
    "pt.gamma": (lambda x: pt.gamma(x), mp.gamma, [0.3, 2.5, -0.5, -2.3, 7.1]),
    "pt.special.factorial": (lambda x: pt.special.factorial(x), lambda v: mp.gamma(v + 1), [0.3, 2.5, 7.1]),
    "pt.special.beta": (lambda x: pt.special.beta(x, 1.7), lambda v: mp.beta(v, mp.mpf(1.7)), [0.3, 2.5, 7.1]),
    "pt.special.betaln": (lambda x: pt.special.betaln(2.5, x), lambda v: mp.log(mp.beta(mp.mpf(2.5), v)),
                          [0.3, 2.5, 7.1]),
    "pt.special.poch": (lambda x: pt.special.poch(x, 0.6), lambda v: mp.rf(v, mp.mpf(0.6)), [0.3, 2.5, 7.1]),
    "pt.gammaln": (lambda x: pt.gammaln(x), mp.loggamma, [0.3, 2.5, 7.1, 130.0]),
    "pt.psi": (lambda x: pt.psi(x), mp.digamma, [0.3, 2.5, -0.5, 7.1]),
    "pt.tri_gamma": (lambda x: pt.tri_gamma(x), lambda v: mp.psi(1, v), [0.3, 2.5, -0.5, 7.1]),
    "pt.polygamma": (lambda x: pt.polygamma(3, x), lambda v: mp.psi(3, v), [0.3, 2.5, -0.5, 7.1]),
    "pt.polygamma(45)": (lambda x: pt.polygamma(45, x), lambda v: mp.psi(45, v), [2.5, 7.1, 60.0]),
}


@pytest.mark.parametrize("name", sorted(PYTENSOR_OPS))
def test_pytensor_ops_compile_and_differentiate_in_callables(name):
    build, f, xs = PYTENSOR_OPS[name]
    x = np.array(xs)
    fn = eg.compile(build, orders=(0, 1, 2, 3), device="cpu")
    for k, got in enumerate(fn(x)):
        assert max_error(got, [derivative(f, (mp.mpf(v),), (k,)) for v in x], "float64") < 1e-12, k


def test_pytensor_gamma_is_replaced_by_ours_which_has_a_taylor_rule():
    fn = eg.compile(lambda x: pt.gamma(x) + pt.special.factorial(x), orders=(3,), device="cpu")
    assert "Taylor mode" in fn.expressions[0]


def test_string_and_callable_agree_in_float32_and_float32_stays_float32():
    x = np.array([0.3, 2.5, 7.1], dtype="float32")
    for text, build in [("gamma(x) * rgamma(x + 0.5)", lambda x: eg.gamma(x) * eg.rgamma(x + 0.5)),
                        ("beta(x, 2.5) + poch(x, 1.5) + comb(x + 8, x)",
                         lambda x: eg.beta(x, 2.5) + eg.poch(x, 1.5) + eg.comb(x + 8, x))]:
        by_text = eg.compile(text, orders=(0, 1, 2), device="cpu")(x)
        by_callable = eg.compile(build, orders=(0, 1, 2), device="cpu")(x)
        for a, b in zip(by_text, by_callable):
            assert a.dtype == b.dtype == np.float32
            np.testing.assert_allclose(a, b, rtol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_gammasgn_and_psidiff_cuda_compiles_with_nvrtc(compile_ptx, dtype):
    # gammasgn has no SymPy case in tests/cases.py; comb(x, y)'s derivatives use psidiff
    fn = eg.compile("gammasgn(x) * gamma(x) + comb(x, y) + betaln(x, y)", orders=(0, 1, 2))
    source = fn.source("cuda", dtype=dtype)
    body = source.split("eg_element(const eg_real *v, eg_real *r)")[1].split('extern "C"')[0]
    assert dtype == "float64" or "double" not in body
    for arch in ("sm_80", "sm_90"):
        assert ".entry eg_contiguous" in compile_ptx(source, arch)

"""elemgrad_gpu.graph.normal: erfcx, erfcinv, ndtr, log_ndtr, ndtri, ndtri_exp, dawsn, owens_t.

Values and derivatives of orders 1 and 2 (orders 3 checked to run) against mpmath at 40
digits, computed from independent closed forms, on each function's domain with its tails;
errors are |got - ref| / max(1, |ref|): at most 1e-12 in float64 and 1e-5 in float32. NaN and
inf as scipy.special. PyTensor's own ops in a user's graph are replaced by ours, and every
kernel's CUDA source compiles with NVRTC.
"""
import warnings

import mpmath as mp
import numpy as np
import pytensor.tensor as pt
import pytest
import scipy.special as sc
from pytensor.scalar.basic import UnaryScalarOp, upgrade_to_float
from pytensor.tensor.elemwise import Elemwise

import elemgrad_gpu as eg
from elemgrad_gpu.errors import ExpressionError

mp.mp.dps = 40
TOLERANCE = {"float64": 1e-12, "float32": 1e-5}
SQRT_PI = mp.sqrt(mp.pi)


def erfcx_ref(x):
    if x > 1e6:  # mpmath's erfc overflows its exponent estimate far out: the asymptotic series
        return mp.fsum((-1) ** k * mp.fac2(2 * k - 1) / (2 * x * x) ** k for k in range(8)) / (x * SQRT_PI)
    return mp.exp(x * x) * mp.erfc(x)


def mills_tail(z):
    """s with phi(-z)/Phi(-z) = z + s, by Mills' continued fraction taken deep (z >= 10)."""
    t = z
    for k in range(300, 1, -1):
        t = z + k / t
    return 1 / t


def ncdf(x):
    return erfcx_ref(-x / mp.sqrt(2)) * mp.exp(-x * x / 2) / 2 if x < -1e6 else mp.ncdf(x)


def g_ref(x):
    """phi(x)/Phi(x) and x + phi(x)/Phi(x)."""
    if x < -10:
        return -x + mills_tail(-x), mills_tail(-x)
    g = mp.npdf(x) / mp.ncdf(x)
    return g, x + g


def dawsn_ref(x):
    if abs(x) > 1e6:
        return mp.fsum(mp.fac2(2 * k - 1) / (2 * x * x) ** k for k in range(8)) / (2 * x)
    return SQRT_PI / 2 * mp.exp(-x * x) * mp.erfi(x)


def dawsn_d1_ref(x):
    if abs(x) > 1e6:
        return -mp.fsum(mp.fac2(2 * k - 1) / (2 * x * x) ** k for k in range(1, 8))
    return 1 - 2 * x * dawsn_ref(x)


def erfcinv_ref(y):
    if 0.25 < y < 1.75:
        return mp.erfinv(1 - y)
    if y > 1:
        return -erfcinv_ref(2 - y)
    return mp.findroot(lambda z: mp.log(mp.erfc(z)) - mp.log(y), mp.sqrt(-mp.log(y)))


def ndtri_exp_value(y):
    if y > -1e-5:
        return mp.sqrt(2) * erfcinv_ref(-2 * mp.expm1(y))
    if y > -2:
        return -mp.sqrt(2) * erfcinv_ref(2 * mp.exp(y))
    return mp.findroot(lambda x: mp.log(ncdf(x)) - y, -mp.sqrt(-2 * y))


def refs_erfcx(x):
    f = erfcx_ref(x)
    d1 = -2 / SQRT_PI * mills_like(x) if x > 1e6 else 2 * x * f - 2 / SQRT_PI
    return f, d1, 2 * f + 2 * x * d1


def mills_like(x):
    """x erfcx(x) sqrt(pi) - 1 made positive: 1 - sqrt(pi) x erfcx(x), for huge x (asymptotic)."""
    return -mp.fsum((-1) ** k * mp.fac2(2 * k - 1) / (2 * x * x) ** k for k in range(1, 8))


def refs_ndtr(x):
    phi = mp.npdf(x)
    return ncdf(x), phi, -x * phi


def refs_log_ndtr(x):
    g, r = g_ref(x)
    return mp.log(ncdf(x)), g, -g * r


def refs_erfcinv(y):
    z = erfcinv_ref(y)
    d1 = -SQRT_PI / 2 * mp.exp(z * z)
    return z, d1, 2 * z * d1 * d1


def refs_ndtri(p):
    z = -mp.sqrt(2) * erfcinv_ref(2 * p)
    d1 = 1 / mp.npdf(z)
    return z, d1, z * d1 * d1


def refs_ndtri_exp(y):
    z = ndtri_exp_value(y)
    g, r = g_ref(z)
    return z, 1 / g, r / g ** 2


def refs_dawsn(x):
    f, d1 = dawsn_ref(x), dawsn_d1_ref(x)
    return f, d1, -2 * f - 2 * x * d1


CASES = {  # name: (references of orders 0-2, float64 points)
    "erfcx": (refs_erfcx, np.r_[np.linspace(-26, 30, 57), [-5.5, 0.1, 5.99, 6.0, 6.01, 1e3, 1e5, 1e8, 1e150, 1e300]]),
    "ndtr": (refs_ndtr, np.r_[np.linspace(-38, 9, 48), [-1.0, -1e-3, 1e-8, 0.999, 1.001, 20.0, 1e10]]),
    "log_ndtr": (refs_log_ndtr, np.r_[np.linspace(-45, 9, 55), [-8.49, -8.51, -1e3, -1e5, -1e8, -1e150, 40.0]]),
    "erfcinv": (refs_erfcinv, np.r_[np.geomspace(1e-300, 0.4, 30), 2 - np.geomspace(1e-15, 0.4, 15),
                                   [1e-10, 0.5, 0.7, 1.0, 1.3, 1.5, 1.9, 5e-324]]),
    "ndtri": (refs_ndtri, np.r_[np.geomspace(1e-300, 0.4, 30), 1 - np.geomspace(1e-15, 0.4, 15), [0.25, 0.5, 0.7]]),
    "ndtri_exp": (refs_ndtri_exp, np.r_[-np.geomspace(1e-300, 1e3, 40), [-0.5, -0.6931, -0.7, -1.38, -1.39, -2.0]]),
    "dawsn": (refs_dawsn, np.r_[np.linspace(-20, 20, 41), [0.0, 0.1, 6.99, 7.01, -7.0, 1e3, 1e8, -1e150, 1e300],
                               [4.2, 4.29, 4.31, 4.35, 4.5, -4.7, 4.9]]),  # float32 switches series at 4.3
}


def _errors(values, refs):
    errors = [abs(mp.mpf(float(v)) - r) / max(1, abs(r)) for v, r in zip(values, refs) if mp.isfinite(r)]
    return max(errors), [float(v) for v, r in zip(values, refs) if not mp.isfinite(r)]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", list(CASES))
def test_values_and_two_derivatives_match_mpmath(name, dtype):
    references, points = CASES[name]
    with np.errstate(over="ignore"):
        x = points.astype(dtype)
    x = x[np.isfinite(x) & ((x == points) | ~np.isin(x, [0.0, 1.0, 2.0]))]  # no point rounded onto an end
    refs = [references(mp.mpf(float(v))) for v in x]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # overflow to inf where the result overflows
        got = eg.compile(f"{name}(x)", orders=(0, 1, 2), device="cpu")(x)
    big = np.finfo(dtype).max
    for k in range(3):
        assert got[k].dtype == dtype
        for v, r in zip(got[k], refs):
            r = r[k]
            if abs(r) > big:  # overflows the dtype: inf of the right sign
                assert v == np.inf * mp.sign(r), (name, k)
                continue
            error = float(abs(mp.mpf(float(v)) - r) / max(1, abs(r)))
            assert error <= TOLERANCE[dtype], (name, dtype, k, float(r), float(v), error)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_the_tails_the_issue_names(dtype):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        log_ndtr = eg.compile("log_ndtr(x)", orders=0, device="cpu")(np.array([-40.0, -1e5], dtype))
        erfcx = eg.compile("erfcx(x)", orders=0, device="cpu")(np.array([30.0], dtype))
        erfcinv = eg.compile("erfcinv(x)", orders=0, device="cpu")(np.array([1e-10], dtype))
    tolerance = 1e-15 if dtype == "float64" else 1e-6
    assert abs(log_ndtr[0] / float(mp.log(mp.ncdf(-40))) - 1) < tolerance
    assert abs(log_ndtr[1] / float(mp.log(mp.ncdf(-100000))) - 1) < tolerance
    assert abs(erfcx[0] / float(erfcx_ref(mp.mpf(30))) - 1) < tolerance
    assert abs(erfcinv[0] / float(erfcinv_ref(mp.mpf(float(np.asarray(1e-10, dtype))))) - 1) < tolerance


def owens_t_ref(h, a):
    return mp.quad(lambda t: mp.exp(-h * h * (1 + t * t) / 2) / (1 + t * t), [0, a]) / (2 * mp.pi)


def owens_t_partials(h, a):
    """dT/dh and dT/da, the closed forms, as functions of mpf (h, a)."""
    dh = -mp.exp(-h * h / 2) * mp.erf(a * h / mp.sqrt(2)) / (2 * mp.sqrt(2 * mp.pi))
    da = mp.exp(-h * h * (1 + a * a) / 2) / (2 * mp.pi * (1 + a * a))
    return dh, da


OWENS_POINTS = [(0.0, 0.5), (0.3, 0.2), (1.0, 1.0), (-1.5, 0.9), (2.0, -3.0), (0.5, 10.0), (6.0, 0.99),
                (12.0, 0.5), (3.0, 1.01), (0.01, 100.0), (9.0, 2.0)]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_owens_t_and_its_partials_to_order_two(dtype):
    derivatives = [(), ("h",), ("a",), ("h", "h"), ("h", "a"), ("a", "a")]
    fn = eg.compile(lambda h, a: eg.owens_t(h, a), derivatives=derivatives, device="cpu")
    h, a = (np.array(column, dtype) for column in zip(*OWENS_POINTS))
    got = fn(h, a)
    for j, (hj, aj) in enumerate(zip(h, a)):
        hm, am = mp.mpf(float(hj)), mp.mpf(float(aj))
        dh, da = owens_t_partials(hm, am)
        refs = [owens_t_ref(hm, am), dh, da,
                mp.diff(lambda u: owens_t_partials(u, am)[0], hm), mp.diff(lambda u: owens_t_partials(hm, u)[0], am),
                mp.diff(lambda u: owens_t_partials(hm, u)[1], am)]
        for k, r in enumerate(refs):
            error = float(abs(mp.mpf(float(got[k][j])) - r) / max(1, abs(r)))
            assert error <= TOLERANCE[dtype], (derivatives[k], float(hj), float(aj), float(r), got[k][j])


def test_owens_t_partials_are_those_of_its_integral():
    """The closed forms the pullback uses are the partials of T's integral (checked by mpmath.diff)."""
    for h, a in [(0.7, 0.4), (1.3, 2.5), (0.2, -1.7)]:
        h, a = mp.mpf(h), mp.mpf(a)
        dh, da = owens_t_partials(h, a)
        assert abs(mp.diff(lambda u: owens_t_ref(u, a), h) - dh) < mp.mpf(1e-30)
        assert abs(mp.diff(lambda u: owens_t_ref(h, u), a) - da) < mp.mpf(1e-30)


@pytest.mark.parametrize("name", list(CASES) + ["owens_t"])
def test_order_three_runs_and_is_right(name):
    if name == "owens_t":
        x = np.array([0.4, 1.3])
        got = eg.compile("owens_t(x, 0.6)", orders=3, device="cpu")(x)
        refs = [mp.diff(lambda u: owens_t_partials(u, mp.mpf(0.6))[0], mp.mpf(v), 2) for v in x]
    else:
        x = {"erfcinv": np.array([0.3, 1.2]), "ndtri": np.array([0.2, 0.9]),
             "ndtri_exp": np.array([-3.0, -0.2])}.get(name, np.array([-2.0, 0.5, 3.0]))
        got = eg.compile(f"{name}(x)", orders=3, device="cpu")(x)
        refs = [mp.diff(lambda u: CASES[name][0](u)[2], mp.mpf(v)) for v in x]
    for v, r in zip(got, refs):
        assert abs(v - float(r)) <= 1e-9 * max(1, abs(float(r))), (name, v, float(r))


SCIPY_EDGES = {
    "erfcx": [-np.inf, np.inf, np.nan, -30.0],
    "ndtr": [-np.inf, np.inf, np.nan],
    "log_ndtr": [-np.inf, np.inf, np.nan],
    "erfcinv": [0.0, 2.0, -0.1, 2.1, np.inf, np.nan],
    "ndtri": [0.0, 1.0, -0.1, 1.1, np.nan],
    "ndtri_exp": [0.0, 0.5, -np.inf, np.inf, np.nan],
    "dawsn": [-np.inf, np.inf, np.nan, 0.0],
}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", list(SCIPY_EDGES))
def test_nan_and_inf_as_scipy(name, dtype):
    x = np.array(SCIPY_EDGES[name], dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        got = eg.compile(f"{name}(x)", orders=0, device="cpu")(x)
        expected = getattr(sc, name)(x)
    np.testing.assert_array_equal(got, expected.astype(dtype))


def test_owens_t_nan_and_inf_as_scipy():
    h = np.array([0.0, 1.0, 1.0, np.inf, -np.inf, np.nan, 1.0, 2.0])
    a = np.array([np.inf, np.inf, -np.inf, 2.0, 0.5, 1.0, np.nan, 0.0])
    got = eg.compile("owens_t(h, a)", orders=0, wrt="h", device="cpu")(h, a)
    np.testing.assert_allclose(got, sc.owens_t(h, a), rtol=1e-15, atol=0)


class _OwnHeaderOp(UnaryScalarOp):
    """An op whose C code includes a header from its own directory (as PyTensor's Erfcx does)."""

    def __init__(self, directory, **kwargs):
        super().__init__(upgrade_to_float, **kwargs)
        self.directory = directory

    def impl(self, x):
        return 2 * x

    def c_header_dirs(self, **kwargs):
        return [self.directory]

    def c_support_code(self, **kwargs):
        return '#include "own_twice.h"'

    def c_code(self, node, name, inputs, outputs, sub):
        return f"{outputs[0]} = own_twice({inputs[0]});"

    def pullback(self, inputs, outputs, output_gradients):
        return [2 * output_gradients[0]]


def test_an_op_needing_its_own_header_directory_is_refused_clearly(tmp_path):
    (tmp_path / "own_twice.h").write_text("static double own_twice(double x) { return 2 * x; }\n")
    twice = Elemwise(_OwnHeaderOp(str(tmp_path), name="own_twice"))
    fn = eg.compile(lambda x: twice(x), orders=(0, 1), device="cpu")
    with pytest.raises(ExpressionError, match="own_twice.*header directories"):
        fn(np.array([1.0]))


@pytest.mark.parametrize("build, ours, args", [
    (lambda x: pt.erfcx(x), sc.erfcx, [np.array([-3.0, 0.5, 30.0])]),
    (lambda x: pt.erfcinv(x), sc.erfcinv, [np.array([1e-10, 0.5, 1.9])]),
    (lambda x, a: pt.owens_t(x, a), sc.owens_t, [np.array([0.3, 2.0]), np.array([0.5, 4.0])]),
])
def test_pytensors_own_ops_compile_unchanged(build, ours, args):
    value, slope = eg.compile(build, orders=(0, 1), device="cpu")(*args)
    np.testing.assert_allclose(value, ours(*args), rtol=1e-14)
    step = 1e-6 * np.abs(args[0])  # relative: erfcinv at 1e-10
    numeric = (ours(args[0] + step, *args[1:]) - ours(args[0] - step, *args[1:])) / (2 * step)
    np.testing.assert_allclose(slope, numeric, rtol=1e-6)


def test_callables_use_eg_names_and_the_erf_inv_alias():
    x = np.array([0.1, 0.6])
    got = eg.compile(lambda x: eg.ndtr(x) + eg.dawsn(x) + eg.ndtri(eg.ndtr(x)), orders=(0, 1), device="cpu")(x)
    np.testing.assert_allclose(got[0], sc.ndtr(x) + sc.dawsn(x) + x, rtol=1e-14)
    np.testing.assert_allclose(eg.compile("erf_inv(x)", orders=0, device="cpu")(x), sc.erfinv(x), rtol=1e-15)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("text", ["erfcx(x)", "erfcinv(x)", "ndtr(x)", "log_ndtr(x)", "ndtri(x)", "ndtri_exp(x)",
                                  "dawsn(x)", "owens_t(x, y)"])
def test_cuda_source_compiles_with_nvrtc(compile_ptx, text, dtype):
    source = eg.compile(text, orders=(0, 1, 2), wrt="x").source("cuda", dtype=dtype)
    for arch in ("sm_80", "sm_90"):
        assert compile_ptx(source, arch)

"""elemgrad_gpu.graph.hypergeometric: the exponential, trigonometric and Fresnel integrals and
Hurwitz zeta against mpmath at 40 digits, as C code and through ``eg.compile``.

Errors are |got - ref| / max(1, |ref|): at most 1e-12 in float64 and 1e-5 in float32 (2e-5
for zeta's derivatives in float32), for orders 0 to 2 in every argument; order 3 through
Taylor mode. Poles, infinities and NaN are as SciPy's.
"""
import warnings

import mpmath as mp
import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
import scipy.special
from pytensor.compile.mode import Mode

import elemgrad_gpu as eg
from elemgrad_gpu.graph import hypergeometric as hg

mp.mp.dps = 40
TOLERANCE = {"float64": 1e-12, "float32": 1e-5}
C_MODE = Mode(linker="cvm", optimizer="fast_run")
WIDE = [-37.5, -12.0, -3.3, -1.6, -0.4, -1e-3, 1e-8, 1e-3, 0.3725, 0.9, 1.5, 2.0, 2.7, 4.0, 9.5, 20.0, 36.0, 41.0,
        80.0]
POSITIVE = [1e-8, 1e-3, 0.2, 0.999, 1.0, 1.001, 2.5, 7.0, 20.0, 60.0, 300.0]
# name -> (builder of x, mpmath reference, points)
ONE_ARGUMENT = {
    "expi": (hg.expi, mp.ei, WIDE),
    "exp1": (hg.exp1, mp.e1, POSITIVE),
    "expn0": (lambda x: hg.expn(0, x), lambda x: mp.expint(0, x), POSITIVE),
    "expn2": (lambda x: hg.expn(2, x), lambda x: mp.expint(2, x), POSITIVE),
    "expn7": (lambda x: hg.expn(7, x), lambda x: mp.expint(7, x), POSITIVE),
    "si": (hg.si, mp.si, WIDE + [1e4, -2e5]),
    "ci": (hg.ci, mp.ci, POSITIVE + [1e4, -3.3, -0.2]),
    "fresnel_s": (hg.fresnel_s, mp.fresnels, WIDE + [1e3 + 0.1, -3e4 - 0.7]),
    "fresnel_c": (hg.fresnel_c, mp.fresnelc, WIDE + [1e3 + 0.1, -3e4 - 0.7]),
}


def mp_ci(x):
    return mp.ci(abs(x))  # SciPy's (real) Ci(x < 0) is Ci(|x|)


def reference(function, order: int, x: float):
    if function is mp.ci:
        function = mp_ci
    return mp.diff(function, mp.mpf(x), order) if order else function(mp.mpf(x))


def scaled_errors(got, refs, dtype) -> list[float]:
    """|got - ref| / max(1, |ref|); a reference past the dtype's range must come out as +-inf."""
    errors = []
    for g, r in zip(got, refs):
        if abs(r) > np.finfo(dtype).max:
            assert np.isinf(g) and (g > 0) == (r > 0), (g, r)
            continue
        errors.append(float(abs(mp.mpf(float(g)) - r) / max(1, abs(r))))
    return errors


def c_function(inputs, outputs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pytensor.function(inputs, outputs, mode=C_MODE)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", list(ONE_ARGUMENT))
def test_integrals_orders_0_to_2_match_mpmath(name, dtype):
    build, function, points = ONE_ARGUMENT[name]
    x = pt.vector("x", dtype=dtype)
    y = build(x)
    d1 = pytensor.grad(y.sum(), x)
    d2 = pytensor.grad(d1.sum(), x)
    values = np.array(points, dtype=dtype)
    for order, got in enumerate(c_function([x], [y, d1, d2])(values)):
        assert got.dtype == dtype
        refs = [reference(function, order, float(v)) for v in values]
        assert max(scaled_errors(got, refs, dtype)) < TOLERANCE[dtype], (name, order)


ZETA_POINTS = [(s, q) for s in (1.001, 1.1, 1.5, 2.0, 3.7, 10.0, 30.0, 60.0) for q in (1e-3, 0.1, 0.5, 1.0, 2.5, 10.0,
                                                                                       100.0, 1e4)]
ZETA_INDICES = [(0, 0), (1, 0), (0, 1), (2, 0), (1, 1), (0, 2)]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_zeta_orders_0_to_2_in_x_and_q_match_mpmath(dtype):
    x, q = pt.vector("x", dtype=dtype), pt.vector("q", dtype=dtype)
    z = hg.zeta(x, q)
    dx, dq = pytensor.grad(z.sum(), [x, q])
    outputs = [z, dx, dq, pytensor.grad(dx.sum(), x), pytensor.grad(dx.sum(), q), pytensor.grad(dq.sum(), q)]
    s, a = (np.array(column, dtype=dtype) for column in zip(*ZETA_POINTS))
    tolerance = {"float64": 1e-12, "float32": 2e-5}[dtype]
    for (i, j), got in zip(ZETA_INDICES, c_function([x, q], outputs)(s, a)):
        refs = [mp.diff(mp.zeta, (mp.mpf(float(u)), mp.mpf(float(v))), (i, j)) for u, v in zip(s, a)]
        assert max(scaled_errors(got, refs, dtype)) < tolerance, (i, j)


def test_zeta_truncation_bound_documented_in_the_op():
    """The first omitted Euler-Maclaurin term (j = 15) is below 2e-17 of zeta on 1 < x <= 60, 0 < q <= 1e4."""
    worst = 0
    for s, q in ZETA_POINTS:
        s, q = mp.mpf(s), mp.mpf(q)
        a = q + max(0, int(mp.ceil(max(9, (s + 26) / mp.pi) - q)))
        term = mp.bernoulli(30) / mp.factorial(30) * mp.rf(s, 29) * a ** (-s - 29)
        worst = max(worst, abs(term) / mp.zeta(s, q))
    assert worst < 2e-17


def test_poles_infinities_and_nan_as_scipy():
    x = np.array([0.0, -0.0, -1.0, -1e-300, 1e-300, 700.0, np.inf, -np.inf, np.nan])
    expected = {
        "expi": scipy.special.expi(x), "exp1": scipy.special.exp1(x),
        "si": scipy.special.sici(x)[0], "ci": scipy.special.sici(x)[1],
        "fresnel_s": scipy.special.fresnel(x)[0], "fresnel_c": scipy.special.fresnel(x)[1],
        **{f"expn{n}": scipy.special.expn(n, x) for n in (0, 1, 2, 5)},
    }
    v = pt.dvector("v")
    builds = [hg.expi, hg.exp1, hg.si, hg.ci, hg.fresnel_s, hg.fresnel_c] + [
        (lambda n: lambda t: hg.expn(n, t))(n) for n in (0, 1, 2, 5)]
    with np.errstate(all="ignore"):
        got = c_function([v], [b(v) for b in builds])(x)
    for (name, want), value in zip(expected.items(), got):
        np.testing.assert_allclose(value, want, rtol=1e-14, err_msg=name)
    with np.errstate(all="ignore"):  # Ei(710) = 3.15e305: finite (SciPy overflows from 709.8 on)
        ei = c_function([v], hg.expi(v))(np.array([710.0, 716.0, 717.0]))
    assert max(scaled_errors(ei[:2], [mp.ei(710), mp.ei(716)], "float64")) < 1e-15 and ei[2] == np.inf
    s = np.array([1.0, 0.5, 2.0, 2.0, 2.5, 2.0, np.inf, np.inf, np.inf, 2.0, 2.0, np.nan, 3.0, 2.0])
    q = np.array([1.0, 1.0, 0.0, -1.0, -1.5, -1.5, 2.0, 1.0, 0.5, 1e300, np.inf, 1.0, -2.5, -0.0])
    a, b = pt.dvectors("a", "b")
    np.testing.assert_allclose(c_function([a, b], hg.zeta(a, b))(s, q), scipy.special.zeta(s, q), rtol=1e-14)


def test_si_is_exact_at_its_removable_singularity():
    x = pt.dvector("x")
    y = hg.si(x)
    grads = [y]
    for _ in range(4):
        grads.append(pytensor.grad(grads[-1].sum(), x))
    got = c_function([x], grads)(np.array([0.0, 1e-9, -1e-5]))
    np.testing.assert_array_equal(got[0][0], 0.0)
    np.testing.assert_allclose([g[0] for g in got[1:]], [1.0, 0.0, -1 / 3, 0.0], atol=1e-16)
    for order, g in enumerate(got[1:], start=1):
        refs = [mp.diff(mp.si, mp.mpf(v), order) for v in (1e-9, -1e-5)]
        assert max(scaled_errors(g[1:], refs, "float64")) < 1e-15


@pytest.mark.parametrize("text, function, points", [
    ("expi(x)", mp.ei, [-3.0, 0.5, 6.0]), ("expn(3, x)", lambda t: mp.expint(3, t), [0.3, 1.5, 9.0]),
    ("si(x)", mp.si, [-2.5, 1e-3, 4.0]), ("fresnel_c(x)", mp.fresnelc, [-1.7, 0.4, 3.1]),
    ("zeta(3.5, x)", lambda t: mp.zeta(3.5, t), [0.3, 2.0, 11.0]),
])
def test_strings_orders_0_to_3_float64_and_float32(text, function, points):
    fn = eg.compile(text, orders=(0, 1, 2, 3), device="cpu")
    assert "Taylor mode" in fn.expressions[3]
    for dtype in ("float64", "float32"):
        values = np.array(points, dtype=dtype)
        for order, got in enumerate(fn(values)):
            assert got.dtype == dtype
            refs = [reference(function, order, float(v)) for v in values]
            assert max(scaled_errors(got, refs, dtype)) < TOLERANCE[dtype], (text, order, dtype)


def test_zeta_in_x_and_mixed_partials_through_compile():
    fn = eg.compile("zeta(x, q)", derivatives=[(), ("x",), ("q",), ("x", "x"), ("x", "q"), ("x", "x", "x")],
                    device="cpu")
    s, q = np.array([1.5, 4.0]), np.array([0.7, 3.0])
    got = fn(s, q)
    for index, value in zip([(0, 0), (1, 0), (0, 1), (2, 0), (1, 1), (3, 0)], got):
        refs = [mp.diff(mp.zeta, (mp.mpf(u), mp.mpf(v)), index) for u, v in zip(s, q)]
        assert max(scaled_errors(value, refs, "float64")) < 1e-12, index


def test_callables_use_eg_names():
    fn = eg.compile(lambda x: eg.si(x) * eg.expn(2, x) + eg.fresnel_s(x) - eg.zeta(2.0, x), orders=(0, 1), device="cpu")
    x = np.array([0.4, 2.2])
    value, slope = fn(x)
    want = [mp.si(v) * mp.expint(2, v) + mp.fresnels(v) - mp.zeta(2, v) for v in x]
    np.testing.assert_allclose(value, [float(w) for w in want], rtol=1e-13)
    want = [mp.diff(lambda t: mp.si(t) * mp.expint(2, t) + mp.fresnels(t) - mp.zeta(2, t), v) for v in x]
    np.testing.assert_allclose(slope, [float(w) for w in want], rtol=1e-13)


@pytest.mark.parametrize("text, match", [
    ("expn(2.5, x)", "expn's argument 1 must be a non-negative integer literal"),
    ("expn(101, x)", "expn's order n must be an integer in \\[0, 100\\]"),
    ("expn(x, x)", "expn's argument 1 must be a non-negative integer literal"),
])
def test_expn_order_must_be_a_small_integer_literal(text, match):
    with pytest.raises(eg.ExpressionError, match=match):
        eg.compile(text, orders=(0,), device="cpu").expressions


def test_zeta_refuses_x_derivatives_past_the_c_codes_order():
    with pytest.raises(eg.ExpressionError, match="at most 6 times in x"):
        hg.scalar_zeta(7)


def test_float32_c_code_has_no_double():
    import re

    source = eg.compile("expi(x) + si(x) + fresnel_s(x) + zeta(2.0, x) + expn(2, x)", orders=(0, 1, 2)).source(
        "cuda", dtype="float32")
    body = source.split("eg_element(const eg_real *v, eg_real *r)")[1].split("extern \"C\"")[0]
    assert "double" not in body and not re.findall(r"(?<![\w.])\d+\.\d*(?![\w.f])", body)
    header = hg.HEADER.read_text()
    body = header.split("#define EG_DEFINE_HYPERGEOMETRIC")[1].split("EG_DEFINE_HYPERGEOMETRIC(double")[0]
    body = re.sub(r"L\(-?[\d.]+(e[-+]?\d+)?\)", "L()", body)  # literals through L() get the float suffix
    assert not re.findall(r"\d\.\d*|\bdouble\b", body)


# hyp1f1 and hyp2f1: every partial of orders 0 to 2 in every argument, on two documented domains each:
# "positive" where every term of the summed series is positive (full accuracy), "signed" where the
# first terms change sign (a < 0 for hyp1f1; |x| <= 1/2 for hyp2f1 with any signs).
def _hyp1f1_points(domain: str) -> np.ndarray:
    rng = np.random.default_rng(5)
    if domain == "positive":  # a >= 0, x >= 0; or a <= b, x < 0 (Kummer: b - a >= 0)
        a, b, x = rng.uniform(0, 10, 12), rng.uniform(0.1, 10, 12), rng.uniform(-30, 30, 12)
        a = np.where(x < 0, np.minimum(a, b), a)
        return np.vstack([np.column_stack([a, b, x]), [[1, 2, -30], [0.5, 0.5, -30], [2, 3, 0.0], [10, 0.1, 30]]])
    a, b, x = rng.uniform(-5, 0, 8), rng.uniform(0.5, 10, 8), rng.uniform(0, 10, 8)  # a in [-5, 0), x in [0, 10]
    signed = np.vstack([np.column_stack([a, b, x]), np.column_stack([b[:6] + rng.uniform(0, 5, 6), b[:6], -x[:6]])])
    return np.vstack([signed, [[-5, 11 / 3, 10], [-5, 0.5, 20 / 3]]])  # the worst corners of the box


def _hyp2f1_points(domain: str) -> np.ndarray:
    rng = np.random.default_rng(6)
    if domain == "positive":  # a, b >= 0 for 0 <= x < 1; b <= c for x < 0 (Pfaff: c - b >= 0)
        a, b, c, x = rng.uniform(0, 5, 12), rng.uniform(0, 5, 12), rng.uniform(0.5, 8, 12), rng.uniform(-20, 0.9, 12)
        b = np.where(x < 0, np.minimum(b, c), b)
        return np.vstack([np.column_stack([a, b, c, x]), [[1, 1, 2, 0.9], [1, 1, 2, -20], [5, 5, 0.5, 0.9]]])
    signed = np.column_stack([rng.uniform(-5, 5, 14), rng.uniform(-5, 5, 14), rng.uniform(0.5, 8, 14),
                              rng.uniform(-0.5, 0.5, 14)])
    return np.vstack([signed, [[5, -5, 0.5, 0.5]]])  # 800 * 2F1(7, -3; 2.5; 0.5), a polynomial near its root


# float32 where terms of both signs cancel (documented in docs/EXPRESSIONS.md): hyp1f1 loses up to 1.2e-5
# at a = -5, x = 10; hyp2f1's x-derivatives, large factors times a near-root polynomial, 3e-4
SIGNED_FLOAT32 = {"hyp1f1": 2e-5, "hyp2f1": 5e-4}


def _mp_hyp2f1(a, b, c, x):
    return mp.hyp2f1(a, b, c, x, zeroprec=300)  # exact zeros of the polynomial cases


HYPERGEOMETRIC = {"hyp1f1": (hg.hyp1f1, mp.hyp1f1, _hyp1f1_points), "hyp2f1": (hg.hyp2f1, _mp_hyp2f1, _hyp2f1_points)}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("domain", ["positive", "signed"])
@pytest.mark.parametrize("name", list(HYPERGEOMETRIC))
def test_hypergeometric_every_partial_to_order_2_matches_mpmath(name, domain, dtype):
    build, function, points = HYPERGEOMETRIC[name]
    table = points(domain).astype(dtype)
    inputs = [pt.vector(f"v{i}", dtype=dtype) for i in range(table.shape[1])]
    y = build(*inputs)
    first = pytensor.grad(y.sum(), inputs)
    indices = [()] + [(i,) for i in range(len(inputs))]
    outputs = [y] + first
    for i in range(len(inputs)):
        for j in range(i, len(inputs)):
            indices.append((i, j))
            outputs.append(pytensor.grad(first[i].sum(), inputs[j]))
    results = c_function(inputs, outputs)(*table.T)
    for index, got in zip(indices, results):
        assert got.dtype == dtype
        refs = []
        for row in table:
            args = [mp.mpf(float(v)) for v in row]
            refs.append(mp.diff(function, args, [index.count(i) for i in range(len(args))]) if index
                        else function(*args))
        tolerance = SIGNED_FLOAT32[name] if (domain, dtype) == ("signed", "float32") else TOLERANCE[dtype]
        assert max(scaled_errors(got, refs, dtype)) < tolerance, (name, domain, index)


def test_hyp1f1_outside_the_signed_domain_loses_what_its_largest_term_says():
    """a = -10, x = 27: terms up to ~1e4 cancel to ~100: float64 keeps 1e-11, float32 about 1e-2 (documented)."""
    a, b, x = pt.dscalars("a", "b", "x")
    got = c_function([a, b, x], hg.hyp1f1(a, b, x))(-9.33, 3.45, 27.3)
    want = mp.hyp1f1(mp.mpf(-9.33), mp.mpf(3.45), mp.mpf(27.3))
    assert 1e-15 < scaled_errors([got], [want], "float64")[0] < 1e-10


def test_hypergeometric_poles_and_domain_edges():
    a, b, c, x = pt.dvectors("a", "b", "c", "x")
    one = c_function([a, b, x], hg.hyp1f1(a, b, x))(np.array([1.0, 1.0, np.nan, 1.0]), np.array([0.0, -2.0, 1.0, 1.0]),
                                                    np.array([1.0, 1.0, 1.0, 0.0]))
    np.testing.assert_array_equal(one, [np.inf, np.inf, np.nan, 1.0])  # SciPy: inf at b = 0, -1, ...
    two = c_function([a, b, c, x], hg.hyp2f1(a, b, c, x))(
        np.ones(5), np.ones(5), np.array([2.0, 0.0, 2.0, 2.0, 2.0]), np.array([0.0, 0.5, 1.0, 1.5, np.nan]))
    np.testing.assert_array_equal(two, [1.0, np.inf, np.nan, np.nan, np.nan])  # x >= 1 is outside: NaN


def test_pytensor_hyp2f1_in_a_user_graph_compiles_and_differentiates():
    """pt.hyp2f1's gradient is a ScalarLoop (Grad2F1Loop) that does not fuse: ours replaces it."""
    fn = eg.compile(lambda a, x: pt.hyp2f1(a, 1.5, 2.5, x),
                    derivatives=[(), ("x",), ("a",), ("a", "x"), ("x", "x"), ("x", "x", "x")], device="cpu")
    a, x = np.array([0.3, 1.2, -0.7]), np.array([0.2, -0.4, -3.0])
    got = fn(a, x)
    for index, value in zip([(0, 0), (0, 1), (1, 0), (1, 1), (0, 2), (0, 3)], got):
        refs = [mp.diff(lambda u, t: mp.hyp2f1(u, 1.5, 2.5, t), (mp.mpf(p), mp.mpf(q)), index) for p, q in zip(a, x)]
        assert max(scaled_errors(value, refs, "float64")) < 1e-12, index


def test_hypergeometric_strings_and_callables_to_order_3():
    fn = eg.compile("hyp1f1(0.5, 1.5, x) + hyp2f1(1, 1, 2, x)", orders=(0, 1, 2, 3), device="cpu")
    assert "Taylor mode" in fn.expressions[3]
    function = lambda t: mp.hyp1f1(0.5, 1.5, t) + mp.hyp2f1(1, 1, 2, t)  # noqa: E731
    for dtype in ("float64", "float32"):
        x = np.array([-0.5, 0.3, 0.8], dtype=dtype)
        for order, got in enumerate(fn(x)):
            refs = [reference(function, order, float(v)) for v in x]
            assert max(scaled_errors(got, refs, dtype)) < TOLERANCE[dtype], (order, dtype)
    fn = eg.compile(lambda a, x: eg.hyp1f1(a, 2.0, x), derivatives=[("a", "a"), ("a", "x")], device="cpu")
    got = fn(np.array([0.7]), np.array([1.3]))
    for index, value in zip([(2, 0), (1, 1)], got):
        assert abs(value[0] - mp.diff(lambda u, t: mp.hyp1f1(u, 2, t), (0.7, 1.3), index)) < 1e-13


def test_parameter_derivatives_past_order_6_are_refused():
    with pytest.raises(eg.ExpressionError, match="hyp1f1\\(a, b, x\\) is differentiated at most 6 times"):
        hg.scalar_hyp1f1(4, 3)
    with pytest.raises(eg.ExpressionError, match="hyp2f1\\(a, b, c, x\\) is differentiated at most 6 times"):
        hg.scalar_hyp2f1(3, 2, 2)


@pytest.mark.parametrize("dtype, arch", [("float32", "sm_80"), ("float64", "sm_90")])
def test_parameter_derivative_kernels_compile_with_nvrtc(compile_ptx, dtype, arch):
    """The CUDA source of every op family (parameter derivatives included) compiles (one arch per dtype: NVRTC
    takes a while on this source; tests/cases.py's cases compile each family for both)."""
    text = "zeta(x, q) + hyp1f1(a, q, x) + hyp2f1(a, q, q + 1, x) + expn(3, x) + ci(x) + fresnel_c(x) + expi(x)"
    derivatives = [(), ("a",), ("q",), ("x", "q")]  # each op family and a parameter derivative of each
    source = eg.compile(text, derivatives=derivatives).source("cuda", dtype=dtype)
    assert ".entry eg_contiguous" in compile_ptx(source, arch)

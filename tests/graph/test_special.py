"""elemgrad_gpu.graph.special: C-compiled polygamma, erfinv and hypot against mpmath and scipy.

Errors are |got - ref| / max(1, |ref|) against mpmath at 50 digits: at most 1e-12 in
float64 and 1e-5 in float32. Every function here runs through PyTensor's C linker.
"""
import warnings
from functools import cache

import mpmath as mp
import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
import scipy.special
from elemgrad_gpu.compat import Function
from pytensor.compile.mode import Mode
from pytensor.graph.basic import Variable
from pytensor.graph.traversal import ancestors, apply_ancestors
from pytensor.link.vm import VMLinker
from pytensor.scalar import Composite
from pytensor.scalar.math import Erfinv as PyTensorErfinv
from pytensor.scalar.math import PolyGamma as PyTensorPolyGamma
from pytensor.scalar.math import Psi, TriGamma
from pytensor.tensor.elemwise import Elemwise

import elemgrad_gpu as eg
from elemgrad_gpu.graph import special
from elemgrad_gpu.graph.special import (
    ErfInv, Hypot, PolyGamma, digamma, erfinv, hypot, polygamma, use_accurate_special_functions,
)

mp.mp.dps = 50
TOLERANCE = {"float64": 1e-12, "float32": 1e-5}
DTYPES = ("float64", "float32")
ORDERS = (0, 1, 2, 3, 4, 5)
C_MODE = Mode(linker="cvm", optimizer="fast_run")

POLYGAMMA_POINTS = np.concatenate([
    np.random.default_rng(0).uniform(0.01, 40.0, 25),
    np.random.default_rng(1).uniform(-40.0, 0.0, 25),
    [1.4616321449683622, 0.5, 1.0, 2.0, 8.5, 1e3, 1e10, 1e100, 1e300],  # digamma's root, large
    [1e-300, 2.5e-308, 1e-12, 1e-5, 0.1],  # tiny
    [-0.5040830082644554, -2.5, -12.76330052732881, -1e5 - 0.5, -1e10 + 0.25, -2.0**40 + 0.75],
    [-1 + 1e-10, -1 - 1e-10, -2 - 1e-9, -3 + 1e-6, -1e-300, -1e-8],  # near poles
])
ERFINV_POINTS = np.concatenate([
    np.random.default_rng(2).uniform(-1.0, 1.0, 40),
    1 - 10.0 ** -np.arange(1, 17), -(1 - 10.0 ** -np.arange(1, 17)), [1 - 2.0**-53, -1 + 2.0**-53],
    [0.0, 5e-324, 1e-300, 1e-20, 1e-8, -1e-3, 0.5, np.nextafter(0.5, 1), np.nextafter(0.5, 0), 0.9, -0.99],
])
HYPOT_POINTS = np.array([
    [3.0, 4.0], [-1.5, 0.25], [1e300, 1e300], [-3e-300, 4e-300], [1e-20, 1.0], [0.0, -2.5], [7.0, 0.0],
    [1e30, -1e-30], [0.1, 0.2],
])


def psi_ref(n: int, x: float) -> mp.mpf:
    """polygamma(n, x) by mpmath; for x < -10 by reflection (mpmath is slow there)."""
    x = mp.mpf(x)
    if x >= -10:
        return mp.psi(n, x)
    return (-1) ** n * mp.psi(n, 1 - x) - mp.diff(lambda t: mp.pi * mp.cot(mp.pi * t), x, n)


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


def special_scalar_ops(node) -> list:
    """Our scalar ops that ``node`` (an Elemwise, maybe of a Composite) computes."""
    if not isinstance(node.op, Elemwise):
        return []
    scalar = node.op.scalar_op
    ops = [n.op for n in scalar.fgraph.toposort()] if isinstance(scalar, Composite) else [scalar]
    return [op for op in ops if isinstance(op, PolyGamma | ErfInv | Hypot)]


def compile_c(inputs: list, outputs: list) -> Function:
    """Compile with the C VM linker and check that our ops run as compiled C code."""
    fn = pytensor.function(inputs, outputs, mode=C_MODE)
    assert pytensor.config.cxx, "a C compiler is needed: these tests compile the C code"
    assert isinstance(fn.maker.linker, VMLinker) and fn.maker.linker.use_cloop
    special = [(node, thunk) for node, thunk in zip(fn.vm.nodes, fn.vm.thunks) if special_scalar_ops(node)]
    assert special, "no node of ours left in the compiled graph"
    for node, thunk in special:
        assert all(hasattr(op, "c_code") for op in special_scalar_ops(node))
        assert hasattr(thunk, "cthunk"), f"{node} did not run as C code"
    return fn


@cache
def values_fn(dtype: str):
    """C function of (x, y, a, b) -> polygamma(n, x) for n in ORDERS, erfinv(y), hypot(a, b)."""
    x, y, a, b = (pt.vector(name, dtype=dtype) for name in "xyab")
    return compile_c([x, y, a, b], [polygamma(n, x) for n in ORDERS] + [erfinv(y), hypot(a, b)])


def run_values(dtype: str, x=(1.0,), y=(0.5,), a=(1.0,), b=(1.0,)) -> list[np.ndarray]:
    return values_fn(dtype)(*(np.asarray(v, dtype=dtype) for v in (x, y, a, b)))


@pytest.mark.parametrize("dtype", DTYPES)
def test_polygamma_matches_mpmath(dtype):
    with np.errstate(over="ignore"):
        x = POLYGAMMA_POINTS.astype(dtype)
    x = x[np.isfinite(x) & ~((x <= 0) & (x == np.floor(x)))]  # float32 rounds some to poles
    results = run_values(dtype, x=x)
    for n, got in zip(ORDERS, results):
        error = max_error(got, [psi_ref(n, float(v)) for v in x], dtype)
        assert error < TOLERANCE[dtype], (n, error)


@pytest.mark.parametrize("dtype", DTYPES)
def test_erfinv_matches_mpmath(dtype):
    y = ERFINV_POINTS.astype(dtype)
    y = y[np.abs(y) < 1]
    got = run_values(dtype, y=y)[len(ORDERS)]
    assert max_error(got, [mp.erfinv(mp.mpf(float(v))) for v in y], dtype) < TOLERANCE[dtype]


@pytest.mark.parametrize("dtype", DTYPES)
def test_hypot_matches_mpmath_without_overflow(dtype):
    with np.errstate(over="ignore"):
        a, b = HYPOT_POINTS.astype(dtype).T
    got = run_values(dtype, a=a, b=b)[-1]
    refs = [mp.sqrt(mp.mpf(float(u)) ** 2 + mp.mpf(float(v)) ** 2) for u, v in zip(a, b)]
    assert max_error(got, refs, dtype) < TOLERANCE[dtype]


@pytest.mark.parametrize("dtype", DTYPES)
def test_poles_infinities_and_nan_as_scipy(dtype):
    x = np.array([0.0, -0.0, -1.0, -2.0, -1e17, np.inf, -np.inf, np.nan], dtype=dtype)
    y = np.array([1.0, -1.0, 1.5, -1.5, np.inf, np.nan, 0.0, -0.0], dtype=dtype)
    a = np.array([np.inf, np.nan, -np.inf, 0.0], dtype=dtype)
    b = np.array([np.nan, 1.0, 2.0, 0.0], dtype=dtype)
    results = run_values(dtype, x=x, y=y, a=a, b=b)
    expected = [scipy.special.polygamma(n, x) for n in ORDERS] + [scipy.special.erfinv(y), np.hypot(a, b)]
    for got, want in zip(results, expected):
        np.testing.assert_array_equal(got, want.astype(dtype))


@cache
def derivatives_fn(dtype: str):
    """C function of x -> [d^k digamma(x), d^k gammaln(x) for k = 0..4] (gammaln made accurate)."""
    x = pt.vector("x", dtype=dtype)
    outputs = []
    for f in (digamma(x), pt.gammaln(x)):
        outputs.append(f)
        for _ in range(4):
            outputs.append(pytensor.grad(outputs[-1].sum(), x))
    outputs = use_accurate_special_functions(outputs)
    assert not any(
        isinstance(node.op, Elemwise) and isinstance(node.op.scalar_op, Psi | TriGamma | PyTensorPolyGamma)
        for node in apply_ancestors(outputs)
    )
    return compile_c([x], outputs)


@pytest.mark.parametrize("dtype", DTYPES)
def test_derivatives_to_order_4_match_mpmath(dtype):
    x = np.array([0.3, 1.4616321449683622, 2.5, 7.1, 25.0, 130.0, -0.5, -2.3, -7.7], dtype=dtype)
    results = derivatives_fn(dtype)(x)
    digamma_refs = [[psi_ref(k, float(v)) for v in x] for k in range(5)]
    gammaln_refs = [[mp.log(abs(mp.gamma(mp.mpf(float(v))))) for v in x]] + digamma_refs[:4]
    for k, (got, refs) in enumerate(zip(results, digamma_refs + gammaln_refs)):
        assert max_error(got, refs, dtype) < TOLERANCE[dtype], k


def test_float32_graphs_stay_float32():
    fn = derivatives_fn("float32")
    float64 = [v for v in ancestors(fn.maker.fgraph.outputs) if getattr(v.type, "dtype", None) == "float64"]
    assert not float64
    for node in fn.maker.fgraph.apply_nodes:
        for op in special_scalar_ops(node):
            assert node.outputs[0].dtype == "float32", op
    y = pt.fvector("y")
    grads = pytensor.grad(erfinv(y).sum() + hypot(y, 2 * y).sum(), y)
    assert grads.dtype == "float32"
    assert not [v for v in ancestors([grads]) if getattr(v.type, "dtype", None) == "float64"]


@pytest.mark.parametrize("dtype", DTYPES)
def test_erfinv_and_hypot_gradients(dtype):
    y, a, b = (pt.vector(name, dtype=dtype) for name in "yab")
    grads = [pytensor.grad(erfinv(y).sum(), y), *pytensor.grad(hypot(a, b).sum(), [a, b])]
    fn = compile_c([y, a, b], grads)
    values = ([-0.9, -0.2, 0.0, 0.6, 0.999], [3.0, -1.0, 0.5], [4.0, 2.0, -1e-3])
    yv, av, bv = (np.array(v, dtype=dtype) for v in values)
    dy, da, db = fn(yv, av, bv)
    assert max_error(dy, [mp.diff(mp.erfinv, mp.mpf(float(v))) for v in yv], dtype) < TOLERANCE[dtype]
    hyp = [mp.hypot(float(u), float(v)) for u, v in zip(av, bv)]
    assert max_error(da, [float(u) / h for u, h in zip(av, hyp)], dtype) < TOLERANCE[dtype]
    assert max_error(db, [float(v) / h for v, h in zip(bv, hyp)], dtype) < TOLERANCE[dtype]


def test_accepts_numbers_and_arrays_and_folds_constants_with_scipy():
    for out, want in [
        (digamma(0.5), scipy.special.psi(0.5)),
        (polygamma(np.int64(2), np.array([1.5, 3.0])), scipy.special.polygamma(2, [1.5, 3.0])),
        (polygamma(pt.constant(1), 2.5), scipy.special.polygamma(1, 2.5)),
        (erfinv(np.array([0.25])), scipy.special.erfinv([0.25])),
        (hypot(3, 4.0), 5.0),
    ]:
        assert isinstance(out, Variable)  # Python floats exact in float32 give float32, as in PyTensor
        np.testing.assert_allclose(out.eval(mode=C_MODE), want, rtol=TOLERANCE[out.dtype])
    assert PolyGamma(3).impl(2.5) == scipy.special.polygamma(3, 2.5)


BAD_ORDERS = [2.0, np.float64(1), True, -1, special.MAX_ORDER + 1, np.array([1, 2]), pt.iscalar("n"),
              pt.constant(1.5)]


@pytest.mark.parametrize("order", BAD_ORDERS)
def test_polygamma_order_must_be_a_constant_integer(order):
    with pytest.raises(ValueError, match="order"):
        polygamma(order, pt.dvector())


def test_use_accurate_special_functions_copies_and_replaces():
    x = pt.dvector("x")
    n = pt.iscalar("n")
    original = [pt.psi(pt.psi(x)) + pt.tri_gamma(x) + pt.erfinv(x / 2), pt.polygamma(3, x), pt.polygamma(n, x)]
    replaced = use_accurate_special_functions(original)
    ops = [node.op.scalar_op for node in apply_ancestors(replaced) if isinstance(node.op, Elemwise)]
    assert {op.n for op in ops if isinstance(op, PolyGamma)} == {0, 1, 3}
    assert any(isinstance(op, ErfInv) for op in ops)
    assert not any(isinstance(op, Psi | TriGamma | PyTensorErfinv) for op in ops)
    assert sum(isinstance(op, PyTensorPolyGamma) for op in ops) == 1  # the symbolic order stays
    assert any(isinstance(getattr(node.op, "scalar_op", None), Psi) for node in apply_ancestors(original[:1]))
    assert set(pytensor.graph.traversal.graph_inputs(replaced)) >= {x, n}
    xv = np.array([0.7, 3.3])
    fn = pytensor.function([x, n], replaced, mode=C_MODE)
    np.testing.assert_allclose(fn(xv, 2)[1], scipy.special.polygamma(3, xv), rtol=1e-13)


def test_c_support_code_and_cache_version_follow_the_header():
    op = PolyGamma(2)
    header = special.HEADER.read_text()
    device = special.headers.DEVICE_H.read_text()
    assert op.c_support_code() == device + "\n" + header and "#ifndef EG_SPECIAL_H" in header
    assert "#define DEVICE WITHIN_KERNEL" in device and "#define DEVICE" not in header  # one preamble, once
    assert op.c_code_cache_version() == ErfInv().c_code_cache_version() == Hypot().c_code_cache_version()
    assert PolyGamma(2) == op and hash(PolyGamma(2)) == hash(op) and PolyGamma(3) != op


SOFTPLUS_ULP = 5  # the documented bound of the loop's branch-free softplus (docs/USER_GUIDE.md, Accuracy)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_softplus_is_branch_free_and_within_its_error_bound(dtype):
    fn = eg.compile("softplus(x)", orders=0, dtype=dtype)
    body = fn.source(dtype=dtype).split("eg_element(")[1].split("}")[0]
    assert "<" not in body and "37" not in body  # not PyTensor's four-way choice (x < -37 ? ... )
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.uniform(-50, 50, 3000), rng.uniform(-5, 5, 3000), rng.uniform(30, 1e6, 500),
                        np.copysign(10.0 ** rng.uniform(-300, 2.5, 2000), rng.uniform(-1, 1, 2000))]).astype(dtype)
    with mp.workdps(40):
        want = np.array([float(mp.log1p(mp.exp(mp.mpf(float(v))))) for v in x]).astype(dtype)
    got = fn(x)
    zero = want == 0  # below float32's range: exactly 0 expected
    assert np.all(got[zero] == 0)
    error = np.abs(got[~zero].astype(np.float64) - want[~zero]) / np.spacing(np.abs(want[~zero])).astype(np.float64)
    assert error.max() <= SOFTPLUS_ULP
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        special = fn(np.array([np.nan, np.inf, -np.inf, 0.0], dtype=dtype))
    assert np.isnan(special[0]) and special[1] == np.inf and special[2] == 0 and special[3] == np.log(2).astype(dtype)


SIGMOID_ULP = 4  # the documented bound of the loop's overflow-free sigmoid (docs/USER_GUIDE.md, Accuracy)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_sigmoid_never_overflows_and_is_within_its_error_bound(dtype):
    fn = eg.compile("sigmoid(x)", orders=0, dtype=dtype)
    rng = np.random.default_rng(5)
    x = np.concatenate([rng.uniform(-50, 50, 3000), rng.uniform(-5, 5, 3000), rng.uniform(-745, 40, 1000),
                        np.copysign(10.0 ** rng.uniform(-300, 2.5, 2000), rng.uniform(-1, 1, 2000))]).astype(dtype)
    with mp.workdps(40):
        want = np.array([float(1 / (1 + mp.exp(-mp.mpf(float(v))))) for v in x]).astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # exp(-x) would overflow below -709 (-88 in float32): no warning here
        got = fn(x)
        special = fn(np.array([np.nan, np.inf, -np.inf, 0.0, -800.0], dtype=dtype))
    zero = want == 0  # below the dtype's range: exactly 0 expected
    assert np.all(got[zero] == 0)
    error = np.abs(got[~zero].astype(np.float64) - want[~zero]) / np.spacing(np.abs(want[~zero])).astype(np.float64)
    assert error.max() <= SIGMOID_ULP
    assert np.isnan(special[0]) and list(special[1:]) == [1, 0, 0.5, 0]


def test_softplus_slope_at_large_negative_x_is_zero_without_a_warning():
    fn = eg.compile("softplus(x)", orders=(0, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value, slope = fn(np.array([-800.0, -40.0, 40.0]))
    np.testing.assert_allclose(slope, [0.0, np.exp(-40.0) / (1 + np.exp(-40.0)), 1 / (1 + np.exp(-40.0))], rtol=1e-15)
    np.testing.assert_allclose(value, [0.0, np.log1p(np.exp(-40.0)), 40.0], rtol=1e-15)


def test_every_family_header_comes_after_the_device_preamble_and_its_own_dependencies():
    """Each family's ops name the headers their C calls; the support code is eg_device.h, then those, in order."""
    from elemgrad_gpu.graph import bessel, gamma, headers, hypergeometric, normal

    device = headers.DEVICE_H.read_text()
    cases = [(normal.Erfcx(), [special.HEADER, normal.HEADER]), (gamma.GammaK(1), [special.HEADER, gamma.HEADER]),
             (hypergeometric.Expi(), [hypergeometric.HEADER]), (bessel.Bessel("jv"), [bessel.HEADER])]
    for op, paths in cases:
        code = op.c_support_code()
        assert code.startswith(device)
        positions = [code.index(path.read_text()) for path in paths]
        assert positions == sorted(positions) and code.count("#define DEVICE WITHIN_KERNEL") == 1
    assert normal.Erfcx().c_code_cache_version() != special.ErfInv().c_code_cache_version()


@pytest.mark.parametrize("dtype, ulp", [("float64", 2.0 ** -52), ("float32", 2.0 ** -23)])
@pytest.mark.parametrize("name, slope", [("tanh", lambda x: mp.sech(x) ** 2),
                                         ("sigmoid", lambda x: mp.exp(-x) / (1 + mp.exp(-x)) ** 2)])
def test_tanh_and_sigmoid_slopes_are_within_their_absolute_bound(name, slope, dtype, ulp):
    """docs/RELIABILITY.md, Known limits: 1 - tanh**2 and s*(1 - s) err by at most 4 ulp of 1
    (absolutely) everywhere, and relatively by at most 4 ulp where |x| <= 1."""
    x = np.linspace(-40, 40, 2001).astype(dtype)
    got = eg.compile(f"{name}(x)", orders=1, dtype=dtype, device="cpu")(x).astype(np.float64)
    with mp.workdps(40):
        want = np.array([float(slope(mp.mpf(float(v)))) for v in x])
    assert np.abs(got - want).max() <= 4 * ulp
    near = np.abs(x) <= 1
    assert (np.abs(got - want)[near] / want[near]).max() <= 4 * ulp

"""Elementary compositions, rounding and remainders (graph/elementary.py).

References: mpmath at 40 digits (tests/mpref/elementary.py's functions, differentiated by
mpmath.diff) for the smooth functions, orders 0 to 2 in every argument and order 3 by
Taylor mode; NumPy and SciPy, bit for bit, for the rounding and remainder functions and
for the values at 0, infinities and NaN. Tolerance |got - ref| / max(1, |ref|): 1e-12 in
float64, 1e-5 in float32.
"""
import itertools
import math
import warnings

import mpmath
import numpy as np
import pytensor.tensor as pt
import pytest
import scipy.special

import elemgrad_gpu as eg
from mpref.elementary import REFERENCES

TOLERANCE = {"float64": 1e-12, "float32": 1e-5}
NAMES = "xyz"
# name -> points per argument (paired, not a grid), inside each documented domain
SMOOTH = {
    "logit": [(1e-100, 1e-8, 0.02, 0.3, 0.4999, 0.5, 0.77, 0.99, 1 - 1e-9)],
    "logaddexp": [(-700.0, -30.0, -1.0, 0.7, 2.0, 40.0, 800.0), (-701.0, 1.0, -1.5, 0.7, -3.0, 39.5, 795.0)],
    "logaddexp2": [(-700.0, -30.0, -1.0, 0.7, 2.0, 40.0, 800.0), (-701.0, 1.0, -1.5, 0.7, -3.0, 39.5, 795.0)],
    "cbrt": [(-1e3, -8.0, -0.3, 1e-6, 0.01, 2.0, 27.0, 1e5)],
    "entr": [(1e-300, 1e-6, 0.3, 1.0, 7.0, 1e3)],
    "kl_div": [(1e-3, 0.3, 1.0, 1.0 + 1e-9, 7.0, 1e3), (2.0, 0.25, 1.0, 1.0, 1e-3, 1e3)],
    "rel_entr": [(1e-3, 0.3, 1.0, 1.0 + 1e-9, 7.0, 1e3), (2.0, 0.25, 1.0, 1.0, 1e-3, 1e3)],
    "boxcox": [(0.01, 0.3, 1.0, 1.7, 2.0, 50.0), (-3.0, 2.5, 0.7, -1.2, 0.4, 3.0)],
    "boxcox1p": [(-0.99, -0.3, 1e-8, 0.7, 2.0, 50.0), (-3.0, 2.5, 0.7, -1.2, 0.4, 3.0)],
}


def indices(arity: int) -> list[tuple[str, ...]]:
    names = NAMES[:arity]
    return [()] + [c for k in (1, 2) for c in itertools.combinations_with_replacement(names, k)]


def mp_reference(function, point, index: tuple[str, ...], scale: float | None = None) -> float:
    """The derivative ``index`` at ``point``, by mpmath.diff with a step 1e-12 of ``scale`` (default:
    the smallest non-zero argument), so that points near 0 such as 1e-300 are differentiated there."""
    with mpmath.workdps(40):
        args = [mpmath.mpf(float(p)) for p in point]
        orders = tuple(index.count(n) for n in NAMES[:len(point)])
        if not any(orders):
            return float(function(*args))
        scale = scale or min([abs(a) for a in args if a != 0] or [mpmath.mpf(1)])
        return float(mpmath.diff(function, args, orders, h=mpmath.mpf(scale) * mpmath.mpf(1e-12)))


def assert_close(got, want, dtype, what):
    error = np.abs(np.asarray(got, np.float64) - want) / np.maximum(1.0, np.abs(want))
    assert np.all(error <= TOLERANCE[dtype]), f"{what}: scaled error {np.nanmax(error):.3g} at {np.argmax(error)}"


def representable(columns, dtype: str) -> list[np.ndarray]:
    """The points whose arguments ``dtype`` keeps inside the domain (float32 makes 1e-300 zero, 1 - 1e-9 one)."""
    keep = [all(v == 0 or (abs(v) > 1e-30 and abs(1 - v) > 1e-6) for v in point) or dtype == "float64"
            for point in zip(*columns)]
    return [np.array(c, dtype=dtype)[keep] for c in columns]


def call(text: str, columns, derivatives, dtype: str):
    fn = eg.compile(text, derivatives=derivatives, device="cpu")
    inputs = representable(columns, dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no floating-point warning inside the domains
        return fn(*inputs), inputs


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", sorted(SMOOTH))
def test_orders_0_to_2_in_every_argument_against_mpmath(name, dtype):
    columns = SMOOTH[name]
    wanted = indices(len(columns))
    outputs, inputs = call(f"{name}({', '.join(NAMES[:len(columns)])})", columns, wanted, dtype)
    for index, got in zip(wanted, outputs):
        assert got.dtype == dtype
        points = list(zip(*[c.astype(np.float64) for c in inputs]))
        scale = (lambda p: min(p[0], 1 - p[0])) if name == "logit" else (lambda p: None)  # its poles: 0 and 1
        want = np.array([mp_reference(REFERENCES[name].mp, p, index, scale(p)) for p in points])
        assert_close(got, want, dtype, f"{name} {index} ({dtype})")


@pytest.mark.parametrize("name", sorted(SMOOTH))
def test_order_3_by_taylor_mode_in_the_first_argument(name):
    columns = SMOOTH[name]
    others = ", ".join(repr(float(c[1])) for c in columns[1:])
    text = f"{name}(x{', ' if others else ''}{others})"
    fn = eg.compile(text, orders=(3,), device="cpu")
    assert "Taylor mode" in fn.expressions[0]
    x = np.array(columns[0][1:-1])  # not the extreme points, where order 3 overflows
    (got,) = fn(x)
    want = np.array([mp_reference(lambda t: REFERENCES[name].mp(t, *[mpmath.mpf(c[1]) for c in columns[1:]]),
                                  [p], ("x",) * 3) for p in x])
    assert_close(got, want, "float64", f"{name} order 3")


@pytest.mark.parametrize("name", ["boxcox", "boxcox1p", "rel_entr"])
def test_order_3_in_the_second_argument(name):
    """boxcox's in lmbda by the symbolic path (its Taylor rule is in x only), exact at lmbda = 0."""
    fn = eg.compile(f"{name}(1.7, y)", orders=(3,), device="cpu")
    assert ("Taylor mode" in fn.expressions[0]) == (name == "rel_entr")
    y = np.array([-1e-9, 0.0, 1e-9, 0.6] if name.startswith("boxcox") else [0.3, 2.0])
    (got,) = fn(y)
    function = REFERENCES[name].mp
    want = np.array([mp_reference(lambda t: function(mpmath.mpf(1.7), t), [p], ("x",) * 3) for p in y])
    assert_close(got, want, "float64", f"{name} order 3 in its second argument")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", ["logaddexp", "logaddexp2"])
def test_logaddexp_at_a_tie_has_slopes_one_half(name, dtype):
    t = np.array([-np.inf, -800.0, -1.0, 0.0, 3.5, 800.0, np.inf])
    wanted = [(), ("x",), ("y",), ("x", "x"), ("x", "y"), ("y", "y")]
    outputs = eg.compile(f"{name}(x, y)", derivatives=wanted, device="cpu")(t.astype(dtype), t.astype(dtype))
    value, dx, dy, dxx, dxy, dyy = outputs
    np.testing.assert_array_equal(value, (np.logaddexp if name == "logaddexp" else np.logaddexp2)(t, t).astype(dtype))
    assert np.all(dx == 0.5) and np.all(dy == 0.5)  # exactly, at equal infinities too
    curvature = 0.25 if name == "logaddexp" else 0.25 * math.log(2)
    for got, sign in ((dxx, 1), (dxy, -1), (dyy, 1)):
        np.testing.assert_allclose(got, sign * curvature, rtol=TOLERANCE[dtype])


def test_the_naive_logaddexp_is_wrong_at_the_tie_as_documented():
    naive = "maximum(x, y) + log1p(exp(-abs(x - y)))"
    _, dx, dxx = eg.compile(naive, derivatives=[(), ("x",), ("x", "x")], device="cpu")(np.array([1.0]), np.array([1.0]))
    assert dx[0] == 0.5 and dxx[0] == 0.0  # the slope by maximum's tie rule, but no curvature: the kinks cancel
    _, dx, dxx = eg.compile("logaddexp(x, y)", derivatives=[(), ("x",), ("x", "x")],
                            device="cpu")(np.array([1.0]), np.array([1.0]))
    assert dx[0] == 0.5 and dxx[0] == 0.25


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name, log", [("boxcox", mpmath.log), ("boxcox1p", mpmath.log1p)])
def test_boxcox_at_and_near_lambda_zero_orders_0_to_2(name, log, dtype):
    x = np.array([0.05, 0.5, 1.7, 9.0, 0.05, 1.7, 9.0, 0.5, 9.0])
    lmbda = np.array([0.0, 0.0, 1e-9, -1e-9, 1e-9, -1e-9, 0.0, 1e-300, -1e-17])
    wanted = indices(2)
    outputs, inputs = call(f"{name}(x, y)", [x, lmbda], wanted, dtype)

    def exact(t, lm):  # expm1(lm log(t)) / lm, its limit at 0, derivatives at 40 digits (exact near 0)
        return mpmath.expm1(lm * log(t)) / lm if lm else log(t)
    for index, got in zip(wanted, outputs):
        want = np.array([mp_reference(exact, p, index, scale=min(p[0], 1.0))
                         for p in zip(*[c.astype(np.float64) for c in inputs])])
        assert np.all(np.isfinite(got)), f"{name} {index}: not finite at lmbda = 0"
        assert_close(got, want, dtype, f"{name} {index} near lmbda = 0 ({dtype})")


SPECIAL = np.array([0.0, -0.0, 1e-310, 0.5, 1.0, 2.0, -1.0, -3.7, np.inf, -np.inf, np.nan])
PAIRS = [(a, b) for a in SPECIAL for b in SPECIAL]
A, B = np.array([p[0] for p in PAIRS]), np.array([p[1] for p in PAIRS])
REFERENCE_VALUES = {
    "logit": scipy.special.logit, "cbrt": np.cbrt, "entr": scipy.special.entr,
    "floor": np.floor, "ceil": np.ceil, "trunc": np.trunc, "round": np.round, "rint": np.rint,
    "logaddexp": np.logaddexp, "logaddexp2": np.logaddexp2, "rel_entr": scipy.special.rel_entr,
    "kl_div": scipy.special.kl_div, "boxcox": scipy.special.boxcox, "boxcox1p": scipy.special.boxcox1p,
    "mod": np.mod, "remainder": np.remainder, "fmod": np.fmod, "rem": np.fmod, "fmax": np.fmax, "fmin": np.fmin,
}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", sorted(REFERENCE_VALUES))
def test_values_at_zeros_infinities_and_nan_as_numpy_and_scipy(name, dtype):
    unary = name in ("logit", "cbrt", "entr", "floor", "ceil", "trunc", "round", "rint")
    args = [SPECIAL] if unary else [A, B]
    args = [a.astype(dtype) for a in args]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        got = eg.compile(f"{name}({'x' if unary else 'x, y'})", orders=(0,), device="cpu")(*args)[0]
        want = REFERENCE_VALUES[name](*[a.astype(np.float64) for a in args]).astype(dtype)
    if name == "kl_div":  # SciPy's x log(x/y) overflows to inf where x/y does: ours is finite there
        finite = np.isfinite(got) & ~np.isfinite(want)
        assert np.all(np.abs(args[0][finite]) / np.abs(args[1][finite]) > 1e300)
        got[finite] = want[finite]
    exact = name in ("floor", "ceil", "trunc", "round", "rint", "mod", "remainder", "fmod", "rem", "fmax", "fmin")
    if exact:
        np.testing.assert_array_equal(got, want)
        if name not in ("fmax", "fmin"):  # NumPy's own fmax(0.0, -0.0) differs between its scalar and SIMD loops
            assert np.array_equal(np.signbit(got), np.signbit(want)), "the sign of a zero differs"
    else:
        np.testing.assert_allclose(got, want, rtol=TOLERANCE[dtype], atol=0)


def half_away_from_zero(v):
    """C's round, exactly (``floor(v + 0.5)`` is not: 2**52 + 1 + 0.5 rounds to even)."""
    whole = np.trunc(v)
    return np.where(np.abs(v - whole) >= 0.5, whole + np.sign(v), whole)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_rounding_bit_for_bit_with_derivative_zero(dtype):
    rng = np.random.default_rng(15)
    halves = np.arange(-8, 8) + 0.5
    x = np.concatenate([halves, -0.4, 0.4, -0.5, 1e16 + 2, 2.0 ** 52 + 1, rng.normal(0, 50, 40)], axis=None)
    x = x.astype(dtype)
    numpy = {"floor": np.floor, "ceil": np.ceil, "trunc": np.trunc, "round": np.round,
             "round_half_to_even": np.round, "rint": np.rint,
             "round_half_away_from_zero": half_away_from_zero}
    for name, reference in numpy.items():
        value, *derivatives = eg.compile(f"{name}(x)", orders=(0, 1, 2, 3), device="cpu")(x)
        want = reference(x).astype(dtype)
        assert value.dtype == dtype
        np.testing.assert_array_equal(value, want, err_msg=name)
        assert np.array_equal(np.signbit(value), np.signbit(want)), name
        for derivative in derivatives:
            assert np.all(derivative == 0), name


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_remainders_bit_for_bit_with_the_exact_quotient_as_slope(dtype):
    a = np.array([5.0, -5.0, 5.0, -5.0, 4.0, -4.0, 1.0, 7.25, -7.25, 1e10 + 0.5, 3.0, -3.0, np.inf, 2.0, np.nan])
    b = np.array([3.0, 3.0, -3.0, -3.0, -2.0, 2.0, 0.1, 0.25, 0.75, 3.0, np.inf, np.inf, 2.0, 0.0, 1.0])
    a, b = a.astype(dtype), b.astype(dtype)
    wanted = [(), ("x",), ("y",), ("x", "y"), ("y", "y")]
    for name, value_of, quotient in (("mod", np.mod, np.floor_divide),
                                     ("fmod", np.fmod, lambda p, q: np.trunc((p - np.fmod(p, q)) / q))):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            value, da, db, dab, dbb = eg.compile(f"{name}(x, y)", derivatives=wanted, device="cpu")(a, b)
            want, q = value_of(a, b), quotient(a, b)
        np.testing.assert_array_equal(value, want, err_msg=name)
        assert np.array_equal(np.signbit(value), np.signbit(want)), name
        undefined = np.isnan(want)
        assert np.all(np.isnan(da[undefined])) and np.all(np.isnan(db[undefined]))
        assert np.all(da[~undefined] == 1)
        np.testing.assert_array_equal(db[~undefined], -np.round(q[~undefined]).astype(dtype))
        assert np.all(dab[~undefined] == 0) and np.all(dbb[~undefined] == 0)


def test_mod_slope_is_the_quotient_it_was_computed_with():
    """mod(1, 0.1) = 0.0999...: the quotient is 9, where floor(1/0.1) = 10."""
    _, db = eg.compile("mod(x, y)", derivatives=[(), ("y",)], device="cpu")(np.array([1.0]), np.array([0.1]))
    assert np.floor(1 / 0.1) == 10 and db[0] == -9.0
    with mpmath.workdps(40):  # the true slope of b -> mod(1, b) at the double 0.1: -floor(1/b)
        assert db[0] == -float(mpmath.floor(1 / mpmath.mpf(0.1)))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", ["fmax", "fmin"])
def test_fmax_fmin_ignore_nan_and_select_slopes(name, dtype):
    a = np.array([1.0, 3.0, np.nan, 2.0, np.nan, 2.0, -np.inf], dtype)
    b = np.array([3.0, 1.0, 2.0, np.nan, np.nan, 2.0, 0.0], dtype)
    value, da, db = eg.compile(f"{name}(x, y)", derivatives=[(), ("x",), ("y",)], device="cpu")(a, b)
    np.testing.assert_array_equal(value, getattr(np, name)(a, b))
    a_wins = np.array([0, 1, 0, 1]) if name == "fmax" else np.array([1, 0, 0, 1])
    np.testing.assert_array_equal(da[:4], a_wins)  # the NaN argument contributes 0
    np.testing.assert_array_equal(db[:4], 1 - a_wins)
    assert np.isnan(da[4]) and np.isnan(db[4])  # both NaN: the value and its slopes are NaN
    assert da[5] == db[5] == 0.5  # a tie: the mean slope, as maximum
    assert (da[6], db[6]) == ((0.0, 1.0) if name == "fmax" else (1.0, 0.0))


def test_fmax_is_its_own_function_not_maximum():
    value = eg.compile("fmax(x, 1) - maximum(x, 1)", orders=(0,), device="cpu")(np.array([np.nan, 3.0]))[0]
    assert np.isnan(value[0]) and value[1] == 0
    assert eg.fmax is not eg.maximum


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_clamp_is_clip_in_jax_argument_order(dtype):
    x = np.array([-3.0, -1.0, 0.5, 2.0, 3.0, np.nan], dtype)
    outputs = eg.compile("clamp(-1, x, 2)", orders=(0, 1, 2), device="cpu")(x)
    clipped = eg.compile("clip(x, -1, 2)", orders=(0, 1, 2), device="cpu")(x)
    for got, want in zip(outputs, clipped):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(outputs[0], np.minimum(np.maximum(x, -1), 2))  # jax.lax.clamp's value
    np.testing.assert_array_equal(outputs[1][:5], [0.0, 0.5, 1.0, 0.5, 0.0])
    low, high = np.array([0.5, 2.0]), np.array([1.0, 1.0])  # low > high: high, as NumPy's clip
    assert list(eg.compile("clamp(x, 0.7, y)", orders=(0,), device="cpu")(low, high)[0]) == [0.7, 1.0]


def test_cbrt_is_real_for_negative_x_and_its_slope_infinite_at_zero():
    value, slope, second = eg.compile("cbrt(x)", orders=(0, 1, 2), device="cpu")(np.array([-8.0, 0.0, 8.0]))
    assert list(value) == [-2.0, 0.0, 2.0]
    assert slope[1] == np.inf and slope[0] == slope[2] == 1 / 12
    assert np.isnan(second[1])  # the one-sided limits are +inf and -inf


def test_entr_rel_entr_kl_div_at_zero():
    value, slope, second = eg.compile("entr(x)", orders=(0, 1, 2), device="cpu")(np.array([0.0]))
    assert (value[0], slope[0], second[0]) == (0.0, np.inf, -np.inf)  # the one-sided limits
    wanted = [(), ("x",), ("y",), ("y", "y"), ("x", "y")]
    for name, dy in (("rel_entr", 0.0), ("kl_div", 1.0)):
        value, dx, d_y, dyy, dxy = eg.compile(f"{name}(x, y)", derivatives=wanted, device="cpu")(
            np.array([0.0, 0.0]), np.array([2.0, 0.0]))
        assert list(value) == [0.0 if name == "rel_entr" else 2.0, 0.0]
        assert dx[0] == -np.inf and list(d_y) == [dy, dy] and list(dyy) == [0.0, 0.0]  # 0 where x = 0, y = 0 too
        assert dxy[0] == -0.5


def test_the_language_names_and_aliases():
    for alias, name in (("remainder", "mod"), ("rem", "fmod"), ("round_half_to_even", "round"), ("rint", "round")):
        assert getattr(eg, alias) is getattr(eg, name)
        assert eg.compile(f"{alias}(x{', y' if name != 'round' else ''})", orders=(0,),
                          device="cpu").expressions[0].startswith(name)


# PyTensor's own ops in callables (substitute.py replaces round, float mod and log(exp + exp))

def test_pytensor_rounding_ops_in_callables():
    x = np.array([-2.5, -0.5, -0.4, 0.5, 1.5, 2.7])
    for build, reference in ((pt.floor, np.floor), (pt.ceil, np.ceil), (pt.trunc, np.trunc), (pt.round, np.round),
                             (lambda v: pt.round(v, mode="half_away_from_zero"), half_away_from_zero)):
        value, slope, second = eg.compile(lambda v: build(v) * v, orders=(0, 1, 2), device="cpu")(x)
        np.testing.assert_array_equal(value, reference(x) * x)
        np.testing.assert_array_equal(slope, reference(x))
        assert np.all(second == 0)


def test_pytensor_round_gives_numpys_negative_zero():
    """Regression: PyTensor's C code for round gave +0.0 at -0.4 and -0.5."""
    value = eg.compile(lambda v: pt.round(v), orders=(0,), device="cpu")(np.array([-0.4, -0.5]))[0]
    assert np.all(np.signbit(value)) and np.all(value == 0)


def test_trunc_of_nan_raises_no_floating_point_warning():
    """Regression: PyTensor's C code for trunc compared NaN with 0, raising "invalid"."""
    for build in (eg.trunc, pt.trunc):
        fn = eg.compile(lambda v: build(v), orders=(0, 1), device="cpu")
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            value, slope = fn(np.array([np.nan, -2.5]))
        assert np.isnan(value[0]) and value[1] == -2.0 and slope[1] == 0


def test_pytensor_mod_in_callables_is_numpys_with_the_exact_quotient():
    """Regression: PyTensor's float mod gave +0.0 for mod(4, -2) and slope -10 in b at mod(1, 0.1)."""
    a, b = np.array([4.0, 1.0, -5.0]), np.array([-2.0, 0.1, 3.0])
    for build in (lambda p, q: p % q, lambda p, q: pt.mod(p, q)):
        value, da, db = eg.compile(build, derivatives=[(), ("p",), ("q",)], device="cpu")(a, b)
        np.testing.assert_array_equal(value, np.mod(a, b))
        assert np.signbit(value[0])
        assert list(da) == [1.0, 1.0, 1.0] and list(db) == [2.0, -9.0, 2.0]


def test_pytensor_logaddexp_and_logit_in_callables():
    """Regression: pt.logaddexp, log(exp(a) + exp(b)), gave NaN slopes once exp overflowed."""
    a, b = np.array([1000.0, -np.inf, 0.3]), np.array([999.0, -np.inf, 0.3])
    value, da, dab = eg.compile(lambda p, q: pt.logaddexp(p, q), derivatives=[(), ("p",), ("p", "q")],
                                device="cpu")(a, b)
    np.testing.assert_allclose(value, np.logaddexp(a, b), rtol=1e-15)
    np.testing.assert_allclose(da, [1 / (1 + math.exp(-1)), 0.5, 0.5], rtol=1e-15)
    np.testing.assert_allclose(dab, [-math.exp(-1) / (1 + math.exp(-1)) ** 2, -0.25, -0.25], rtol=1e-14)
    x = np.array([1e-9, 0.3, 0.999])
    value, slope = eg.compile(lambda v: pt.special.logit(v), orders=(0, 1), device="cpu")(x)
    np.testing.assert_allclose(value, scipy.special.logit(x), rtol=1e-14)
    np.testing.assert_allclose(slope, 1 / (x * (1 - x)), rtol=1e-14)


def test_eg_functions_in_callables_float32():
    fn = eg.compile(lambda v: eg.logaddexp(v, 0.5) + eg.boxcox(v, 0.0) + eg.mod(v, 0.75) + eg.clamp(0.0, v, 1.0),
                    orders=(0, 1, 2), device="cpu")
    x = np.array([0.3, 2.2], np.float32)
    value, slope, second = fn(x)
    assert value.dtype == slope.dtype == second.dtype == np.float32
    xs = x.astype(np.float64)
    want = np.logaddexp(xs, 0.5) + np.log(xs) + np.mod(xs, 0.75) + np.clip(xs, 0, 1)
    np.testing.assert_allclose(value, want, rtol=1e-6)
    sig = 1 / (1 + np.exp(0.5 - xs))
    np.testing.assert_allclose(slope, sig + 1 / xs + 1 + (xs < 1), rtol=1e-6)


# the generated CUDA compiles with NVRTC, for every function and partial (tests/cases.py has those SymPy knows)
CUDA = [("floor(x) + ceil(x) + trunc(x) + round(x) + round_half_away_from_zero(x)", [(), ("x",), ("x", "x")]),
        ("mod(x, y) + fmod(x, y) + fmax(x, y) + fmin(x, y) + clamp(x, y, 2)",
         [(), ("x",), ("y",), ("x", "y"), ("y", "y"), ("x", "x", "x")]),
        ("logaddexp(x, y) + logaddexp2(x, y) + kl_div(x, y) + rel_entr(x, y) + boxcox(x, y) + boxcox1p(x, y)",
         [(), ("x",), ("y",), ("x", "y"), ("y", "y"), ("y", "y", "y")]),
        ("logit(x) + cbrt(x) + entr(x)", [(), ("x",), ("x", "x"), ("x", "x", "x")])]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("text, derivatives", CUDA)
def test_generated_cuda_compiles_with_nvrtc(compile_ptx, text, derivatives, dtype):
    source = eg.compile(text, derivatives=derivatives).source("cuda", dtype=dtype)
    if dtype == "float32":  # float32 stays float32: no double in the element body (test_cuda_codegen.py)
        body = source.split("eg_element(const eg_real *v, eg_real *r)")[1].split('extern "C"')[0]
        assert "double" not in body and "npy_float64" not in body
    for arch in ("sm_80", "sm_90"):
        assert ".entry eg_contiguous" in compile_ptx(source, arch)

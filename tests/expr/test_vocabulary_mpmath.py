"""Every row of the vocabulary against mpmath at 40 digits: values and every partial derivative of
orders 1 and 2 in its differentiable arguments, over its documented domain, float64 and float32.

The references are in tests/mpref (one module per family, ``Ref``); the walk itself is
tests/mpref/walk.py. A row without a reference fails here, so a new function cannot go
unchecked. The tails the domains leave out (overflow, cancellation near 0, poles) are tested
one by one at the end, in float64, relative to the value itself where the value is tiny.
"""
import mpmath
import numpy as np
import pytest

import elemgrad_gpu as eg
from elemgrad_gpu.expr.vocabulary import FUNCTIONS
from mpref import ALL
from mpref.walk import intervals, partial, walk

ROWS = {row.name: row for row in FUNCTIONS}
DTYPES = ("float64", "float32")


def test_every_reference_names_a_row():
    assert not set(ALL) - set(ROWS), f"references of no row: {sorted(set(ALL) - set(ROWS))}"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(ROWS))
def test_row_against_mpmath(name, dtype):
    ref = ALL.get(name)
    assert ref is not None, (f"{name} has no mpmath reference: add Ref(...) to REFERENCES of its family's "
                             f"module in tests/mpref/ (tests/mpref/__init__.py says how)")
    row = ROWS[name]
    intervals(ref, row.arity)  # one per argument, or one per argument that is not a literal
    if dtype == "float32" and not ref.f32:
        assert ref.note, f"{name} is not walked in float32: its Ref's note must say why"
        return
    measured = walk(name, ref, row.arity, dtype)
    tolerance = ref.tol64 if dtype == "float64" else ref.tol32
    assert measured.error <= tolerance, f"{name} ({dtype}): error {measured.error:.3g} > {tolerance:g}: " \
                                        f"{measured.where}"


# ---- the tails: where the domains stop -------------------------------------------------------

def values(text: str, points, orders=(0, 1, 2), dtype="float64"):
    """The value and derivatives of ``text`` in x at ``points``."""
    fn = eg.compile(text, orders=orders, device="cpu")
    return fn(np.array(points, dtype=dtype))


def mp_derivatives(function, x: float, count: int = 3) -> list[float]:
    """The value and derivatives 1, 2 of ``function`` at x (40 digits)."""
    with mpmath.workdps(40):  # steps relative to x: at x = -1e-300 an absolute step leaves the domain
        return [float(partial(function, [mpmath.mpf(x)], [k])) for k in range(count)]


def relative(got, want) -> float:
    """The largest relative error (exact zeros must be exact, infinities the same infinity)."""
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    with np.errstate(invalid="ignore"):
        error = np.abs(got - want) / np.where(want == 0, 1.0, np.abs(want))
    return float(np.max(np.where(np.isinf(want) & (got == want), 0.0, error)))


def log1mexp_mp(x: float) -> list[float]:
    """log(1 - exp(x)) and its derivatives -exp(x)/(1 - exp(x)), -exp(x)/(1 - exp(x))**2, from expm1."""
    with mpmath.workdps(40):
        x = mpmath.mpf(x)
        e, m = mpmath.exp(x), mpmath.expm1(x)
        return [float(mpmath.log(-m)), float(e / m), float(-e / m ** 2)]


@pytest.mark.parametrize("x", [-1e-300, -1e-100, -1e-10, -1e-5, -0.5, -40.0, -700.0, -1e3])
def test_log1mexp_near_zero_and_far_below_it(x):
    got = values("log1mexp(x)", [x])
    for order, (g, w) in enumerate(zip(got, log1mexp_mp(x))):  # relative: exp(-700) is a value, not a zero
        assert relative(g, w) <= 1e-13, f"log1mexp order {order} at {x}: {g[0]!r} vs {w!r}"


def test_log1mexp_second_derivative_is_finite_below_minus_709():
    """PyTensor's -exp(-x)/expm1(-x)**2 was inf/inf = NaN there (graph/gradients.py)."""
    got = values("log1mexp(x)", [-710.0, -1e3, -1e300], dtype="float64")
    tiny = -np.exp(-710.0)  # both derivatives are -exp(x) here: a subnormal at -710, then 0
    assert got[1].tolist() == got[2].tolist() == [tiny, 0.0, 0.0]
    got32 = values("log1mexp(x)", [-89.0, -200.0], dtype="float32")  # past float32's exp overflow at 88.7
    tiny32 = -np.exp(np.float32(-89.0))
    assert got32[2].dtype == np.float32 and got32[1].tolist() == got32[2].tolist() == [tiny32, 0.0], got32


@pytest.mark.parametrize("x", [-1e3, -745.0, -40.0, 40.0, 745.0, 1e3])
def test_softplus_and_sigmoid_at_large_arguments(x):
    def sigmoid(t):
        return 1 / (1 + mpmath.exp(-t))

    for text, function in (("softplus(x)", lambda t: mpmath.log1p(mpmath.exp(t))), ("sigmoid(x)", sigmoid)):
        got = values(text, [x])
        want = mp_derivatives(function, x)
        for order, (g, w) in enumerate(zip(got, want)):
            assert np.isfinite(g[0]), f"{text} order {order} at {x}: {g[0]}"
            # for x < 0 relative to the value (below the smallest subnormal both are 0); for x > 0 the
            # derivatives are sigmoid * (1 - sigmoid), whose 1 - sigmoid is rounded: within 1e-16 of 0
            scale = 1.0 if x > 0 else max(abs(w), 1e-300)
            assert abs(g[0] - w) <= 1e-13 * scale, f"{text} order {order} at {x}: {g[0]!r} vs {w!r}"


@pytest.mark.parametrize("x", [1e-300, 1e-10, -1e-10, 1e-5, 1e-3])
def test_exprel_near_zero(x):
    got = values("exprel(x)", [x])
    want = mp_derivatives(lambda t: mpmath.expm1(t) / t if t else mpmath.mpf(1), x)
    for order, (g, w) in enumerate(zip(got, want)):  # 1, 1/2, 1/3 plus terms in x
        assert relative(g, w) <= 1e-14, f"exprel order {order} at {x}: {g[0]!r} vs {w!r}"


@pytest.mark.parametrize("y", [1e-300, 1e-20, -1e-20, 1e-10, -1e-8])
def test_xlog1py_at_tiny_y(y):
    fn = eg.compile("xlog1py(x, y)", derivatives=[(), ("y",), ("x",), ("y", "y")], device="cpu")
    got = fn(np.array([3.0]), np.array([y]))
    with mpmath.workdps(40):
        yy = mpmath.mpf(y)
        want = [3 * mpmath.log1p(yy), 3 / (1 + yy), mpmath.log1p(yy), -3 / (1 + yy) ** 2]
    for g, w in zip(got, want):  # x*log1p(y) is 3y for tiny y: relative to it, not to 1
        assert relative(g, float(w)) <= 1e-14, f"xlog1py(3, {y}): {g[0]!r} vs {float(w)!r}"


@pytest.mark.parametrize("x", [-1 + 1e-8, -1 - 1e-8, -3 + 1e-6, 1e-10, -1e-10, -2.5, -20.5])
def test_digamma_near_its_poles(x):
    got = values("digamma(x)", [x])
    with mpmath.workdps(40):
        want = [float(mpmath.polygamma(k, mpmath.mpf(x))) for k in range(3)]
    for order, (g, w) in enumerate(zip(got, want)):  # each is about -/+ k!/(x - pole)**(k+1)
        assert relative(g, w) <= 1e-9, f"digamma order {order} at {x!r}: {g[0]!r} vs {w!r}"


@pytest.mark.parametrize("x", [1e300, 1e100, 1e20, 1e-300, -0.5, -2.5, -100.5])
def test_gammaln_far_out_and_below_zero(x):
    got = values("gammaln(x)", [x])
    with mpmath.workdps(40):
        gamma = mpmath.mpf(x)
        # log|gamma|: real part of mpmath's loggamma, whose imaginary part is the sign's pi*k
        want = [float(mpmath.re(mpmath.loggamma(gamma))), float(mpmath.digamma(gamma)),
                float(mpmath.polygamma(1, gamma))]
    for order, (g, w) in enumerate(zip(got, want)):
        assert relative(g, w) <= 1e-13, f"gammaln order {order} at {x!r}: {g[0]!r} vs {w!r}"


@pytest.mark.parametrize("x", [1 - 1e-10, -1 + 1e-10, 1 - 1e-15, 0.9999999, -1 + 2.0 ** -53])
def test_erfinv_near_plus_and_minus_one(x):
    got = values("erfinv(x)", [x])
    with mpmath.workdps(40):
        y = mpmath.erfinv(mpmath.mpf(x))
        first = mpmath.sqrt(mpmath.pi) / 2 * mpmath.exp(y * y)
        want = [float(y), float(first), float(2 * y * first * first)]
    # the derivatives grow as 1/(1 - |x|): relative to them, what a double x can resolve
    for order, (g, w) in enumerate(zip(got, want)):
        assert relative(g, w) <= 1e-13 * (1 + 2 * order), f"erfinv order {order} at {x!r}: {g[0]!r} vs {w!r}"


# ---- the walk itself -------------------------------------------------------------------------

def test_a_row_without_a_reference_fails_saying_what_to_add(monkeypatch):
    monkeypatch.delitem(ALL, "sin")
    with pytest.raises(AssertionError, match=r"sin has no mpmath reference: add Ref\(...\) to REFERENCES"):
        test_row_against_mpmath("sin", "float64")


def test_the_walk_finds_a_wrong_function_and_a_wrong_derivative():
    from mpref import Ref

    assert walk("sin", Ref(mpmath.cos, ((-3, 3),)), 1, "float64").error > 0.1
    wrong_second = Ref(mpmath.sin, ((-3, 3),), derivatives=lambda a, i: mpmath.cos(a[0]) if len(i) == 1 else 0)
    measured = walk("sin", wrong_second, 1, "float64")
    assert measured.error > 0.1 and "d/d(x,x)" in measured.where


def test_samples_are_log_spaced_for_one_signed_wide_intervals_else_linear():
    from mpref.walk import samples

    np.testing.assert_allclose(samples((1e-30, 1e30), 4), [1e-30, 1e-10, 1e10, 1e30])
    np.testing.assert_allclose(samples((-1e3, -1e-3), 3), [-1e-3, -1.0, -1e3])
    np.testing.assert_allclose(samples((1.0, 100.0), 3), [1.0, 50.5, 100.0])  # 100x: not more
    np.testing.assert_allclose(samples((-10, 10), 4), [-10, -10 / 3, 10 / 3, 10])


def test_a_non_finite_reference_must_be_matched_exactly():
    from mpref.walk import errors

    want = np.array([np.inf, -np.inf, np.nan, 1e300, 2.0])
    got = np.array([np.inf, -np.inf, np.nan, np.inf, 2.0], dtype=np.float32)
    assert errors(got, want, "float32").tolist() == [0, 0, 0, 0, 0]  # 1e300 is inf in float32
    assert errors(got.astype(np.float64), want, "float64")[3] == np.inf
    assert errors(np.array([1.0, np.nan]), np.array([np.inf, 1.0]), "float64").tolist() == [np.inf, np.inf]


def test_literal_arguments_and_written_forms_make_one_case_each():
    from mpref.walk import cases

    texts = [case.text for case in cases("polygamma", ALL["polygamma"], 2)]
    assert texts == ["polygamma(0, x)", "polygamma(1, x)", "polygamma(2, x)", "polygamma(4, x)"]
    (where,) = cases("where", ALL["where"], 3)
    assert where.text == "where(x > 0, y, z)" and where.indices == ((), (1,), (2,), (1, 1), (1, 2), (2, 2))

"""The peers' spellings (issue 15, first slice): aliases of the language's functions and the
functions added under NumPy's names, against mpmath at 40 digits (values and every derivative
of orders 1 and 2, by each argument), in float64 and float32; Taylor mode for orders 3 to 8;
and the "did you mean" table for names that are still unknown.

The references are mpmath's own functions, differentiated by ``mpmath.diff``: independent of
the code under test. Errors are scaled by max(1, |reference|), as tests/graph/test_reference.py.
"""
import itertools

import mpmath
import numpy as np
import pytest

import elemgrad_gpu as eg
from elemgrad_gpu.expr.language import ALIASES, ARITY
from elemgrad_gpu.expr.parse import parse
from elemgrad_gpu.expr.suggest import SYNONYMS

TOLERANCE = {"float64": 1e-12, "float32": 1e-5}
M = mpmath
INVERSE_TRIG = (-0.9, -0.3, 0.2, 0.7)
EVERYWHERE = (-2.5, -0.6, 0.4, 1.9)
POSITIVE = (0.3, 0.8, 1.7, 5.0)
# name -> (mpmath reference, points of x (and of y for two arguments))
CASES = {
    "asin": (M.asin, INVERSE_TRIG), "acos": (M.acos, INVERSE_TRIG), "atan": (M.atan, EVERYWHERE),
    "asinh": (M.asinh, EVERYWHERE), "acosh": (M.acosh, (1.2, 1.9, 3.5, 8.0)), "atanh": (M.atanh, INVERSE_TRIG),
    "atan2": (M.atan2, (EVERYWHERE, (0.7, -1.3, 2.2, -0.5))),
    "absolute": (M.fabs, EVERYWHERE), "fabs": (M.fabs, EVERYWHERE),
    "power": (lambda x, y: x ** y, (POSITIVE, (-1.5, 0.5, 2.0, 3.3))),
    "expit": (lambda x: 1 / (1 + M.exp(-x)), EVERYWHERE), "logistic": (lambda x: 1 / (1 + M.exp(-x)), EVERYWHERE),
    "psi": (M.digamma, POSITIVE), "erf_inv": (M.erfinv, INVERSE_TRIG),
    "max": (max, (EVERYWHERE, (0.1, -1.0, 0.9, 1.0))), "min": (min, (EVERYWHERE, (0.1, -1.0, 0.9, 1.0))),
    "square": (lambda x: x * x, EVERYWHERE), "sqr": (lambda x: x * x, EVERYWHERE),
    "reciprocal": (lambda x: 1 / x, (-2.5, -0.6, 0.4, 1.9)), "rsqrt": (lambda x: 1 / M.sqrt(x), POSITIVE),
    "deg2rad": (M.radians, (-270.0, -30.0, 45.0, 400.0)), "radians": (M.radians, (-270.0, -30.0, 45.0, 400.0)),
    "rad2deg": (M.degrees, EVERYWHERE), "degrees": (M.degrees, EVERYWHERE),
    "negative": (lambda x: -x, EVERYWHERE),
    "multiply": (lambda x, y: x * y, (EVERYWHERE, (0.7, -1.3, 2.2, -0.5))),
    "divide": (lambda x, y: x / y, (EVERYWHERE, (0.7, -1.3, 2.2, -0.5))),
    "true_divide": (lambda x, y: x / y, (EVERYWHERE, (0.7, -1.3, 2.2, -0.5))),
    # issue 15's elementary family: rounding half to even and the remainders (locally, away from the jumps)
    "round_half_to_even": (lambda x: M.floor(x + 0.5), (-2.2, -0.7, 0.3, 1.6)),
    "rint": (lambda x: M.floor(x + 0.5), (-2.2, -0.7, 0.3, 1.6)),
    "remainder": (lambda x, y: x - y * M.floor(x / y), (EVERYWHERE, (0.7, -1.3, 2.2, -0.5))),
    "rem": (lambda x, y: x - y * M.sign(x / y) * M.floor(abs(x / y)), (EVERYWHERE, (0.7, -1.3, 2.2, -0.5))),
    "chdtrc": (lambda k, x: M.gammainc(k / 2, x / 2, M.inf, regularized=True), (POSITIVE, (0.2, 1.1, 2.5, 6.0))),
    "jn": (M.besselj, ((0.5, 1.0, 2.5, 3.0), POSITIVE)),  # the alias of jv (SciPy: jn is jv)
    # the gamma family (issue 15): C's and SciPy's names
    "tgamma": (M.gamma, (-2.5, -0.6, 0.4, 1.9)), "tri_gamma": (lambda x: M.psi(1, x), (-2.5, -0.6, 0.4, 1.9)),
    "loggamma": (M.loggamma, POSITIVE), "lgamma": (M.loggamma, POSITIVE),
}
NAMES = "xy"


def test_every_alias_and_new_function_is_checked():
    new = {"square", "reciprocal", "rsqrt", "deg2rad", "rad2deg", "negative", "multiply", "divide"}
    assert set(ALIASES) - {"arctan2"} | new <= set(CASES) and new <= set(ARITY)


def test_an_alias_names_one_function_and_is_no_function_of_its_own():
    from elemgrad_gpu.expr.vocabulary import FUNCTIONS

    assert len(ALIASES) == sum(len(row.aliases) for row in FUNCTIONS)
    assert not set(ALIASES) & set(ARITY)


def derivative_indices(arity: int) -> list[tuple[str, ...]]:
    names = NAMES[:arity]
    return [()] + [tuple(c) for k in (1, 2) for c in itertools.combinations_with_replacement(names, k)]


def reference(function, point, index: tuple[str, ...]) -> float:
    with mpmath.workdps(40):
        orders = tuple(index.count(name) for name in NAMES[:len(point)])
        args = [mpmath.mpf(float(p)) for p in point]
        return float(mpmath.diff(function, args, orders) if any(orders) else function(*args))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_values_and_derivatives_to_order_two_against_mpmath(name, dtype):
    function, points = CASES[name]
    arity = ARITY[ALIASES.get(name, name)]
    columns = [points] if arity == 1 else list(points)
    inputs = [np.array(column, dtype=dtype) for column in columns]
    indices = derivative_indices(arity)
    fn = eg.compile(f"{name}({', '.join(NAMES[:arity])})", derivatives=indices, device="cpu")
    for index, got in zip(indices, fn(*inputs)):
        assert got.dtype == dtype
        want = np.array([reference(function, [float(c[i]) for c in inputs], index) for i in range(len(inputs[0]))])
        error = np.abs(got.astype(np.float64) - want) / np.maximum(1.0, np.abs(want))
        assert error.max() <= TOLERANCE[dtype], f"{name} {index} ({dtype}): {error.max():.3g}"


@pytest.mark.parametrize("name", ["asin", "expit", "square", "reciprocal", "rsqrt", "radians", "rad2deg"])
def test_taylor_mode_orders_3_to_8(name):
    function, points = CASES[name]
    orders = tuple(range(3, 9))
    fn = eg.compile(f"{name}(x)", orders=orders, device="cpu")
    assert all("Taylor mode" in e for e in fn.expressions)  # each op has a Taylor rule: no fallback
    with mpmath.workdps(40):
        want = [list(mpmath.diffs(function, mpmath.mpf(p), 8))[3:] for p in points]
    for k, got in zip(orders, fn(np.array(points))):
        expected = np.array([float(w[k - 3]) for w in want])
        error = np.abs(got - expected) / np.maximum(1.0, np.abs(expected))
        assert error.max() <= 16e-12, f"{name} order {k}: {error.max():.3g}"


@pytest.mark.parametrize("alias", sorted(ALIASES))
def test_an_alias_is_its_function_in_strings_callables_and_printed_formulas(alias):
    name = ALIASES[alias]
    assert getattr(eg, alias) is getattr(eg, name)
    assert (alias in eg.__all__) == (alias not in ("max", "min"))  # import * must not hide Python's max and min
    arguments = ", ".join(NAMES[:ARITY[name]])
    fn = eg.compile(f"{alias}({arguments})", derivatives=[()], device="cpu")
    printed = fn.expressions[0]
    assert alias not in printed.replace(name, "")  # the formula names the function, not the alias
    printed_as = {"pow": "x**y", "square": "x**2", "divide": "x/y", "trigamma": "polygamma(1, x)"}
    assert printed_as.get(name, name) in printed, printed


def test_an_alias_is_a_function_name_not_an_input():
    with pytest.raises(eg.ExpressionError, match="asin is a function: call it, e.g. asin"):
        parse("asin + 1")
    with pytest.raises(eg.ExpressionError, match=r"atan2\(\) takes 2 arguments, not 1"):
        parse("atan2(x)")


# the cases: spelling alone pointed psi and min at sin, mod at sigmoid, expit at exp
@pytest.mark.parametrize("text, hint", [
    ("arctangent(x)", "did you mean arctan?"), ("arcerf(x)", "did you mean erfinv?"),
    ("sinn(x)", "did you mean sin?"), ("expitt(x)", "did you mean expit?"),
])
def test_did_you_mean_by_meaning_then_by_spelling(text, hint):
    with pytest.raises(eg.ExpressionError) as info:
        parse(text)
    assert f"unknown function {text.split('(')[0]!r}: {hint}" in str(info.value)
    assert "sigmoid" not in str(info.value) or "sigmoid" in hint


@pytest.mark.parametrize("text", ["mod(x, y)", "remainder(x, y)", "fmod(x, y)", "rem(x, y)", "fmax(x, y)",
                                  "fmin(x, y)", "cbrt(x)", "floor(x)", "ceil(x)", "round(x)", "trunc(x)",
                                  "logaddexp(x, y)", "logit(x)"])
def test_the_names_once_not_yet_in_the_language_now_work(text):
    names = parse(text).names
    fn = eg.compile(text, derivatives=[(), (names[-1],)], device="cpu")
    value, _ = fn(*[np.array([0.3, 0.6])] * len(names))
    assert np.all(np.isfinite(value))


def test_the_synonym_table_names_real_functions():
    # an entry for a name that a row or alias has since taken is ignored (tests/expr/test_suggest.py)
    for written in SYNONYMS.values():
        parse(f"{written}({', '.join('xyz'[:ARITY[written]])})" if written in ARITY else written)  # it parses


def test_the_formulas_the_table_suggests_are_exact():
    x = np.array([0.3, 2.5, 7.0])
    gamma = eg.compile("exp(gammaln(x))", derivatives=[()], device="cpu")(x)[0]
    np.testing.assert_allclose(gamma, [float(mpmath.gamma(v)) for v in x], rtol=1e-13)
    a, b = np.array([-3.0, 0.5, 40.0]), np.array([2.0, 0.5, -1.0])
    logaddexp = eg.compile("maximum(a, b) + log1p(exp(-abs(a - b)))", derivatives=[()], device="cpu")(a, b)[0]
    np.testing.assert_allclose(logaddexp, np.logaddexp(a, b), rtol=1e-15)


# names the gamma family (issue 15) put in the language, which suggest.py once suggested something for
NOW_IN_THE_LANGUAGE = {"lgamma": "gammaln", "loggamma": "gammaln", "tri_gamma": "trigamma", "trigamma": "trigamma",
                       "gamma": "gamma"}


@pytest.mark.parametrize("written", sorted(NOW_IN_THE_LANGUAGE))
def test_names_once_suggested_for_are_now_functions(written):
    x = np.array([0.3, 2.5, 7.0])
    reference = {"gammaln": lambda v: mpmath.log(abs(mpmath.gamma(v))), "trigamma": lambda v: mpmath.psi(1, v),
                 "gamma": mpmath.gamma}[NOW_IN_THE_LANGUAGE[written]]
    value = eg.compile(f"{written}(x)", derivatives=[()], device="cpu")(x)[0]
    np.testing.assert_allclose(value, [float(reference(mpmath.mpf(v))) for v in x], rtol=1e-13)

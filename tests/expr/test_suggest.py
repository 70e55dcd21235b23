"""The "did you mean" hint of an unknown function (expr/suggest.py): by meaning first (synonyms of
other libraries, formulas, functions that are not elementwise, functions not in the language yet),
also for a misspelling of such a name, then up to three real names close in spelling; entries for
names that are in the language now are ignored. The formulas suggested are checked against mpmath."""
import mpmath
import numpy as np
import pytest

import elemgrad_gpu as eg
from elemgrad_gpu.expr import suggest
from elemgrad_gpu.expr.language import ALIASES, ARITY
from elemgrad_gpu.expr.parse import parse
from elemgrad_gpu.expr.suggest import NOT_ELEMENTWISE, NOT_YET, SYNONYMS, suggestion


def message(text: str) -> str:
    with pytest.raises(eg.ExpressionError) as info:
        parse(text)
    return str(info.value).splitlines()[0]


@pytest.mark.parametrize("text, hint", [
    ("lgama(x)", "did you mean lgamma? (close in spelling: lgamma, gamma, loggamma)"),
    ("log_gamma(x)", "did you mean gammaln?"), ("inverf(x)", "did you mean erfinv?"),
    ("erfi(x)", "no erfi yet: 2/sqrt(pi)*exp(x**2)*dawsn(x) is it"),
    ("ifelse(x)", "did you mean where?"), ("sgn(x)", "did you mean sign?"), ("arcerf(x)", "did you mean erfinv?"),
    ("silu(x)", "did you mean x*sigmoid(x)?"), ("swish(x)", "did you mean x*sigmoid(x)?"),
    ("hardtanh(x)", "did you mean clip(x, -1, 1)?"), ("relu6(x)", "did you mean clip(x, 0, 6)?"),
    ("gelu(x)", "did you mean 0.5*x*(1 + erf(x/sqrt(2)))?"), ("mish(x)", "did you mean x*tanh(softplus(x))?"),
    ("softmax(x)", "softmax normalizes over an axis: it is not elementwise"),
    ("log_softmax(x)", "softmax normalizes over an axis: it is not elementwise"),
    ("logsumexp(x)", "logsumexp reduces over an axis: it is not elementwise"),
    ("sum(x)", "sum reduces over an axis: it is not elementwise"),
    ("sinn(x)", "did you mean sin? (close in spelling: sin, sinh, sinc)"),
])
def test_an_unknown_name_gets_its_meaning_and_the_names_close_in_spelling(text, hint):
    assert message(text).startswith(f"unknown function {text.split('(')[0]!r}: {hint}")


def test_a_function_that_is_not_elementwise_gets_no_spelling_hint():
    assert "close in spelling" not in message("softmax(x)")


@pytest.mark.parametrize("name", ["psi", "expit", "square", "sqr", "logistic", "asin", "power", "absolute"])
def test_names_of_other_libraries_that_are_the_languages_resolve(name):
    arity = ARITY[ALIASES.get(name, name)]
    parse(f"{name}({', '.join('xyz'[:arity])})")


def test_an_entry_for_a_name_in_the_language_now_is_ignored(monkeypatch):
    """When a family adds a function (say foo), the "not yet" entries sharing its message are stale
    (bar's too): the hint falls back to spelling; a synonym of a new row likewise. A synonym whose
    function another synonym became an alias of stays meant (inverf, after erf_inv)."""
    monkeypatch.setattr(suggest, "NOT_YET", {"foo": "no foo yet", "bar": "no foo yet"})
    assert suggestion("bar") == "no foo yet"
    monkeypatch.setattr(suggest, "ARITY", {**ARITY, "foo": 2})
    assert "no foo yet" not in suggestion("bar")
    monkeypatch.setattr(suggest, "ARITY", {**ARITY, "gelu": 1})
    assert suggestion("gelu") != f"did you mean {SYNONYMS['gelu']}?"
    assert "erf_inv" in ALIASES and suggestion("inverf").startswith("did you mean erfinv?")


def test_every_live_suggestion_parses_and_the_tables_are_apart():
    assert not set(SYNONYMS) & set(NOT_YET) and not set(NOT_ELEMENTWISE) & (set(SYNONYMS) | set(NOT_YET))
    for name, written in suggest._live(SYNONYMS).items():
        parse(f"{written}({', '.join('xyz'[:ARITY[written]])})" if written in ARITY else written)  # it parses
        assert name not in ARITY and name not in ALIASES


GELU = lambda x: x / 2 * (1 + mpmath.erf(x / mpmath.sqrt(2)))  # noqa: E731
SELU = lambda x: mpmath.mpf("1.0507009873554805") * (  # noqa: E731
    x if x > 0 else mpmath.mpf("1.6732632423543772") * mpmath.expm1(x))


@pytest.mark.parametrize("name, reference", [
    ("gelu", GELU), ("silu", lambda x: x / (1 + mpmath.exp(-x))), ("selu", SELU),
    ("elu", lambda x: x if x > 0 else mpmath.expm1(x)),
    ("mish", lambda x: x * mpmath.tanh(mpmath.log1p(mpmath.exp(x)))),
    ("logcosh", lambda x: mpmath.log(mpmath.cosh(x))), ("hardtanh", lambda x: min(max(x, -1), 1)),
    ("relu6", lambda x: min(max(x, 0), 6)), ("tanhshrink", lambda x: x - mpmath.tanh(x)),
    ("hard_sigmoid", lambda x: min(max(x / 6 + mpmath.mpf(1) / 2, 0), 1)),
    ("log_expit", lambda x: -mpmath.log1p(mpmath.exp(-x))), ("entr", lambda x: -x * mpmath.log(x)),
])
def test_the_formulas_suggested_are_the_functions(name, reference):
    x = np.array([0.3, 1.7, 4.5, 8.0, 700.0] if name == "entr" else [-700.0, -7.5, -2.2, -0.4, 0.35, 2.7, 9.1, 700.0])
    got = eg.compile(SYNONYMS[name], derivatives=[()], device="cpu")(x)[0]
    with mpmath.workdps(40):
        want = np.array([float(reference(mpmath.mpf(v))) for v in x])
    np.testing.assert_allclose(got, want, rtol=1e-14, atol=1e-300)

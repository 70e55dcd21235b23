"""Tests of the expression parser: the language, its refusals and its limits."""
from __future__ import annotations

import signal

import numpy as np
import pytensor.tensor as pt
import pytest
import scipy.special as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from pytensor.graph.traversal import ancestors

from elemgrad_gpu.errors import ExpressionError, InputError, InputTypeError
from elemgrad_gpu.expr.language import ARITY
from elemgrad_gpu.expr.parse import MAX_DEPTH, MAX_LENGTH, MAX_NODES, Expression, parse
from elemgrad_gpu.graph.functions import IMPLEMENTATIONS

X = np.array([0.2, 0.5, 0.7])
Y = np.array([0.3, 0.1, 0.9])
Z = np.array([0.6, 0.8, 1.5])

# name -> (expression, reference on X, Y, Z)
REFERENCE = {
    **{name: (f"{name}(x)", lambda x, y, z, f=getattr(np, name): f(x)) for name in (
        "sin cos tan arcsin arccos arctan sinh cosh tanh arcsinh arctanh exp exp2 expm1 "
        "log log2 log10 log1p sqrt abs sign".split())},
    "arccosh": ("arccosh(x + 1)", lambda x, y, z: np.arccosh(x + 1)),
    "erf": ("erf(x)", lambda x, y, z: sp.erf(x)),
    "erfc": ("erfc(x)", lambda x, y, z: sp.erfc(x)),
    "erfinv": ("erfinv(x)", lambda x, y, z: sp.erfinv(x)),
    "gammaln": ("gammaln(x)", lambda x, y, z: sp.gammaln(x)),
    "digamma": ("digamma(x)", lambda x, y, z: sp.digamma(x)),
    "sigmoid": ("sigmoid(x)", lambda x, y, z: sp.expit(x)),
    "softplus": ("softplus(x)", lambda x, y, z: np.logaddexp(0, x)),
    "log1mexp": ("log1mexp(-x)", lambda x, y, z: np.log(-np.expm1(-x))),
    "pow": ("pow(x, y)", lambda x, y, z: x**y),
    "sinc": ("sinc(x)", lambda x, y, z: np.sinc(x)),
    "exprel": ("exprel(x)", lambda x, y, z: sp.exprel(x)),
    "xlogy": ("xlogy(x, y)", lambda x, y, z: sp.xlogy(x, y)),
    "xlog1py": ("xlog1py(x, y)", lambda x, y, z: sp.xlog1py(x, y)),
    "xlogx": ("xlogx(x)", lambda x, y, z: sp.xlogy(x, x)),
    "polygamma": ("polygamma(1, x) + polygamma(0, y)", lambda x, y, z: sp.polygamma(1, x) + sp.digamma(y)),
    "where": ("where(x > 0.4, y, z)", lambda x, y, z: np.where(x > 0.4, y, z)),
    "clip": ("clip(z, x, y + 0.5)", lambda x, y, z: np.clip(z, x, y + 0.5)),
    **{name: (f"{name}(x, y)", lambda x, y, z, f=getattr(np, name): f(x, y)) for name in (
        "arctan2", "maximum", "minimum", "hypot")},
    **{name: (f"{name}(x)", lambda x, y, z, f=getattr(np, name): f(x)) for name in (
        "square", "reciprocal", "deg2rad", "rad2deg", "negative")},
    "rsqrt": ("rsqrt(x)", lambda x, y, z: 1 / np.sqrt(x)),
    "multiply": ("multiply(x, y)", lambda x, y, z: x * y),
    "divide": ("divide(x, y)", lambda x, y, z: x / y),
    # elementary compositions, rounding and remainders (graph/elementary.py); 10x - 0.5 has halves
    **{name: (f"{name}(x, y)", lambda x, y, z, f=getattr(np, name): f(x, y)) for name in (
        "logaddexp", "logaddexp2", "mod", "fmod", "fmax", "fmin")},
    **{name: (f"{name}(x, y)", lambda x, y, z, f=getattr(sp, name): f(x, y)) for name in (
        "kl_div", "rel_entr", "boxcox", "boxcox1p")},
    "logit": ("logit(x)", lambda x, y, z: sp.logit(x)),
    "entr": ("entr(x)", lambda x, y, z: sp.entr(x)),
    **{name: (f"{name}(10*x - 0.5)", lambda x, y, z, f=getattr(np, name): f(10 * x - 0.5)) for name in (
        "cbrt", "floor", "ceil", "trunc", "round")},
    "round_half_away_from_zero": ("round_half_away_from_zero(10*x - 0.5)", lambda x, y, z: np.array([2.0, 5.0, 7.0])),
    "clamp": ("clamp(x, z, y + 0.5)", lambda x, y, z: np.clip(z, x, y + 0.5)),
    **{name: (f"{name}(x)", lambda x, y, z, f=getattr(sp, name): f(x)) for name in (
        "erfcx", "erfcinv", "ndtr", "log_ndtr", "ndtri", "dawsn")},
    "ndtri_exp": ("ndtri_exp(-x)", lambda x, y, z: sp.ndtri_exp(-x)),
    "owens_t": ("owens_t(x, y)", lambda x, y, z: sp.owens_t(x, y)),
    # incomplete gamma and beta (graph/incomplete.py)
    **{name: (f"{name}(z, x)", lambda x, y, z, f=getattr(sp, name): f(z, x)) for name in ("gammainc", "gammaincc")},
    "gammal": ("gammal(z, x)", lambda x, y, z: sp.gamma(z) * sp.gammainc(z, x)),
    "gammau": ("gammau(z, x)", lambda x, y, z: sp.gamma(z) * sp.gammaincc(z, x)),
    "chi2sf": ("chi2sf(z, x)", lambda x, y, z: sp.chdtrc(z, x)),
    "betainc": ("betainc(z, y, x)", lambda x, y, z: sp.betainc(z, y, x)),
    # Bessel functions (graph/bessel.py)
    **{name: (f"{name}(z)", lambda x, y, z, f=getattr(sp, name): f(z)) for name in (
        "j0", "j1", "y0", "y1", "i0", "i1", "i0e", "i1e", "k0", "k1", "k0e", "k1e")},
    **{name: (f"{name}(y, z)", lambda x, y, z, f=getattr(sp, name): f(y, z)) for name in (
        "jv", "yv", "iv", "ive", "kv", "kve")},
    "yn": ("yn(2, z)", lambda x, y, z: sp.yn(2, z)),
    # hypergeometric, zeta, exponential and trigonometric integrals (graph/hypergeometric.py)
    **{name: (f"{name}(z)", lambda x, y, z, f=getattr(sp, name): f(z)) for name in ("expi", "exp1")},
    "expn": ("expn(2, z)", lambda x, y, z: sp.expn(2, z)),
    "si": ("si(z)", lambda x, y, z: sp.sici(z)[0]), "ci": ("ci(z)", lambda x, y, z: sp.sici(z)[1]),
    "fresnel_s": ("fresnel_s(z)", lambda x, y, z: sp.fresnel(z)[0]),
    "fresnel_c": ("fresnel_c(z)", lambda x, y, z: sp.fresnel(z)[1]),
    "zeta": ("zeta(z + 1, y)", lambda x, y, z: sp.zeta(z + 1, y)),
    "hyp1f1": ("hyp1f1(x, z, y)", lambda x, y, z: sp.hyp1f1(x, z, y)),
    "hyp2f1": ("hyp2f1(x, y, z, -y)", lambda x, y, z: sp.hyp2f1(x, y, z, -y)),
    # the gamma family (issue 15)
    **{name: (f"{name}(x)", lambda x, y, z, f=getattr(sp, name): f(x)) for name in ("gamma", "rgamma", "gammasgn")},
    "trigamma": ("trigamma(x)", lambda x, y, z: sp.polygamma(1, x)),
    "factorial": ("factorial(x - 0.3)", lambda x, y, z: sp.factorial(x - 0.3)),
    **{name: (f"{name}(x, y)", lambda x, y, z, f=getattr(sp, name): f(x, y)) for name in ("beta", "betaln", "poch")},
    "comb": ("comb(z + 1, y)", lambda x, y, z: sp.comb(z + 1, y)),
    "multigammaln": ("multigammaln(z + 1, 3)", lambda x, y, z: sp.multigammaln(z + 1, 3)),
}


def evaluate(text: str, **values: np.ndarray) -> np.ndarray:
    """Build ``text`` in float64 over vectors named like ``values`` and evaluate it."""
    expression = parse(text)
    env = {name: pt.vector(name) for name in expression.names}
    output = expression.build(env, "float64", IMPLEMENTATIONS)
    return output.eval({env[name]: values[name] for name in expression.names}, mode="FAST_COMPILE")


def refusal(text: str) -> ExpressionError:
    """The ExpressionError that parsing ``text`` raises."""
    with pytest.raises(ExpressionError) as info:
        parse(text)
    return info.value


def assert_refused(text: str, position: int, message: str) -> None:
    error = refusal(text)
    assert error.position == position
    assert message in str(error)
    assert f"\n    {text}\n    {' ' * position}^" in str(error)


def test_reference_covers_every_function():
    assert set(REFERENCE) == set(ARITY)


@pytest.mark.parametrize("name", sorted(ARITY))
def test_every_function_parses_and_builds(name):
    text, reference = REFERENCE[name]
    result = evaluate(text, x=X, y=Y, z=Z)
    np.testing.assert_allclose(result, reference(X, Y, Z), rtol=1e-6)


@pytest.mark.parametrize("text, expected", [
    ("-x**2", -9.0),
    ("2**-1", 0.5),
    ("x**y**z", 3.0**8),
    ("-x + +y", -1.0),
    ("x - y - z", -2.0),
    ("x / y / z", 0.5),
    ("x + y * z ** 2", 3 + 2 * 9),
    ("(x + y) * z", 15.0),
    ("pi * e", np.pi * np.e),
    ("1e-3 * x + 1_000", 1000.003),
])
def test_precedence_and_arithmetic(text, expected):
    result = evaluate(text, x=np.array([3.0]), y=np.array([2.0]), z=np.array([3.0]))
    np.testing.assert_allclose(result, [expected])


def test_spacing_is_ignored():
    assert parse("\tsin( x )  ").names == ("x",)


@pytest.mark.parametrize("text, position", [("x #+ y", 2), ("\tsin( x )  # " + "-" * 300, 11), ("x#", 1)])
def test_a_comment_is_refused_where_it_starts(text, position):
    """ast.parse drops a comment silently, so 'x #+ y' meant x: now refused, the caret at the '#'."""
    with pytest.raises(ExpressionError, match="'#' is not allowed") as caught:
        parse(text)
    assert caught.value.position == position


def test_names_in_order_of_first_appearance():
    expression = parse("b * sin(a) + where(c > a, pi, b) + e + polygamma(1, d)")
    assert expression.names == ("b", "a", "c", "d")
    assert parse("2 * pi").names == ()


def test_expression_is_frozen_hashable_and_prints_its_text():
    expression = parse("x + y")
    assert str(expression) == "x + y"
    assert expression == parse("x + y") and hash(expression) == hash(parse("x + y"))
    assert isinstance(expression, Expression)
    with pytest.raises(AttributeError):
        expression.text = "z"


def test_float32_build_stays_float32():
    expression = parse("x * 0.1 + pi - where(x > 2, e, x ** 2)")
    x = pt.vector("x", dtype="float32")
    output = expression.build({"x": x}, "float32", IMPLEMENTATIONS)
    assert output.dtype == "float32"
    assert all(variable.dtype != "float64" for variable in ancestors([output]))
    result = output.eval({x: np.array([1.0, 3.0], dtype="float32")}, mode="FAST_COMPILE")
    np.testing.assert_allclose(result, [0.1 + np.pi - 1, 0.3 + np.pi - np.e], rtol=1e-6)


def test_number_that_overflows_the_build_dtype_is_refused():
    expression = parse("x + 1e39")
    with pytest.raises(ExpressionError, match="does not fit in float32") as info:
        expression.build({"x": pt.vector("x", dtype="float32")}, "float32", IMPLEMENTATIONS)
    assert info.value.position == 4
    expression.build({"x": pt.vector("x")}, "float64", IMPLEMENTATIONS)


def test_build_names_missing_inputs():
    with pytest.raises(InputError, match="y"):
        parse("x + y").build({"x": pt.vector("x")}, "float64", IMPLEMENTATIONS)


def test_where_with_comparisons():
    np.testing.assert_allclose(evaluate("where(x > 0, x, -x)", x=np.array([-2.0, 3.0])), [2.0, 3.0])
    np.testing.assert_allclose(evaluate("where(0 < x <= 1, 1, 0)", x=np.array([-1.0, 0.5, 1.0, 2.0])), [0, 1, 1, 0])
    np.testing.assert_allclose(evaluate("where(x == 1, 1, 0) + where(x != 1, 2, 0)", x=np.array([1.0, 2.0])), [1, 2])
    nested = "where(x >= 0, where(x < 1, 10, 20), 30)"
    np.testing.assert_allclose(evaluate(nested, x=np.array([-1.0, 0.5, 2.0])), [30, 10, 20])


@pytest.mark.parametrize("text, position", [
    ("x > 0", 2),
    ("sin(x > 0)", 6),
    ("where(x, y < 1, 2)", 11),
    ("where((x > 0) * 1, 1, 2)", 9),
    ("1 + (x<y)", 6),
])
def test_comparisons_outside_where_condition_are_refused(text, position):
    assert_refused(text, position, "comparisons are only allowed as the condition of where")


@pytest.mark.parametrize("text, position, message", [
    # operators: the caret points at the operator
    ("x + y % z", 6, "'%' is not allowed"),
    ("(x) // 2", 4, "'//' is not allowed: use '/'"),
    ("x @ y", 2, "'@' is not allowed"),
    ("x & y", 2, "'&' is not allowed: combine conditions by nesting where()"),
    ("x | y", 2, "'|' is not allowed"),
    ("x ^ 2", 2, "'^' is not allowed: use '**'"),
    ("x << 2", 2, "'<<' is not allowed"),
    ("~x", 0, "'~' is not allowed"),
    ("not x", 0, "'not' is not allowed"),
    ("x and y", 2, "'and' is not allowed"),
    ("x or y", 2, "'or' is not allowed"),
    ("where(x is 1, 1, 2)", 8, "'is' is not allowed: use '=='"),
    ("where(x < 1 in y, 1, 2)", 12, "'in' is not allowed"),
    # other constructs: the caret points at their start
    ("1 + x.real", 4, "attribute access is not allowed"),
    ("1 + x[0]", 4, "indexing is not allowed"),
    ("1 + (lambda: x)", 5, "lambda is not allowed"),
    ("1 + (a if c else b)", 5, "use where(c, a, b)"),
    ("1 + [x]", 4, "lists, tuples, sets, dicts and comprehensions are not allowed"),
    ("1 + (x, y)", 4, "lists, tuples"),
    ("1 + {x}", 4, "lists, tuples"),
    ("1 + {x: 1}", 4, "lists, tuples"),
    ("1 + [x for x in y]", 4, "lists, tuples"),
    ("1 + f'{x}'", 4, "f-strings are not allowed"),
    ("1 + (y := 2)", 5, "':=' are not allowed"),
    ("sin(*x)", 4, "starred arguments are not allowed"),
    ("1 + 'a'", 4, "strings are not allowed"),
    ("1 + b'a'", 4, "strings are not allowed"),
    ("1 + None", 4, "None is not allowed"),
    ("1 + True", 4, "True is not a number: use 1"),
    ("1 + 2j", 4, "complex numbers are not supported"),
    ("1 + 1e999", 4, "the number is too large"),
    ("1 + " + "9" * 400, 4, "the number is too large"),
    # names and calls
    ("1 + _x", 4, "names starting with an underscore are not allowed"),
    ("1 + __class__", 4, "names starting with an underscore"),
    ("1 + sin", 4, "sin is a function: call it, e.g. sin(x)"),
    ("1 + pi(x)", 4, "pi is a constant, not a function"),
    ("1 + sinn(x)", 4, "unknown function 'sinn': did you mean sin?"),
    ("__import__('os')", 0, "unknown function '__import__'"),
    ("1 + x(2)", 4, "unknown function 'x'"),
    ("1 + sin(x)(y)", 4, "only the functions of the language can be called"),
    ("1 + np.sin(x)", 4, "only the functions of the language can be called"),
    ("1 + sin(x=1)", 8, "sin() takes no keyword arguments"),
    ("1 + sin(**x)", 8, "sin() takes no keyword arguments"),
    ("polygamma(1.0, x)", 10, "non-negative integer literal"),
    ("polygamma(-1, x)", 10, "non-negative integer literal"),
    ("polygamma(n, x)", 10, "non-negative integer literal"),
    # text problems
    ("x\n+ y", 1, "an expression must be a single line"),
    ("x +\r y", 3, "an expression must be a single line"),
    ("x\0", 1, "the character '\\x00' is not allowed"),
    ("x +* 3", 3, "syntax error: invalid syntax"),
])
def test_refusals_say_what_and_where(text, position, message):
    assert_refused(text, position, message)


@pytest.mark.parametrize("text, message", [
    ("sin(x, y)", "sin() takes 1 argument, not 2"),
    ("sin()", "sin() takes 1 argument, not 0"),
    ("arctan2(x)", "arctan2() takes 2 arguments, not 1"),
    ("where(x > 0, x)", "where() takes 3 arguments, not 2"),
    ("clip(x, 0, 1, 2)", "clip() takes 3 arguments, not 4"),
])
def test_arity_errors(text, message):
    assert_refused("1 + " + text, 4, message)


@pytest.mark.parametrize("text", ["x = 1", "x; y", "import os", "sin(x", "x +", "1__0"])
def test_syntax_errors_are_refused(text):
    error = refusal(text)
    assert "syntax error" in str(error) and 0 <= error.position <= len(text)


@pytest.mark.parametrize("text", ["", "   ", "\t"])
def test_empty_expressions_are_refused(text):
    assert "the expression is empty" in str(refusal(text))


@pytest.mark.parametrize("value", [None, 1.5, b"x", ["x"]])
def test_non_string_input_is_a_type_error(value):
    with pytest.raises(InputTypeError, match="must be a string"):
        parse(value)


def test_positions_count_characters_of_the_whole_text():
    assert_refused("αβ + γ % 2", 7, "'%' is not allowed")
    assert_refused("αβ + (", 5, "'(' was never closed")
    assert_refused("  x % 2", 4, "'%' is not allowed")
    assert_refused("  x +* 2", 5, "syntax error")
    assert_refused("  αβ + [x]", 7, "lists, tuples")


def test_depth_limit_is_exact():
    chain = "+".join(["x"] * MAX_DEPTH)  # MAX_DEPTH - 1 additions: depth MAX_DEPTH
    assert parse(chain).names == ("x",)
    assert parse("-" * (MAX_DEPTH - 1) + "x").names == ("x",)
    assert parse("(" * MAX_DEPTH + "x" + ")" * MAX_DEPTH).names == ("x",)
    np.testing.assert_allclose(evaluate("-" * (MAX_DEPTH - 1) + "x", x=np.array([2.0])), [-2.0])
    assert "nested more than" in str(refusal(chain + "+x"))
    assert "nested more than" in str(refusal("-" * MAX_DEPTH + "x"))
    assert "brackets are nested more than" in str(refusal("(" * (MAX_DEPTH + 1) + "x" + ")" * (MAX_DEPTH + 1)))
    assert "nested more than" in str(refusal("sin(" * MAX_DEPTH + "x" + ")" * MAX_DEPTH))


def wide(width: int, levels: int) -> str:
    """A sum of ``width`` bracketed sums, ``levels`` deep, with width ** levels leaves."""
    text = "+".join(["x"] * width)
    for _ in range(levels - 1):
        text = "+".join([f"({text})"] * width)
    return text


@pytest.mark.parametrize("text", [
    "+".join(["x"] * 300_000),
    "x" + "+x" * (MAX_LENGTH // 2 - 1),
    "-" * (MAX_LENGTH - 1) + "x",
    "x" + "**x" * (MAX_LENGTH // 3 - 1),
    "(" * 10_000 + "x" + ")" * 10_000,
    "[" * 10_000 + "]" * 10_000,
    "sin(" * 10_000 + "x" + ")" * 10_000,
    "not " * (MAX_LENGTH // 4 - 1) + "x",
    "x" + ".a" * (MAX_LENGTH // 2 - 1),
    "x" + "[0]" * (MAX_LENGTH // 3 - 1),
    "f" + "()" * (MAX_LENGTH // 2 - 1),
    "x if x else " * (MAX_LENGTH // 12) + "x",
    "lambda:" * (MAX_LENGTH // 7) + "x",
    "x<" * (MAX_LENGTH // 2 - 1) + "x",
    ("(" + "+".join(["x"] * 60) + ")+") * 60 + "x",
    wide(30, 3),
])
def test_limits_refuse_huge_inputs_without_hanging(text):
    """A refusal, never RecursionError or MemoryError; a watchdog (not a speed claim) catches a hang."""
    def hang(*_):
        raise AssertionError("the parser hung on a huge input")

    previous = signal.signal(signal.SIGALRM, hang)
    signal.alarm(60)
    try:
        error = refusal(text)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert any(limit in str(error) for limit in ("nested more than", "characters long", "parts", "comparisons"))


def test_node_limit():
    text = wide(30, 3)
    assert len(text) <= MAX_LENGTH
    assert f"more than {MAX_NODES} parts" in str(refusal(text))
    assert parse(wide(30, 2)).names == ("x",)


TOKENS = st.sampled_from([
    "x", "y", "_x", "__class__", "sin", "where", "polygamma", "pi", "e", "lambda", "if", "else", "not", "and",
    "0", "1", "2.5", "1e3", "1j", "0x1F", "+", "-", "*", "/", "**", "//", "%", "@", "<", "<=", "==", "!=", ">",
    "(", ")", "[", "]", "{", "}", ".", ",", ":", ":=", "'", '"', "_", " ", "\\", "#", "\n", "\0",
])


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.lists(TOKENS, max_size=30).map("".join), st.text("xy01_.,()[]'\"+-*/<>=! e", max_size=30)))
def test_fuzz_parse_returns_or_refuses(text):
    try:
        expression = parse(text)
    except ExpressionError:
        return
    assert isinstance(expression, Expression) and str(expression) == text
    env = {name: pt.vector(name) for name in expression.names}
    expression.build(env, "float64", IMPLEMENTATIONS)

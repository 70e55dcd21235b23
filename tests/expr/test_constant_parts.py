"""A constant part of an expression (one that reads no input) must be a finite float64
number, as a literal must: ``x*10**400`` is refused like ``x*1e400``, and so are ``exp(1000)``,
``1/0``, ``log(0)`` and ``0/0`` (decided: a constant inf or NaN is refused, whatever made it).
References: the position and text of the part, written out by hand; NumPy for the values
of the constants that are accepted."""
import re

import numpy as np
import pytest

import elemgrad_gpu as eg
from elemgrad_gpu.errors import ExpressionError
from elemgrad_gpu.expr.parse import parse

REFUSED = [  # text, position of the part, the part, its float64 value
    ("x*10**400", 2, "10**400", "inf"),
    ("exp(1000) * x", 0, "exp(1000)", "inf"),
    ("x + 1/0", 4, "1/0", "inf"),
    ("x - 1/-0.0", 4, "1/-0.0", "-inf"),
    ("x + log(0)", 4, "log(0)", "-inf"),
    ("x*(0/0)", 3, "0/0", "nan"),
    ("sqrt(-1) + x", 0, "sqrt(-1)", "nan"),
    ("where(x > 0, x, 2**2000)", 16, "2**2000", "inf"),
    ("  x * (1e200*1e200)", 7, "1e200*1e200", "inf"),
    ("x * erfinv(1)", 4, "erfinv(1)", "inf"),
    ("µ + gammaln(0)", 4, "gammaln(0)", "inf"),
    ("x + exp(exp(10))", 4, "exp(exp(10))", "inf"),  # the innermost part that is not finite
    ("x + pi**1000", 4, "pi**1000", "inf"),
]


@pytest.mark.parametrize("text, position, part, value", REFUSED)
def test_a_constant_part_that_is_not_finite_in_float64_is_refused_where_it_is(text, position, part, value):
    with pytest.raises(ExpressionError, match=re.escape(f"the constant part {part!r} is {value} in float64")) as info:
        parse(text)
    assert info.value.position == position
    with pytest.raises(ExpressionError):  # compile refuses it before building anything
        eg.compile(text, device="cpu")


def test_a_constant_overflow_is_refused_like_the_literal_it_equals():
    for text in ("x*1e400", "x*10**400", "x*10.0**400"):
        with pytest.raises(ExpressionError, match="too large|is inf in float64"):
            parse(text)


ACCEPTED = [  # finite constants, including those whose parts are extreme
    ("x*10**300", lambda x: x * 1e300),
    ("x*exp(-1000)", lambda x: x * 0.0),
    ("softplus(1000) + x", lambda x: 1000 + x),
    ("sigmoid(-1000) + x", lambda x: x + 0.0),
    ("x * 2 * pi + where(1 < 2 < 3, 1, 0)", lambda x: x * 2 * np.pi + 1),
    ("polygamma(1, 1.0) * x", lambda x: x * np.pi ** 2 / 6),
    ("x / (1/3)", lambda x: x / (1 / 3)),
]


@pytest.mark.parametrize("text, reference", ACCEPTED)
def test_finite_constant_parts_compile_and_compute_as_numpy(text, reference):
    x = np.linspace(-2, 2, 9)
    np.testing.assert_allclose(eg.compile(text, orders=0, device="cpu")(x), reference(x), rtol=1e-14, atol=1e-300)


@pytest.mark.parametrize("text, position, part", [("x*exp(100)", 2, "exp(100)"), ("x + 10**39", 4, "10**39"),
                                                  ("x*(1e30*1e10)", 3, "1e30*1e10")])
def test_a_constant_part_that_does_not_fit_in_float32_is_refused_in_float32_as_a_literal_is(text, position, part):
    with pytest.raises(ExpressionError, match=re.escape(f"the constant part {part!r} is ") + ".*does not fit in "
                                              "float32") as info:
        eg.compile(text, orders=0, device="cpu", dtype="float32")
    assert info.value.position == position
    x = np.linspace(-1, 1, 5)
    want = {"x*exp(100)": x * np.exp(100), "x + 10**39": x + 1e39, "x*(1e30*1e10)": x * 1e40}[text]
    np.testing.assert_allclose(eg.compile(text, orders=0, device="cpu")(x), want, rtol=1e-15)

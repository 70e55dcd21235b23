"""Input names: any valid name works by keyword, spelled as Python reads it or as written.

``µ`` (U+00B5, micro sign) is read by Python as ``μ`` (U+03BC): either spelling names the
input, which keeps the spelling its user wrote. An input named ``self`` is passed by keyword
like any other; one named ``out`` is refused at compile (``out=`` passes the preallocated
outputs). References: NumPy closed forms.
"""
import numpy as np
import pytest

import elemgrad_gpu as eg
from elemgrad_gpu.errors import ExpressionError, InputError

MICRO, MU = "\u00b5", "\u03bc"
X = np.linspace(-1.5, 2.0, 8)


def test_a_keyword_spelled_with_the_micro_sign_or_mu_names_the_same_input():
    fn = eg.compile(f"x*{MICRO} + exp({MICRO})", wrt=MU, orders=(0, 1), device="cpu")
    assert fn.inputs == ("x", MICRO)  # as written
    for spelling in (MICRO, MU):
        value, slope = fn(x=X, **{spelling: 0.7})
        np.testing.assert_allclose(value, X * 0.7 + np.exp(0.7), rtol=1e-15)
        np.testing.assert_allclose(slope, X + np.exp(0.7), rtol=1e-15)
    value, _ = fn(X, µ=0.7)  # noqa: PLC2401 - Python itself reads this keyword as mu
    np.testing.assert_allclose(value, X * 0.7 + np.exp(0.7), rtol=1e-15)
    with pytest.raises(InputError, match="given twice, spelled two ways"):
        fn(x=X, **{MICRO: 1.0, MU: 2.0})
    assert eg.compile(f"x*{MU}", derivatives=[(MICRO,)], device="cpu")(X, 3.0)[0].tolist() == X.tolist()


def test_a_callable_with_mu_takes_the_micro_sign_by_keyword():
    fn = eg.compile(lambda x, μ: x * μ ** 2, wrt=MICRO, device="cpu")  # noqa: PLC2401
    np.testing.assert_allclose(fn(x=X, **{MICRO: 1.5}), 2 * 1.5 * X, rtol=1e-15)


def test_an_input_named_self_is_passed_by_keyword():
    fn = eg.compile("x*self + self**2", wrt="self", orders=(0, 1), device="cpu")
    value, slope = fn(x=X, self=0.5)
    np.testing.assert_allclose(value, X * 0.5 + 0.25, rtol=1e-15)
    np.testing.assert_allclose(slope, X + 1.0, rtol=1e-15)
    y, dy = np.empty_like(X), np.empty_like(X)
    step = fn.bind(x=X, self=np.full(X.shape, 0.5), out=(y, dy))
    assert step()[0] is y
    np.testing.assert_allclose(dy, X + 1.0, rtol=1e-15)
    callable_fn = eg.compile(lambda self, x: self * x, device="cpu")
    np.testing.assert_allclose(callable_fn(self=X, x=3.0), np.full(X.shape, 3.0), rtol=0)


@pytest.mark.parametrize("text, position", [("x*out + 1", 2), ("sin(x) + \uff4f\uff55\uff54", 9)])
def test_an_input_named_out_is_refused_at_compile_with_a_rename_hint(text, position):
    with pytest.raises(ExpressionError, match="cannot be named .*out= passes a call's preallocated outputs; "
                                              "rename the input") as info:
        eg.compile(text, device="cpu")
    assert info.value.position == position
    with pytest.raises(InputError, match="cannot be named 'out' .a parameter of the function."):
        eg.compile(lambda x, out: x * out, device="cpu")


def test_out_still_takes_the_known_call_path():
    fn = eg.compile("x*mu", wrt="x", orders=(0, 1), device="cpu")
    y, dy = np.empty_like(X), np.empty_like(X)
    for _ in range(2):
        result = fn(X, 2.0, out=(y, dy))
        assert result[0] is y and result[1] is dy
    assert len(fn._calls) == 1  # the call with out= was remembered and reused
    np.testing.assert_allclose(y, 2 * X, rtol=0)

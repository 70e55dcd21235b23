"""Property-based: random expressions, derivatives against PyTensor's own full Jacobian.

The reference is independent of our pipeline after parsing: PyTensor's
``gradient.jacobian`` of the parsed graph, its diagonal, evaluated by PyTensor's
Python backend; ours goes through verification, grad-of-sum, fusion, C code and the
ufunc loop.
"""
import numpy as np
import pytensor
import pytensor.tensor as pt
from hypothesis import example, given, settings, strategies as st

import elemgrad_gpu as eg
from elemgrad_gpu.expr.parse import parse
from elemgrad_gpu.graph.functions import IMPLEMENTATIONS

UNARY = ["sin({0})", "cos({0})", "tanh({0})", "arctan({0})", "sigmoid({0})", "softplus({0})", "erf({0})",
         "exp(sin({0}))", "sqrt(1 + ({0})**2)", "log(2 + cos({0}))"]
BINARY = ["({0}) + ({1})", "({0}) - ({1})", "({0}) * ({1})", "({0}) / (1.5 + sin({1})**2)"]
LEAVES = st.sampled_from(["x", "x", "0.75", "mu", "2.5"])


def expressions(depth: int = 3):
    if depth == 0:
        return LEAVES
    inner = expressions(depth - 1)
    return st.one_of(LEAVES,
                     st.builds(lambda t, a: t.format(a), st.sampled_from(UNARY), inner),
                     st.builds(lambda t, a, b: t.format(a, b), st.sampled_from(BINARY), inner, inner))


def reference(text: str, xs: np.ndarray, mu: float) -> tuple[np.ndarray, np.ndarray]:
    x, m = pt.dvector("x"), pt.dscalar("mu")
    y = parse(text).build({"x": x, "mu": m}, "float64", IMPLEMENTATIONS) + 0 * x
    first = pt.diagonal(pytensor.gradient.jacobian(y, x, disconnected_inputs="ignore"))
    second = pt.diagonal(pytensor.gradient.jacobian(first, x, disconnected_inputs="ignore"))
    evaluate = pytensor.function([x, m], [first, second], mode="FAST_COMPILE", on_unused_input="ignore")
    return evaluate(xs, mu)


def close(got, want, tolerance):
    return np.all(np.abs(got - want) <= tolerance * np.maximum(1.0, np.abs(want)))


@settings(max_examples=25, deadline=None)
@given(text=expressions(), xs=st.lists(st.floats(-3, 3), min_size=3, max_size=5), mu=st.floats(-2, 2))
def test_random_expressions_first_and_second_order_match_pytensor_jacobian(text, xs, mu):
    xs = np.array(xs)
    first, second = eg.compile(f"({text}) + 0*x + 0*mu", wrt="x", orders=(1, 2))(x=xs, mu=mu)
    want_first, want_second = reference(text, xs, mu)
    assert close(first, want_first, 1e-12), (text, first, want_first)
    assert close(second, want_second, 1e-11), (text, second, want_second)


@settings(max_examples=15, deadline=None)
@given(text=expressions(), mu=st.floats(-2, 2))
@example(text="(x) / (1.5 + sin(((x) * (x)) * ((x) * (x)))**2)", mu=0.0)  # a derivative that cancels
def test_random_expressions_float32_agrees_with_float64(text, mu):
    """float32 within 2e-4 of float64 at the same (float32) points, relative to each output's largest value.

    Relative to the largest value rather than to each: where an output is a small
    difference of large terms (x / (1.5 + sin(x^4)^2)'s derivative near x = 3: terms of
    about 90, a result of 0.3) float32's rounding of those terms is what shows, in any
    float32 evaluation.
    """
    fn = eg.compile(f"({text}) + 0*x + 0*mu", wrt="x", orders=(0, 1))
    xs, m = np.linspace(-3, 3, 41, dtype=np.float32), np.float32(mu)
    for low, high in zip(fn(x=xs, mu=m), fn(x=xs.astype(np.float64), mu=float(m))):
        assert low.dtype == np.float32
        assert np.all(np.abs(low - high) <= 2e-4 * max(1.0, np.max(np.abs(high)))), text

"""Graphs built by callables are bounded: deep or huge ones are refused early and clearly."""
import functools
import sys
import traceback

import numpy as np
import pytest

import elemgrad_gpu as eg
from elemgrad_gpu.graph import build
from elemgrad_gpu.graph import differentiate
from elemgrad_gpu.graph import verify
from elemgrad_gpu.graph.build import MAX_GRAPH_DEPTH, make_source


def sine_chain(depth: int):
    """x -> sin(sin(...sin(x))): a chain of ``depth`` operations."""
    return lambda x: functools.reduce(lambda a, _: eg.sin(a), range(depth), x)


def looped_chain(depth: int):
    """The same chain built by a Python loop."""
    def f(x):
        for _ in range(depth):
            x = eg.sin(x)
        return x
    return f


def balanced_sum(terms: int):
    """sin(x) + sin(x) + ... as a balanced tree: 2 * terms - 1 operations, a shallow graph."""
    def f(x):
        parts = [eg.sin(x) for _ in range(terms)]
        while len(parts) > 1:
            parts = [parts[i] + parts[i + 1] if i + 1 < len(parts) else parts[i] for i in range(0, len(parts), 2)]
        return parts[0]
    return f


@pytest.fixture
def nothing_past_the_trace(monkeypatch):
    """Fail the test if a refused graph gets as far as verification or differentiation."""
    def too_far(*args, **kwargs):
        raise AssertionError("a graph beyond the limits was walked past the trace")

    monkeypatch.setattr(verify, "verify_elementwise", too_far)
    monkeypatch.setattr(differentiate, "partial_derivatives", too_far)


@pytest.mark.parametrize("chain", [sine_chain, looped_chain])
@pytest.mark.parametrize("depth", [MAX_GRAPH_DEPTH + 1, 3_000])
def test_deep_callable_chains_are_refused_before_differentiation(chain, depth, nothing_past_the_trace):
    with pytest.raises(eg.ExpressionError, match=rf"chain of more than {MAX_GRAPH_DEPTH} operations.*split"):
        eg.compile(chain(depth), orders=(0, 1), device="cpu")(np.ones(2))  # traced at the first call


def test_depth_limit_is_exact():
    _, output = make_source(sine_chain(MAX_GRAPH_DEPTH)).trace("float64", 1)
    assert output.owner is not None
    with pytest.raises(eg.ExpressionError, match=f"more than {MAX_GRAPH_DEPTH} operations"):
        make_source(sine_chain(MAX_GRAPH_DEPTH + 1)).trace("float64", 1)


def test_node_limit_counts_distinct_operations(monkeypatch):
    monkeypatch.setattr(build, "MAX_GRAPH_NODES", 41)
    make_source(balanced_sum(21)).trace("float64", 1)  # 41 operations, 6 deep
    with pytest.raises(eg.ExpressionError, match="a graph of more than 41 operations.*split"):
        make_source(balanced_sum(22)).trace("float64", 1)
    shared = lambda x: functools.reduce(lambda a, _: a + a, range(30), eg.sin(x))  # noqa: E731 - 31 operations
    make_source(shared).trace("float64", 1)


def test_a_chain_of_moderate_depth_gives_the_right_derivatives():
    steps = 20  # tanh, *, + per step: 60 operations deep

    def f(x):
        a = x
        for _ in range(steps):
            a = eg.tanh(a) * 0.75 + x
        return a

    x = np.linspace(-2, 2, 9)
    a, da, d2a = x.copy(), np.ones_like(x), np.zeros_like(x)
    for _ in range(steps):  # forward-mode chain rule in NumPy
        t = np.tanh(a)
        a, da, d2a = (0.75 * t + x, 0.75 * (1 - t * t) * da + 1,
                      0.75 * (-2 * t * (1 - t * t) * da * da + (1 - t * t) * d2a))
    value, slope, curvature = eg.compile(f, orders=(0, 1, 2), device="cpu")(x)
    np.testing.assert_allclose(value, a, rtol=1e-13)
    np.testing.assert_allclose(slope, da, rtol=1e-12)
    np.testing.assert_allclose(curvature, d2a, rtol=1e-10, atol=1e-13)


@pytest.fixture
def shallow_recursion_limit():
    """A recursion limit 200 frames above the current stack, restored afterwards."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(len(traceback.extract_stack()) + 200)
    yield
    sys.setrecursionlimit(limit)


def test_a_derivative_too_deep_for_the_recursion_limit_is_a_clear_error(shallow_recursion_limit, monkeypatch):
    chain = lambda x: functools.reduce(lambda a, _: eg.tanh(a) ** 2, range(40), x)  # noqa: E731 - 80 deep
    if not _gradient_recurses(chain):  # newer PyTensor walks the graph without recursion: make it recurse
        monkeypatch.setattr(differentiate.pytensor, "grad", _recursing_grad)
    with pytest.raises(eg.ExpressionError, match=r"d/dx is too deep to differentiate.*recursion limit"):
        eg.compile(chain, orders=(0, 1), device="cpu")(np.ones(2))


def _gradient_recurses(f) -> bool:
    """Whether PyTensor's own gradient of f passes the (shallow) recursion limit."""
    inputs, y = make_source(f).trace("float64", 1)
    try:
        differentiate.pytensor.grad(y.sum(), inputs[0])
    except RecursionError:
        return True
    return False


def _recursing_grad(*args, **kwargs):
    def down(depth: int) -> int:
        return down(depth + 1)

    return down(0)

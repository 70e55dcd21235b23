"""Bounded compile time and memory for every accepted input, and clear refusals.

The hostile cases run in a subprocess with an address-space limit and a timeout, so
that a regression fails the test instead of taking the machine or the run down.
"""
import os
import resource
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import scipy.special

import elemgrad_gpu as eg
from elemgrad_gpu.graph import budget
from elemgrad_gpu.graph import differentiate
from elemgrad_gpu.graph import fuse
from elemgrad_gpu.backends.c.backend import MAX_ARGUMENTS
from elemgrad_gpu.graph.build import make_source
from elemgrad_gpu.graph.special import MAX_ORDER
from elemgrad_gpu.expr.parse import MAX_DEPTH, parse

ROOT = Path(__file__).resolve().parents[2]
MEMORY_LIMIT = 3 * 2 ** 30  # address space of a child: Python, NumPy, SciPy and PyTensor fit in well under


@pytest.fixture
def fresh_cache(monkeypatch, tmp_path):
    """No stored plan: every string is traced, differentiated and simplified here."""
    monkeypatch.setenv("THEANO_FLAGS", f"elemgrad__cache_dir={tmp_path}")
    return tmp_path


def run_bounded(code: str, tmp_path: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run Python ``code`` in a child limited to MEMORY_LIMIT bytes of address space and ``timeout`` s."""
    return run_child(["-c", textwrap.dedent(code)], tmp_path, timeout)


def run_child(arguments: list, tmp_path: Path, timeout: float) -> subprocess.CompletedProcess:
    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))

    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               THEANO_FLAGS=f"elemgrad__cache_dir={tmp_path}")
    try:
        return subprocess.run([sys.executable, *arguments], env=env, capture_output=True, text=True,
                              timeout=timeout, preexec_fn=limit, cwd=tmp_path)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the child ran past {timeout} s")


def nested_where(levels: int) -> str:
    """where(x > 0, where(x > 0, ... x ..., x), -x) + sin(x): each level doubled PyTensor's stack
    traces (``where(c, x, x)`` collapses, and each rewrite concatenated the traces it replaced)."""
    text = "x"
    for _ in range(levels):
        text = f"where(x > 0, {text}, x)"
    return f"where(x > 0, {text}, -x) + sin(x)"


def nested_where_callable(levels: int) -> str:
    return ("lambda x: eg.where(x > 0, functools.reduce(lambda a, _: eg.where(x > 0, a, x), "
            f"range({levels}), x), -x) + eg.sin(x)")


@pytest.mark.parametrize("levels", [20, 30])
@pytest.mark.parametrize("kind", ["string", "callable"])
def test_nested_where_compiles_in_bounded_memory(levels, kind, tmp_path):
    built = f"{nested_where(levels)!r}" if kind == "string" else nested_where_callable(levels)
    result = run_bounded(f"""
        import functools, resource
        import numpy as np, elemgrad_gpu as eg
        x = np.array([-2.0, -0.5, 0.0, 0.5, 2.0])
        value, slope = eg.compile({built}, orders=(0, 1), device="cpu")(x)
        np.testing.assert_allclose(value, np.where(x > 0, x, -x) + np.sin(x), rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(slope, np.where(x > 0, 1, -1) + np.cos(x), rtol=1e-13, atol=1e-15)
        print("peak MB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
    """, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.mark.parametrize("expression, orders", [
    ("tanh(tanh(x))", 8), ("sigmoid(x)", tuple(range(9))), ("hypot(x, 1)", tuple(range(9))),
    ("arccosh(x)", tuple(range(9))), ("erfinv(x/2)", tuple(range(9))),
])
def test_high_orders_in_one_variable_compile_in_seconds_not_minutes(expression, orders, tmp_path):
    """Orders 3 and up in one variable take Taylor mode (taylor.py), which the symbolic budget
    would otherwise refuse; the child's timeout bounds the whole compile and call (values are
    checked against mpmath in tests/graph/test_taylor.py)."""
    result = run_bounded(f"""
        import numpy as np, elemgrad_gpu as eg
        outputs = eg.compile({expression!r}, orders={orders!r}, device="cpu")(np.array([1.5]))
        assert all(np.isfinite(o).all() for o in np.atleast_1d(outputs)), outputs
    """, tmp_path, timeout=60)
    assert result.returncode == 0, result.stderr[-3000:]


def test_mixed_high_orders_stay_symbolic_and_are_refused_by_the_budget_in_seconds(tmp_path):
    result = run_bounded("""
        import numpy as np, elemgrad_gpu as eg
        try:
            eg.compile("sigmoid(x*y)", derivatives=[(), ("x",) * 4 + ("y",) * 4], device="cpu")
        except eg.ExpressionError as error:
            assert "over the budget" in str(error) and "max_derivative_nodes" in str(error), error
        else:
            raise AssertionError("compiled past the budget")
    """, tmp_path, timeout=60)
    assert result.returncode == 0, result.stderr[-3000:]


def test_node_budget_refuses_before_the_gradient_it_predicts_too_large(fresh_cache, monkeypatch):
    monkeypatch.setenv("THEANO_FLAGS", f"elemgrad__cache_dir={fresh_cache},elemgrad__max_derivative_nodes=1000")
    orders_made = []
    grad = differentiate._grad
    monkeypatch.setattr(differentiate, "_grad", lambda y, x, index: orders_made.append(len(index)) or grad(y, x, index))
    with pytest.raises(eg.ExpressionError) as refusal:
        eg.compile("sigmoid(x*y)", derivatives=[(), ("x",) * 4 + ("y",) * 4], device="cpu")  # symbolic
    message = str(refusal.value)
    assert "would have about" in message and "over the budget of 1,000 (max_derivative_nodes)" in message
    assert "lower order" in message and "elemgrad__max_derivative_nodes" in message
    refused_order = int(message.split("of order ")[1].split()[0])
    assert max(orders_made) < refused_order  # refused before PyTensor made it


def test_node_budget_counts_the_graph_after_each_order(fresh_cache, monkeypatch):
    monkeypatch.setenv("THEANO_FLAGS", f"elemgrad__cache_dir={fresh_cache},elemgrad__max_derivative_nodes=5")
    expected = (r"derivative graph of order 1 has more than 6 operations, over the budget of 5 "
                r"\(max_derivative_nodes\) beyond the 1 of the function itself")
    with pytest.raises(eg.ExpressionError, match=expected):
        eg.compile("sigmoid(x)", orders=1, device="cpu")


def derivative_graph(expression: str, order: int):
    inputs, y = make_source(expression).trace("float64", 1)
    return differentiate.partial_derivatives(y, {"x": inputs[0]}, [("x",) * order])


def test_a_simplification_past_the_node_budget_is_stopped_from_inside(monkeypatch):
    outputs = derivative_graph("tanh(tanh(x))", 4)
    monkeypatch.setattr(budget, "MAX_DERIVATIVE_NODES", budget.count_operations(outputs, 10 ** 6) // 2)
    monkeypatch.delenv("THEANO_FLAGS", raising=False)
    with pytest.raises(eg.ExpressionError, match=r"simplified derivative graph has more than .* operations"):
        fuse.simplify(outputs, budget.Budget())


def test_a_simplification_past_the_time_budget_is_stopped_from_inside(monkeypatch):
    outputs = derivative_graph("tanh(tanh(x))", 4)
    late = budget.Budget()
    late.deadline = 0.0  # long gone
    with pytest.raises(eg.ExpressionError, match=r"took more than .* s to build.*max_compile_seconds"):
        fuse.simplify(outputs, late)


def test_orders_within_the_budget_give_the_right_derivatives(fresh_cache):
    x = np.array([-1.5, 0.3, 2.0])
    t = np.tanh(x)
    outputs = eg.compile("tanh(x)", orders=tuple(range(5)), device="cpu")(x)
    expected = [t, 1 - t ** 2, -2 * t * (1 - t ** 2), (1 - t ** 2) * (6 * t ** 2 - 2),
                (1 - t ** 2) * (16 * t - 24 * t ** 3)]
    for got, want in zip(outputs, expected):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("value", ["0", "-3", "ten", "1.5"])
def test_bad_node_budgets_are_configuration_errors(monkeypatch, value):
    monkeypatch.setenv("THEANO_FLAGS", f"elemgrad__max_derivative_nodes={value}")
    with pytest.raises(eg.ElemgradError, match="max_derivative_nodes = .* is not valid; expected the most"):
        budget.Budget()


@pytest.mark.parametrize("value", ["0", "-1", "inf", "soon"])
def test_bad_time_budgets_are_configuration_errors(monkeypatch, value):
    monkeypatch.setenv("THEANO_FLAGS", f"elemgrad__max_compile_seconds={value}")
    with pytest.raises(eg.ElemgradError, match="max_compile_seconds = .* is not valid; expected the most"):
        budget.Budget()


def test_the_example_configuration_documents_both_budgets():
    text = (ROOT / "theanorc.example").read_text()
    assert "max_derivative_nodes" in text and "max_compile_seconds" in text


@pytest.fixture
def no_differentiation(monkeypatch):
    def too_far(*args, **kwargs):
        raise AssertionError("differentiated what should have been refused before")

    monkeypatch.setattr(differentiate, "partial_derivatives", too_far)


def test_too_many_kernel_arguments_are_refused_before_differentiating(no_differentiation):
    names = [f"x{i}" for i in range(8)]
    with pytest.raises(eg.InputError, match=rf"6443 inputs and outputs .* at most {MAX_ARGUMENTS}: ask for fewer"):
        eg.compile(" + ".join(names), wrt=names, orders=8, device="cpu")


def test_the_argument_limit_is_numpys():
    np.frompyfunc(lambda *a: 0.0, MAX_ARGUMENTS - 1, 1)
    with pytest.raises(ValueError):
        np.frompyfunc(lambda *a: 0.0, MAX_ARGUMENTS, 1)


def comparison_chain(operands: int) -> str:
    """where(x < 1 < 2 < ... , sin(x), cos(x)): true only for x < 1."""
    return f"where({' < '.join(['x', *map(str, range(1, operands))])}, sin(x), cos(x))"


def test_comparison_chains_count_toward_the_depth_limit(fresh_cache):
    longest = MAX_DEPTH - 1  # where (1) > chain (2) > operands at 2 + (n - 1 - 1) + 1
    parse(comparison_chain(longest))
    x = np.array([-2.0, 0.5, 3.0])
    np.testing.assert_allclose(eg.compile(comparison_chain(longest), orders=0, device="cpu")(x),
                               np.where(x < 1, np.sin(x), np.cos(x)), rtol=1e-15)
    with pytest.raises(eg.ExpressionError, match=f"comparison chain of {longest + 1} operands is too long"):
        parse(comparison_chain(longest + 1))


@pytest.mark.parametrize("operands", [200, 5_000])
def test_long_comparison_chains_are_refused(operands):
    with pytest.raises(eg.ExpressionError, match=f"comparison chain of {operands} operands.*nested where"):
        eg.compile("where(" + " < ".join(["x"] * operands) + ", x, x)", device="cpu")


def test_polygamma_written_past_its_largest_order_is_refused_with_a_caret():
    with pytest.raises(eg.ExpressionError, match=rf"order is at most {MAX_ORDER}.*not {MAX_ORDER + 1}") as refusal:
        eg.compile(f"polygamma({MAX_ORDER + 1}, x)", orders=0, device="cpu")
    assert refusal.value.position == len("polygamma(")
    with pytest.raises(eg.ExpressionError, match=rf"integer in \[0, {MAX_ORDER}\], got {MAX_ORDER + 1}"):
        eg.compile(lambda x: eg.polygamma(MAX_ORDER + 1, x), orders=0, device="cpu")(np.ones(2))


@pytest.mark.parametrize("f", [f"polygamma({MAX_ORDER - 5}, x)", lambda x: eg.polygamma(MAX_ORDER - 5, x) + eg.sin(x)])
def test_polygamma_derivatives_past_its_largest_order_are_refused_before_differentiating(
        f, fresh_cache, no_differentiation):
    with pytest.raises(eg.ExpressionError, match=rf"polygamma\({MAX_ORDER + 3}, \.\), past the largest order "
                                                  rf"supported, {MAX_ORDER}: ask for derivatives of order at most 5 in x"):
        eg.compile(f, orders=8, device="cpu")(np.ones(2))  # a callable is traced at its first call


def test_polygamma_up_to_its_largest_order_is_computed(fresh_cache):
    x = np.array([0.7, 3.0, 11.5])
    got = eg.compile("polygamma(32, x)", orders=(0, 8), device="cpu")(x)
    np.testing.assert_allclose(got[0], scipy.special.polygamma(32, x), rtol=1e-12)
    np.testing.assert_allclose(got[1], scipy.special.polygamma(40, x), rtol=1e-12)


def test_polygamma_of_another_input_does_not_limit_the_order_in_x(fresh_cache):
    x, y = np.array([0.4, 2.0]), np.array([3.0, 5.0])
    third = eg.compile("polygamma(38, y) * sin(x)", wrt="x", orders=3, device="cpu")(x=x, y=y)
    np.testing.assert_allclose(third, -scipy.special.polygamma(38, y) * np.cos(x), rtol=1e-12)
    with pytest.raises(eg.ExpressionError, match="order at most 2 in y"):
        eg.compile(f"polygamma({MAX_ORDER - 2}, y) * sin(x)", wrt=["x", "y"], orders=3, device="cpu")


@pytest.mark.parametrize("expression, message", [
    (f"polygamma({MAX_ORDER}, x)", f"polygamma({MAX_ORDER + 1}, .), past the largest order supported, {MAX_ORDER}"),
    (f"polygamma({MAX_ORDER + 1}, x)", f"polygamma's order is at most {MAX_ORDER}"),
])
def test_cli_derive_refuses_polygamma_past_its_order_in_one_line(expression, message, tmp_path):
    result = run_child(["-m", "elemgrad_gpu", "derive", expression], tmp_path, timeout=60)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and message in result.stderr
    assert result.stderr.startswith("elemgrad derive: error:") and not result.stdout

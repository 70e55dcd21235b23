"""Hoisting: work on single-value inputs is done once per call, and changes no bit.

References: the closed form of the Gaussian log-density, and the same function called
with the parameters broadcast to full arrays (the kernel that hoists nothing), which
must give bitwise identical results and the same floating-point warnings.
"""
import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytensor.scalar as ps
import pytest

import elemgrad_gpu as eg
from elemgrad_gpu.backends.c import compile as ccompile
from elemgrad_gpu.backends.c.backend import CBackend
from elemgrad_gpu.graph.hoist import hoist
from elemgrad_gpu.graph.plan import make_plan

LOGPDF = "-0.5*((x-mu)/sigma)**2 - log(sigma)"
EXPRESSIONS = [
    (LOGPDF, [(), ("x",), ("sigma",), ("mu", "sigma")]),
    ("tanh(x*s)**2 + exp(s)*sin(x)", [(), ("x",), ("s",)]),
    ("where(x > 0, x*s, sin(x)) + exp(s)", [(), ("x",), ("s",)]),  # GCC leaves this loop scalar
    ("softplus(a*x + b) / (1 + a**2)", [(), ("x",), ("a",), ("b",)]),
    ("x**p * log1p(p**2)", [(), ("x",), ("p",)]),
]


def scalar_ops(composite):
    return {type(node.op) for node in composite.fgraph.toposort()}


def test_the_split_puts_exactly_the_work_on_single_values_in_once():
    fn = eg.compile(LOGPDF, derivatives=[(), ("x",), ("sigma",)], device="cpu")
    body = make_plan(fn._source, fn._indices, "float64", 0).fused.composite
    hoisted = hoist(body, (1, 2))  # mu and sigma single values
    assert ps.Log in scalar_ops(hoisted.once) and ps.Log not in scalar_ops(hoisted.each)
    assert len(hoisted.each.inputs) == 3 + len(hoisted.once.outputs) and len(hoisted.each.outputs) == 3
    assert len(hoisted.once.inputs) == 2
    assert hoist(body, (1,)) is None  # mu alone: nothing is computed from it alone
    simple = eg.compile("tanh(x*s)**2", wrt="x", device="cpu")
    assert hoist(make_plan(simple._source, simple._indices, "float64", 0).fused.composite, (1,)) is None


def test_the_kernel_for_single_value_parameters_takes_the_logarithm_once_per_call():
    fn = eg.compile(LOGPDF, wrt="x", orders=(0, 1), device="cpu")
    fn(np.linspace(-1, 1, 10), 0.5, 2.0)
    plan = fn._specialization("float64", 1, (1, 2))
    if not ccompile._reports_vectorization():  # without GCC's report, nothing is hoisted (it could change bits)
        assert plan is fn._specialization("float64", 1)
        return
    source = plan.source(CBackend())
    once = source[source.index("static inline void eg_once_element"):source.index("static void eg_once_vector")]
    each = source[source.index("static inline void eg_element"):source.index("enum { EG_BLOCK")]
    assert "log(" in once and "log(" not in each
    assert fn._specialization("float64", 1) is not plan and "#define EG_NHOIST 0" in fn.source()


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("text, wanted", EXPRESSIONS)
def test_single_values_give_bitwise_the_results_and_warnings_of_broadcast_arrays(text, wanted, dtype):
    fn = eg.compile(text, derivatives=wanted, device="cpu")
    names = fn.inputs
    rng = np.random.default_rng(7)
    x = rng.uniform(-4, 4, 131_085).astype(dtype)  # above the size split across threads
    x[[5, 300, 70_000, -3]] = [np.inf, -np.inf, np.nan, 0.0]
    for values in ([1.7, -0.4], [0.0, 2.5], [-1.0, 0.5], [np.inf, np.nan], [1e-30, -0.0]):
        parameters = dict(zip([n for n in names if n != "x"], values))
        single = [x if n == "x" else parameters[n] for n in names]
        broadcast = [x if n == "x" else np.full(x.shape, parameters[n], dtype) for n in names]
        got, raised = call(fn, single)
        want, expected = call(fn, broadcast)
        assert raised == expected, (values, raised, expected)
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)


def call(fn, args):
    """The outputs, and the set of warnings the call raised."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        outputs = fn(*args)
    return outputs, {str(w.message) for w in caught}


def test_n_d_calls_reuse_the_hoisted_values_across_numpys_inner_loops():
    fn = eg.compile(LOGPDF, derivatives=[(), ("x",), ("sigma",)], device="cpu")
    x = np.linspace(-3, 3, 3 * 700).reshape(700, 3).T  # 700 runs of 3 for NumPy's inner loop
    for mu, sigma in ((0.3, 1.7), (0.3, 1.9), (-0.2, 1.7)):  # each call's own values
        got = fn(x, mu, sigma)
        want = fn(x, np.full(x.shape, mu), np.full(x.shape, sigma))
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)
        z = (x - mu) / sigma
        np.testing.assert_allclose(got[0], -0.5 * z ** 2 - np.log(sigma), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(got[1], -z / sigma, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(got[2], (z ** 2 - 1) / sigma, rtol=1e-12, atol=1e-12)


SCRIPT = """
import json, sys, numpy as np, elemgrad_gpu as eg
fn = eg.compile(sys.argv[1], wrt="x", orders=(0, 1), device="cpu")
value, slope = fn(np.array([-2.0, 0.5, 3.0]), 0.25, 1.5)
print(json.dumps({"value": value.tolist(), "slope": slope.tolist(), "pytensor": "pytensor" in sys.modules}))
"""


def test_a_new_process_reuses_the_hoisted_plan_without_importing_pytensor(tmp_path):
    env = dict(os.environ, THEANO_FLAGS=f"elemgrad__cache_dir={tmp_path}")
    runs = [json.loads(subprocess.run([sys.executable, "-c", SCRIPT, LOGPDF], env=env, capture_output=True,
                                      text=True, check=True).stdout) for _ in range(2)]
    assert runs[0]["pytensor"] and not runs[1]["pytensor"]
    z = (np.array([-2.0, 0.5, 3.0]) - 0.25) / 1.5
    for run in runs:
        np.testing.assert_allclose(run["value"], -0.5 * z ** 2 - np.log(1.5), rtol=1e-14)
        np.testing.assert_allclose(run["slope"], -z / 1.5, rtol=1e-14)
    assert len(list((tmp_path / "plans").glob("*.json"))) == 2  # the plan for arrays, and the hoisted one


def test_a_condition_on_single_values_stays_per_element_after_other_compiles():
    """The pow rule's ``where(p == 0, ...)`` on a single value p: its bool is not hoisted
    (hoisted, code generation failed once ``pow(x, y)`` had been compiled before)."""
    eg.compile("pow(x, y)", derivatives=[(), ("x",), ("x", "x"), ("y",)])(np.zeros(3), np.arange(3.0))
    fn = eg.compile("x**p * log1p(p**2)", derivatives=[(), ("x",), ("p",)], device="cpu")
    x = np.linspace(0.5, 3, 1001)
    for p in (1.7, 0.0):
        for got, want in zip(fn(x, p), fn(x, np.full(x.shape, p))):
            np.testing.assert_array_equal(got, want)
        np.testing.assert_allclose(fn(x, p)[2], np.log(x) * x ** p * np.log1p(p * p)
                                   + x ** p * 2 * p / (1 + p * p), rtol=1e-13)

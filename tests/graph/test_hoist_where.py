"""Hoisting a `where` whose condition reads single-value parameters.

Such a condition is hoisted as a bool. Generating the per-element code once rebuilt the
hoisted body for float inputs, and PyTensor's rebuild then reassigned the inputs of its
globally shared (interned) scalar nodes: that call crashed ("All orphans in the fgraph
to Composite must be Constant"), and so did every later compile in the process that used
one of those nodes. References: NumPy closed forms, central differences, and the same
call with the parameters broadcast to full arrays (bitwise).
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from pytensor.graph.basic import Constant

import elemgrad_gpu as eg
from elemgrad_gpu.backends.c import codegen
from elemgrad_gpu.graph.hoist import hoist
from elemgrad_gpu.graph.plan import make_plan

# The reproducers of the crash, then a fresh compile that the crash poisoned, all in ONE
# new process (with its own plan store, so nothing is read back instead of hoisted).
FRESH_PROCESS = r"""
import json, numpy as np, elemgrad_gpu as eg
results = []
for dtype in ("float64", "float32"):
    x = np.linspace(-1.95, 1.95, 26).astype(dtype)
    for text in ["where(mu > 0, x, 2*x)", "where(s > 0, x*s, 0)", "where(x > mu, log(s)*x, s**x)",
                 "where(x > mu, log(s), s)"]:
        fn = eg.compile(text, wrt="x", orders=(0, 1), device="cpu")
        for mu, s in ((0.3, 0.7), (-0.3, 1.6)):
            kw = {n: {"mu": mu, "s": s, "x": x}[n] for n in fn.inputs}
            value, slope = fn(**kw)
            derivative = eg.compile(text, orders=1, device="cpu")(**kw)  # the reproducers' own call
            results.append(dict(text=text, dtype=dtype, mu=mu, s=s, value=value.tolist(), slope=slope.tolist(),
                                derivative=derivative.tolist(), dtypes=[value.dtype.name, derivative.dtype.name]))
    poisoned = eg.compile("where(x > mu, log(s), s)", wrt="x", orders=0, device="cpu")(x=x, mu=0.3, s=0.7)
    results.append(dict(text="poison", dtype=dtype, value=poisoned.tolist(), dtypes=[poisoned.dtype.name]))
print(json.dumps(results))
"""


def closed_forms(text, x, mu, s):
    """(f, df/dx) by NumPy, from the formulas written out by hand."""
    one = np.ones_like(x)
    return {
        "where(mu > 0, x, 2*x)": (x if mu > 0 else 2 * x, one if mu > 0 else 2 * one),
        "where(s > 0, x*s, 0)": (x * s if s > 0 else 0 * x, one * s if s > 0 else 0 * x),
        "where(x > mu, log(s)*x, s**x)": (np.where(x > mu, np.log(s) * x, s ** x),
                                          np.where(x > mu, np.log(s), s ** x * np.log(s))),
        "where(x > mu, log(s), s)": (np.where(x > mu, np.log(s), s), 0 * x),
    }[text]


def test_where_on_single_value_parameters_compiles_and_poisons_nothing_in_a_new_process(tmp_path):
    env = dict(os.environ, THEANO_FLAGS=f"elemgrad__cache_dir={tmp_path}")
    run = subprocess.run([sys.executable, "-c", FRESH_PROCESS], env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    for r in json.loads(run.stdout):
        x = np.linspace(-1.95, 1.95, 26)  # no point on the boundary x = mu; float32 rounds x
        rtol = 1e-14 if r["dtype"] == "float64" else 2e-6
        assert set(r["dtypes"]) == {r["dtype"]}
        if r["text"] == "poison":
            np.testing.assert_allclose(r["value"], np.where(x > 0.3, np.log(0.7), 0.7), rtol=rtol)
            continue
        value, slope = closed_forms(r["text"], x.astype(r["dtype"]).astype(float), r["mu"], r["s"])
        np.testing.assert_allclose(r["value"], value, rtol=rtol, atol=rtol, err_msg=r["text"])
        np.testing.assert_allclose(r["slope"], slope, rtol=rtol, atol=rtol, err_msg=r["text"])
        np.testing.assert_array_equal(r["derivative"], r["slope"])


def orphans(composite):
    fg = composite.fgraph
    return [v for v in fg.variables if v.owner is None and v not in fg.inputs and not isinstance(v, Constant)]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_generating_a_hoisted_kernel_leaves_the_shared_scalar_graph_intact(dtype):
    fn = eg.compile("where(x > mu, log(s)*x, s**x)", orders=(0, 1), wrt="x", device="cpu")
    fused = make_plan(fn._source, fn._indices, dtype, 0).fused
    hoisted = hoist(fused.composite, (1, 2))
    # conditions stay per element (hoist.py keeps comparisons out of the part done once, since
    # the kink rule's s == 0 of s**x's derivative is one): what is hoisted is float work only
    assert {t.dtype for t in hoisted.once.outputs_type} <= {dtype}
    codegen.c_source(fused, ["f", "df"], hoisted=hoisted)
    for composite in (fused.composite, hoisted.once, hoisted.each):
        assert orphans(composite) == []
    again = make_plan(fn._source, fn._indices, dtype, 0).fused.composite  # shares the interned nodes
    assert orphans(again) == []
    fused.fgraph()  # the fused graph as a PyTensor graph: same rule
    assert orphans(fused.composite) == []


CONDITIONS = ["mu > 0", "s > mu", "s <= 0.9", "x > 0.7", "x*x < 1.5", "x > mu", "x*s > mu", "s - x < mu"]
BRANCHES = ["x*s", "log(s)*x", "s**x", "exp(mu)*x", "sin(x)*mu", "0", "x", "mu"]
NUMPY = dict(where=np.where, log=np.log, exp=np.exp, sin=np.sin)


def random_expressions(count=6, seed=13):
    rng = np.random.default_rng(seed)
    picked = [(CONDITIONS[k], *rng.choice(BRANCHES, 2, replace=False)) for k in rng.permutation(len(CONDITIONS))]
    return [f"where({c}, {a}, {b})" for c, a, b in picked[:count]]


@pytest.mark.parametrize("text", random_expressions())
def test_where_conditions_on_parameters_on_x_and_on_both(text):
    fn = eg.compile(text, wrt="x", orders=(0, 1), device="cpu")
    x = np.linspace(-1.93, 1.97, 1001)
    h = 1e-6
    for mu, s in ((0.3, 0.7), (-0.6, 1.6), (0.0, 0.9)):
        env = {"x": x, "mu": mu, "s": s}
        args = [env[n] for n in fn.inputs]
        value, slope = fn(*args)
        broadcast = fn(*[np.full(x.shape, a) for a in args])
        np.testing.assert_array_equal(value, broadcast[0])  # hoisting changes no bit
        np.testing.assert_array_equal(slope, broadcast[1])
        f = lambda t: np.broadcast_to(eval(text, NUMPY, {**env, "x": t}), x.shape)  # noqa: E731, S307
        np.testing.assert_allclose(value, f(x), rtol=1e-14, atol=1e-15)
        condition = text[6:text.index(",")]
        flips = eval(condition, NUMPY, {**env, "x": x - 1e-4}) != eval(condition, NUMPY, {**env, "x": x + 1e-4})
        central = (f(x + h) - f(x - h)) / (2 * h)
        keep = ~np.broadcast_to(flips, x.shape)
        np.testing.assert_allclose(slope[keep], central[keep], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.filterwarnings("ignore:.*encountered in elemgrad_gpu_kernel:RuntimeWarning")
def test_where_on_a_parameter_gives_bitwise_the_results_of_broadcast_arrays(dtype):
    fn = eg.compile("where(s > mu, log(s)*x, s**x) + where(mu > 0, x, 2*x)", wrt="x", orders=(0, 1), device="cpu")
    x = np.random.default_rng(5).uniform(-3, 3, 131_085).astype(dtype)  # above the split across threads
    x[[5, 300, -3]] = [np.inf, -np.inf, np.nan]
    for mu, s in ((0.3, 0.7), (-0.6, 1.6), (0.5, 0.5), (0.0, 0.0)):
        env = {"x": x, "mu": mu, "s": s}
        single = fn(**env)
        broadcast = fn(**{n: x if n == "x" else np.full(x.shape, v, dtype) for n, v in env.items()})
        for got, want in zip(single, broadcast):
            assert got.dtype == dtype
            np.testing.assert_array_equal(got, want)

"""PyMC: logp + dlogp of the example model (examples/pymc_student_t.py) at n = 10^6, ours against
plain PyMC in its modes; and the Op's per-call cost inside a compiled pytensor.function at n = 1,000.

Runs where PyMC installs (PyTensor 2.38 on Python 3.11):
    .venv238/bin/pytest benchmarks/test_pymc.py --benchmark-columns=median,iqr,rounds
Ratios are read from one run (docs/PERFORMANCE.md, "PyMC").
"""
import sys
from pathlib import Path

import numpy as np
import pytest

pm = pytest.importorskip("pymc", reason="PyMC installs beside PyTensor 2.38")
import pytensor  # noqa: E402
import pytensor.tensor as pt  # noqa: E402
from pytensor.compile.mode import Mode  # noqa: E402

import elemgrad_gpu as eg  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
import pymc_student_t as example  # noqa: E402

N = 10 ** 6
POINT = {"mu": 0.7, "sigma_log__": np.log(1.8)}
MODES = {"default": None, "c": Mode(linker="cvm"), "numba": Mode(linker="numba")}
try:
    import jax  # noqa: F401
    MODES["jax"] = Mode(linker="jax")
except ImportError:
    pass


@pytest.fixture(scope="module")
def data():
    return example.data(N)


def logp_dlogp(model, mode):
    """logp and dlogp in one compiled function, as a sampler calls them."""
    return model.compile_fn([model.logp(), model.dlogp()], mode=mode, point_fn=True)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("model", ["elemgrad_gpu", "pymc"])
def test_logp_dlogp_n_1e6(benchmark, data, model, mode):
    if model == "elemgrad_gpu" and mode == "jax":
        pytest.skip("the Op runs in PyTensor's C, Python and Numba modes; JAX is the adapter of issue 19")
    built = example.ours(data) if model == "elemgrad_gpu" else example.plain(data)
    fn = logp_dlogp(built, MODES[mode])
    logp, dlogp = fn(POINT)
    assert np.isfinite(logp) and np.all(np.isfinite(dlogp))
    benchmark(fn, POINT)


@pytest.mark.parametrize("mode", ["numba", "c"])
@pytest.mark.parametrize("call", ["op_in_function", "kernel_alone"])
def test_op_overhead_n_1000(benchmark, call, mode):
    fn = eg.compile("tanh(x)**2", derivatives=[()], device="cpu")
    x_value = np.random.default_rng(0).normal(size=1000)
    if call == "kernel_alone":
        out = (np.empty(1000),)
        fn(x_value, out=out)
        benchmark(fn, x_value, out=out)
        return
    x = pt.dvector("x")
    f = pytensor.function([x], fn.as_op()(x), mode=MODES[mode])
    f.trust_input = True
    f(x_value)
    benchmark(f, x_value)

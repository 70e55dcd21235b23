"""benchmarks/gpu_launch.py's host-time table on the CPU emulation of CuPy: every function, dtype and
way of calling is there, and its RawKernel launch computes what the plain call computes (its
times mean nothing off a GPU: none is checked)."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from cuda_emulator import LAUNCHES, emulated_cupy
from elemgrad_gpu.backends.cuda import backend as backend_cuda
from elemgrad_gpu.bench.peers import FUNCTIONS

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_launch.py"


@pytest.fixture
def launch_script(monkeypatch):
    emulated = emulated_cupy()
    monkeypatch.setattr(backend_cuda, "cupy", lambda: emulated)
    backend_cuda.status.cache_clear()
    spec = importlib.util.spec_from_file_location("gpu_launch", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module, emulated
    backend_cuda.status.cache_clear()


def test_the_host_table_has_every_function_dtype_and_way_of_calling(launch_script):
    script, cp = launch_script
    rows = script.host_times(cp, count=2)
    assert [(r["function"], r["dtype"]) for r in rows] == [(f, d) for d in ("float32", "float64") for f in FUNCTIONS]
    assert all(r[column] > 0 for r in rows for column in script.COLUMNS)
    table = script.host_table(rows).splitlines()
    assert table[2] == "| function | dtype | plain, out= | plain, new outputs | bound | RawKernel |"
    assert len(table) == 4 + len(rows)


@pytest.mark.parametrize("name", list(FUNCTIONS))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_rawkernel_launch_computes_what_the_plain_call_computes(launch_script, name, dtype):
    script, cp = launch_script
    made = script.calls(cp, name, dtype)
    plain = [cp.asnumpy(a).copy() for a in made["plain, new outputs"]()]
    out = made["plain, out="].keywords["out"]
    for o in out:
        o[...] = cp.asarray(np.zeros(o.shape, o.dtype))
    before = LAUNCHES.copy()
    made["RawKernel"]()
    assert (LAUNCHES - before)["function"] == 1  # CuPy's launch, not the driver's
    for got, want in zip(out, plain):
        np.testing.assert_array_equal(cp.asnumpy(got), want)

"""GPU: value and derivatives, elemgrad_gpu beside its peers on the device, in one pytest-benchmark run.

    pytest benchmarks/test_gpu_peers.py --benchmark-json=gpu.json && python benchmarks/report.py gpu.json

Needs CuPy and a CUDA device (skipped otherwise); run by benchmarks/gpu_check.sh. The
cases of test_cpu_peers.py (the same functions, orders, dtypes and checks) at
n = 10^3 (per-call cost) and 512 MiB of input (n = 2^27 float32, 2^26 float64), with
the device-to-device copy of the same sizes as the bandwidth ceiling. Tools:
elemgrad_gpu (device cuda, outputs preallocated; and its call bound once with
``fn.bind``, as in a loop over the same buffers), a CuPy ElementwiseKernel written by
hand (outputs preallocated), JAX jit(vmap(value_and_grad)), PyTorch eager autograd and
torch.compile; a peer without the GPU is skipped, saying so. Inputs are on the device
before timing, and each timed call ends with a device synchronization.
"""
import os

import numpy as np
import pytest

from suite import GPU_SIZES, Case, cases, run_case, size_label

os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # JAX would take 75% of the memory up front
cp = pytest.importorskip("cupy")
try:
    HAVE_GPU = cp.cuda.runtime.getDeviceCount() > 0
except cp.cuda.runtime.CUDARuntimeError:
    HAVE_GPU = False
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not HAVE_GPU, reason="no CUDA device")]

TOOLS = ("elemgrad_gpu", "elemgrad_gpu bound", "cupy by hand", "jax", "pytorch", "torch.compile")
ON_THE_GPU = {"elemgrad_gpu": {"device": "cuda", "preallocate": True},
              "elemgrad_gpu bound": {"device": "cuda"}, "jax": {"device": "gpu"},
              "pytorch": {"device": "cuda"}, "torch.compile": {"device": "cuda"}}


def gpu_name() -> str:
    """The device's name, as CUDA reports it, for extra_info (the report's header reads it)."""
    return cp.cuda.runtime.getDeviceProperties(0)["name"].decode()


def timed(benchmark, call):
    """30 rounds after 3 warm-up rounds, each call followed by a device synchronization."""
    def synchronized():
        result = call()
        cp.cuda.Device().synchronize()
        return result

    return benchmark.pedantic(synchronized, rounds=30, warmup_rounds=3)


def skip_unless_on_the_gpu(tool: str) -> None:
    """Skip a JAX or PyTorch case where that library has no GPU here."""
    if tool == "jax" and pytest.importorskip("jax").default_backend() != "gpu":
        pytest.skip("JAX has no GPU here")
    if tool in ("pytorch", "torch.compile") and not pytest.importorskip("torch").cuda.is_available():
        pytest.skip("PyTorch has no CUDA here")


@pytest.mark.parametrize("case", cases(GPU_SIZES, TOOLS))
def test_gpu(benchmark, case: Case):
    skip_unless_on_the_gpu(case.tool)
    run_case(benchmark, case, timed, extra={"gpu": gpu_name()}, **ON_THE_GPU.get(case.tool, {}))


@pytest.mark.parametrize(("dtype", "n"), [(dtype, n) for dtype, sizes in GPU_SIZES.items() for n in sizes])
def test_device_copy(benchmark, dtype: str, n: int):
    """The bandwidth ceiling: read x once, write it once (report.py's "of copy" column divides by it)."""
    x = cp.linspace(-4, 4, n, dtype=dtype)
    y = cp.empty_like(x)
    benchmark.group = f"copy {dtype} n={size_label(n)}"
    benchmark.extra_info.update(function="copy", derivatives="", dtype=dtype, n=n, tool="device copy",
                                version=cp.__version__, bytes=2 * x.nbytes, gpu=gpu_name())
    timed(benchmark, lambda: cp.copyto(y, x))
    assert np.array_equal(y.get(), x.get())

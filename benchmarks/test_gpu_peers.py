"""GPU: value + first derivative at n = 2^27 float32, elemgrad_gpu beside its peers, same run.

Needs CuPy and a CUDA device (skipped otherwise); run by benchmarks/gpu_check.sh. Every
tool writes into preallocated device memory where it can, and each timed call ends
with a device synchronization.
"""
import numpy as np
import pytest

import elemgrad_gpu as eg

cp = pytest.importorskip("cupy")
try:
    HAVE_GPU = cp.cuda.runtime.getDeviceCount() > 0
except cp.cuda.runtime.CUDARuntimeError:
    HAVE_GPU = False
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not HAVE_GPU, reason="no CUDA device")]

N = 2 ** 27
FUNCTIONS = {
    "tanh^2": ("tanh(x)**2", "t = tanh(x); y = t * t; dy = 2 * t * (1 - t * t)"),
    "softplus": ("softplus(x)", "y = log1p(exp(-fabs(x))) + fmax(x, (T)0); dy = 1 / (1 + exp(-x))"),
}


def synchronized(function):
    def run(*args):
        result = function(*args)
        cp.cuda.Device().synchronize()
        return result

    return run


@pytest.fixture(scope="module")
def x():
    return cp.linspace(-4, 4, N, dtype=cp.float32)


def test_device_copy(benchmark, x):
    """The bandwidth ceiling: read 4 bytes, write 4 bytes per element."""
    benchmark.group = "gpu vg float32 n=2^27"
    benchmark.extra_info["bytes"] = 8 * N
    y = cp.empty_like(x)
    benchmark.pedantic(synchronized(lambda: cp.copyto(y, x)), rounds=30, warmup_rounds=3)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_elemgrad_gpu(benchmark, x, name):
    benchmark.group = "gpu vg float32 n=2^27"
    benchmark.extra_info["bytes"] = 12 * N
    fn = eg.compile(FUNCTIONS[name][0], orders=(0, 1), device="cuda")
    out = (cp.empty_like(x), cp.empty_like(x))
    benchmark.pedantic(synchronized(lambda: fn(x, out=out)), rounds=30, warmup_rounds=3)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_cupy_elementwise_kernel_by_hand(benchmark, x, name):
    benchmark.group = "gpu vg float32 n=2^27"
    benchmark.extra_info["bytes"] = 12 * N
    kernel = cp.ElementwiseKernel("T x", "T y, T dy", FUNCTIONS[name][1].replace("t =", "T t ="), f"vg_{id(name)}")
    out = (cp.empty_like(x), cp.empty_like(x))
    benchmark.pedantic(synchronized(lambda: kernel(x, *out)), rounds=30, warmup_rounds=3)


def test_jax_value_and_grad(benchmark, x):
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    if jax.default_backend() != "gpu":
        pytest.skip("JAX has no GPU here")
    benchmark.group = "gpu vg float32 n=2^27"
    benchmark.extra_info["bytes"] = 12 * N
    vg = jax.jit(jax.vmap(jax.value_and_grad(lambda v: jnp.tanh(v) ** 2)))
    xj = jnp.asarray(np.linspace(-4, 4, N, dtype=np.float32))
    benchmark.pedantic(lambda: jax.block_until_ready(vg(xj)), rounds=30, warmup_rounds=3)


def test_torch_compile(benchmark, x):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("PyTorch has no CUDA here")
    benchmark.group = "gpu vg float32 n=2^27"
    benchmark.extra_info["bytes"] = 12 * N
    from torch.func import grad_and_value, vmap

    vg = torch.compile(vmap(grad_and_value(lambda v: torch.tanh(v) ** 2)))
    xt = torch.linspace(-4, 4, N, device="cuda", dtype=torch.float32)

    def run():
        result = vg(xt)
        torch.cuda.synchronize()
        return result

    benchmark.pedantic(run, rounds=30, warmup_rounds=3)

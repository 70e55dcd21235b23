"""jacobian_diagonal with device="cuda": an elementwise f runs its fused kernel on the GPU (host
arrays in, host arrays out), so does a stencil (the fused stencil engine, one pass); a structure
only the colouring engine answers (a banded matrix product) is refused, naming the CPU, before
anything runs. On the GPU (marked ``gpu``: benchmarks/gpu_check.sh) and on the CPU emulation
of CuPy (tests/cuda_emulator.py)."""
import numpy as np
import pytensor.tensor as pt
import pytest

import elemgrad_gpu as eg
from cuda_emulator import LAUNCHES, emulated_cupy
from elemgrad_gpu.backends.cuda import backend as backend_cuda


@pytest.fixture(params=["emulated", pytest.param("cupy", marks=pytest.mark.gpu)])
def gpu(request, monkeypatch):
    """Whether the GPU is the emulation (whose launches LAUNCHES counts), with CuPy or it in place."""
    if request.param == "cupy":
        pytest.importorskip("cupy")
        return False
    emulated = emulated_cupy()
    monkeypatch.setattr(backend_cuda, "cupy", lambda: emulated)
    backend_cuda.status.cache_clear()
    request.addfinalizer(backend_cuda.status.cache_clear)
    return True


def stencil(x):
    """A tridiagonal stencil: dy_i/dx_i = -2 inside, 0 at the padded ends."""
    return pt.concatenate([pt.zeros((1,), dtype=x.dtype), x[2:] - 2 * x[1:-1] + x[:-2], pt.zeros((1,), dtype=x.dtype)])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_elementwise_plan_runs_on_the_gpu(gpu, dtype):
    fn = eg.jacobian_diagonal(lambda x: pt.tanh(x) ** 2, orders=(0, 1, 2), device="cuda")
    x = np.linspace(-3, 3, 5001).astype(dtype)
    launched = LAUNCHES.copy()
    value, slope, curvature = fn(x)
    assert fn.method == "elementwise" and isinstance(slope, np.ndarray) and slope.dtype == dtype
    if gpu:
        assert (LAUNCHES - launched)["eg_vectorized"] == 1  # the CUDA kernel ran (on the emulation)
    t = np.tanh(x.astype(np.float64))
    tolerance = 2e-6 if dtype == "float32" else 1e-13
    np.testing.assert_allclose(value, t * t, rtol=tolerance, atol=tolerance)
    np.testing.assert_allclose(slope, 2 * t * (1 - t * t), rtol=tolerance, atol=tolerance)
    np.testing.assert_allclose(curvature, 2 * (1 - t * t) * (1 - 3 * t * t), rtol=4 * tolerance, atol=4 * tolerance)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_stencil_plan_runs_on_the_gpu(gpu, dtype):
    fn = eg.jacobian_diagonal(stencil, orders=(0, 1), device="cuda")
    x = np.random.default_rng(20).uniform(-1, 1, 5001).astype(dtype)
    launched = LAUNCHES.copy()
    value, slope = fn(x)
    assert (fn.method.startswith("stencil"), fn.passes, fn.engine) == (True, 1, "fused stencil kernel")
    if gpu:
        assert sum((LAUNCHES - launched).values()) >= 1  # kernels ran on the (emulated) device
    assert isinstance(slope, np.ndarray) and slope.dtype == dtype
    np.testing.assert_array_equal(slope, np.r_[0.0, np.full(4999, -2.0), 0.0].astype(dtype))
    tolerance = 1e-6 if dtype == "float32" else 1e-15
    np.testing.assert_allclose(value, np.r_[0.0, x[2:] - 2 * x[1:-1] + x[:-2], 0.0], atol=tolerance)


def test_a_colouring_plan_is_refused_on_the_gpu_naming_the_cpu(gpu):
    banded = np.eye(50) + np.eye(50, k=1) + np.eye(50, k=-1)
    launched = LAUNCHES.copy()
    with pytest.raises(eg.DeviceError, match="CPU only"):
        eg.jacobian_diagonal(lambda x: pt.dot(banded, pt.sin(x)), device="cuda")(np.ones(50))
    assert LAUNCHES == launched
    np.testing.assert_allclose(eg.jacobian_diagonal(lambda x: pt.dot(banded, pt.sin(x)), device="cpu")(np.ones(50)),
                               np.full(50, np.cos(1.0)), rtol=1e-15)

"""The CPU emulation of CUDA that runs tests/backends/test_gpu.py without a GPU: it computes what a
GPU would, and refuses what a GPU would run wrongly."""
import numpy as np
import pytest

from cuda_emulator import EmulationError, emulated_cupy

KERNELS = r"""
extern "C" __global__ void axpy(const long long n, const double a, const double *__restrict__ x, double *y)
{
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)blockDim.x * gridDim.x)
        y[i] = a * x[i] + y[i];
}
extern "C" __global__ void past_the_end(const long long n, double *y)
{
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i <= n) y[i] = 1.0;
}
extern "C" __global__ void from_the_left(const long long n, double *y)
{
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i + 1 < n) y[i + 1] = y[i] + 1.0;  /* reads what another thread writes */
}
"""


@pytest.fixture(scope="module")
def cp():
    return emulated_cupy()


@pytest.fixture(scope="module")
def module(cp):
    return cp.RawModule(code=KERNELS)


def test_a_grid_stride_kernel_computes_every_element_once(cp, module):
    x, y = cp.linspace(0, 1, 1001), cp.ones(1001)
    module.get_function("axpy").kernel((3,), (64,), (np.int64(1001), np.float64(2.5), x, y))
    np.testing.assert_array_equal(cp.asnumpy(y), 2.5 * np.linspace(0, 1, 1001) + 1)


def test_arguments_must_match_the_parameters_as_cupy_packs_them(cp, module):
    axpy = module.get_function("axpy").kernel
    x, y = cp.ones(8), cp.ones(8)
    with pytest.raises(EmulationError, match="takes 4 arguments, launched with 3"):
        axpy((1,), (8,), (np.int64(8), x, y))
    with pytest.raises(EmulationError, match="argument 0 is int32, the parameter 8 bytes"):
        axpy((1,), (8,), (np.int32(8), np.float64(1), x, y))
    with pytest.raises(EmulationError, match="argument 2 should be a device array of 8-byte items"):
        axpy((1,), (8,), (8, 1.0, np.ones(8), y))  # a host array
    with pytest.raises(EmulationError, match="argument 3 should be a device array of 8-byte items"):
        axpy((1,), (8,), (8, 1.0, x, cp.ones(8, dtype=np.float32)))
    with pytest.raises(EmulationError, match="argument 1 should be a 8-byte value, not .*ndarray"):
        axpy((1,), (8,), (8, x, 1.0, y))  # a pointer and a value swapped
    with pytest.raises(EmulationError, match="outside CUDA's limits"):
        axpy((1,), (2048,), (8, 1.0, x, y))
    np.testing.assert_array_equal(cp.asnumpy(y), np.ones(8))  # nothing ran


def test_a_write_past_an_array_is_caught(cp, module):
    with pytest.raises(EmulationError, match="past_the_end wrote outside an array"):
        module.get_function("past_the_end").kernel((1,), (32,), (np.int64(16), cp.zeros(16)))


def test_threads_run_out_of_order(cp, module):
    y = cp.zeros(1000)
    module.get_function("from_the_left").kernel((8,), (128,), (np.int64(1000), y))
    in_order = np.arange(1000.0)  # what thread after thread in index order would leave
    assert not np.array_equal(cp.asnumpy(y), in_order)


def test_device_arrays_are_not_host_arrays(cp):
    x = cp.linspace(0, 1, 5)
    with pytest.raises(TypeError, match="Implicit conversion to a NumPy array"):
        np.asarray(x)
    assert x.data.ptr % 256 == 0 and x[1:].data.ptr == x.data.ptr + 8
    with pytest.raises(TypeError):
        x[:] = np.zeros(5)


def packed(*values):
    """cuLaunchKernel's kernelParams for 8-byte ``values``: the address of the pointers to their slots."""
    import ctypes

    slots = (ctypes.c_uint64 * len(values))(*values)
    pointers = (ctypes.c_void_p * len(values))(*[ctypes.addressof(slots) + 8 * k for k in range(len(values))])
    return ctypes.addressof(pointers), (slots, pointers)


def test_a_driver_launch_reads_the_packed_arguments(cp, module):
    x, y = cp.linspace(0, 1, 1001), cp.ones(1001)
    axpy = module.get_function("axpy").kernel
    params, kept = packed(1001, int(np.float64(2.5).view(np.uint64)), x.data.ptr, y.data.ptr)
    cp.cuda.driver.launchKernel(axpy.ptr, 3, 1, 1, 64, 1, 1, 0, cp.cuda.get_current_stream().ptr, params, 0)
    np.testing.assert_array_equal(cp.asnumpy(y), 2.5 * np.linspace(0, 1, 1001) + 1)
    host = np.zeros(1001)
    params, kept = packed(1001, 0, host.ctypes.data, y.data.ptr)
    with pytest.raises(EmulationError, match="argument 2 .* points into no device allocation"):
        cp.cuda.driver.launchKernel(axpy.ptr, 3, 1, 1, 64, 1, 1, 0, 0, params, 0)


def test_arrays_belong_to_the_device_current_when_made_and_launch_there_only(module):
    two = emulated_cupy(devices=2)
    try:
        with two.cuda.Device(1):
            x, y = two.linspace(0, 1, 100), two.ones(100)
        assert x.device.id == 1 and x[10:].device.id == 1 and two.cuda.runtime.getDevice() == 0
        axpy = module.get_function("axpy").kernel
        with pytest.raises(EmulationError, match="argument 2 is on device 1, the launch on device 0"):
            axpy((1,), (64,), (np.int64(100), np.float64(2.0), x, y))
        with two.cuda.Device(1):
            axpy((1,), (64,), (np.int64(100), np.float64(2.0), x, y))
        np.testing.assert_array_equal(two.asnumpy(y), 2 * np.linspace(0, 1, 100) + 1)
        with pytest.raises(Exception, match="invalid device ordinal"):
            two.cuda.Device(2)
    finally:
        emulated_cupy()  # one device again, for the other tests

"""Device selection, CPU fallback and GPU-side helpers, tested without a GPU (CuPy faked)."""
import itertools
import logging
import math
import types
import weakref

import numpy as np
import pytest

import elemgrad_gpu as eg
from elemgrad_gpu.backends.cuda import backend as backend_cuda
from elemgrad_gpu.runtime import device


class FakeCuda:
    """Just enough of cupy.cuda for device selection: a count, names, a Device context that
    makes its device the current one."""

    def __init__(self, count=1, error=None):
        def count_devices():
            if error:
                raise error
            return count

        self.current = 0
        self.runtime = types.SimpleNamespace(getDeviceCount=count_devices, getDevice=lambda: self.current,
                                             getDeviceProperties=lambda i: {"name": b"Fake GPU"})
        cuda = self

        class Device:
            attributes = {"MultiProcessorCount": 2}

            def __init__(self, index=0):
                self.index = index

            def __enter__(self):
                self.previous, cuda.current = cuda.current, self.index
                return self

            def __exit__(self, *exc):
                cuda.current = self.previous
                return False

        self.Device = Device


def fake_cupy(count=1, error=None, compile_error=None):
    def raw_module(**kwargs):
        raise compile_error or RuntimeError("NVRTC unavailable in this fake")

    return types.SimpleNamespace(cuda=FakeCuda(count, error), ndarray=type("ndarray", (), {}), RawModule=raw_module)


@pytest.fixture
def cupy_as(monkeypatch):
    """Replace CuPy by a fake (or by None: not installed) for device selection."""
    monkeypatch.delenv("THEANO_FLAGS", raising=False)
    monkeypatch.setenv("THEANORC", "")

    def install(fake):
        def get():
            if fake is None:
                raise ImportError("No module named 'cupy'")
            return fake

        monkeypatch.setattr(backend_cuda, "cupy", get)
        backend_cuda.status.cache_clear()

    yield install
    backend_cuda.status.cache_clear()


def test_without_cupy_auto_runs_on_the_cpu_and_cuda_says_what_is_missing(cupy_as, caplog):
    cupy_as(None)
    with caplog.at_level(logging.INFO, logger="elemgrad_gpu"):
        fn = eg.compile("tanh(x)**2", orders=(0, 1))
    assert fn.device == "cpu" and fn.backend == "c"
    value, slope = fn(np.array([0.5]))
    np.testing.assert_allclose(slope, 2 * np.tanh(0.5) / np.cosh(0.5) ** 2, rtol=1e-15)
    for name in ("cuda", "cuda:0", "gpu"):
        with pytest.raises(eg.DeviceError, match="CuPy is not installed"):
            eg.compile("tanh(x)**2", device=name)
    listed = eg.devices()
    assert listed[0]["device"] == "cpu" and listed[0]["available"]
    assert not listed[1]["available"] and "CuPy is not installed" in listed[1]["detail"]


def test_auto_logs_its_choice_once(cupy_as, caplog):
    cupy_as(None)
    device._announce.cache_clear()
    with caplog.at_level(logging.INFO, logger="elemgrad_gpu"):
        eg.compile("x")
        eg.compile("x*2")
    assert [r.getMessage() for r in caplog.records].count(
        "elemgrad_gpu: device='auto' runs on cpu (CuPy is not installed (pip install 'elemgrad_gpu[cuda12]' "
        "or '[cuda13]'))") == 1


def test_a_broken_driver_is_named(cupy_as):
    cupy_as(fake_cupy(error=RuntimeError("cudaErrorInsufficientDriver")))
    with pytest.raises(eg.DeviceError, match="no usable CUDA driver.*InsufficientDriver"):
        eg.compile("x", device="cuda")
    assert eg.compile("x").device == "cpu"


def test_no_visible_device(cupy_as):
    cupy_as(fake_cupy(count=0))
    with pytest.raises(eg.DeviceError, match="no CUDA device is visible"):
        eg.compile("x", device="cuda:0")


def test_auto_picks_the_gpu_when_cupy_sees_one(cupy_as):
    cupy_as(fake_cupy(count=2))
    fn = eg.compile("tanh(x)**2")
    assert fn.device == "cuda:0" and fn.backend == "cuda"
    assert eg.compile("x", device="cuda:1").device == "cuda:1"
    with pytest.raises(eg.DeviceError, match="there are 2 CUDA devices"):
        eg.compile("x", device="cuda:2")
    assert [d["device"] for d in eg.devices()] == ["cpu", "cuda:0", "cuda:1"]


def test_auto_falls_back_to_the_cpu_with_a_warning_when_cuda_cannot_compile(cupy_as):
    cupy_as(fake_cupy(compile_error=RuntimeError("no CUDA code for op Frobnicate")))
    fn = eg.compile("sigmoid(x)", orders=(0, 1))
    with pytest.warns(RuntimeWarning, match="running on the CPU instead of cuda:0.*Frobnicate"):
        value, slope = fn(np.array([0.0, 2.0]))
    s = 1 / (1 + np.exp(-np.array([0.0, 2.0])))
    np.testing.assert_allclose(slope, s * (1 - s), rtol=1e-15)


def test_explicit_cuda_raises_when_cuda_cannot_compile(cupy_as):
    cupy_as(fake_cupy(compile_error=RuntimeError("no CUDA code for op Frobnicate")))
    fn = eg.compile("sigmoid(x)", device="cuda")
    with pytest.raises(RuntimeError, match="Frobnicate"):
        fn(np.array([0.0]))


def test_gpu_arrays_given_to_a_cpu_function_are_refused():
    class OnGpu:
        __cuda_array_interface__ = {"shape": (3,), "typestr": "<f8", "data": (0, False), "version": 3}

    with pytest.raises(eg.InputTypeError, match="'x' is a GPU array but this function runs on the CPU"):
        eg.compile("x*mu", device="cpu")(OnGpu(), 1.0)


def test_merge_dimensions_folds_contiguous_and_broadcast_axes():
    dims, strides = backend_cuda.merge_dimensions((4, 5, 6), [[30, 6, 1], [0, 0, 0], [0, 0, 1]])
    assert dims == [20, 6] and strides == [[6, 1], [0, 0], [0, 1]]
    dims, _ = backend_cuda.merge_dimensions((4, 5, 6), [[30, 6, 1], [0, 1, 0]])  # a column: no merge
    assert dims == [4, 5, 6]
    dims, strides = backend_cuda.merge_dimensions((4, 5), [[5, 1], [0, 0]])
    assert dims == [20] and strides == [[1], [0]]
    assert backend_cuda.merge_dimensions((1, 1), [[0, 0]]) == ([1], [[0]])
    dims, strides = backend_cuda.merge_dimensions((3, 4), [[-4, -1]])  # a reversed contiguous view
    assert dims == [12] and strides == [[-1]]


def test_out_fills_preallocated_outputs():
    fn = eg.compile("tanh(x)**2", orders=(0, 1))
    x = np.linspace(-2, 2, 7)
    out = (np.empty(7), np.empty(7))
    result = fn(x, out=out)
    assert result[0] is out[0] and result[1] is out[1]
    np.testing.assert_array_equal(out[1], fn(x)[1])
    single = eg.compile("tanh(x)")
    target = np.empty(7)
    assert single(x, out=target) is target


@pytest.mark.parametrize("out, message", [
    ((np.empty(7),), "holds 1 arrays but the function returns 2"),
    ((np.empty(7), np.empty(6)), r"out\[1\] must be a writeable C-contiguous float64 array of shape \(7,\)"),
    ((np.empty(7), np.empty(7, np.float32)), r"out\[1\]"),
    ((np.empty(7), np.empty(14)[::2]), r"out\[1\]"),
    ((np.empty(7), [0.0] * 7), r"out\[1\] must be a numpy.ndarray"),
])
def test_bad_out_is_refused_before_any_work(out, message):
    with pytest.raises((eg.InputError, eg.InputTypeError), match=message):
        eg.compile("tanh(x)**2", orders=(0, 1))(np.linspace(-2, 2, 7), out=out)


def test_an_input_called_out_is_refused_at_compile():
    """out= passes preallocated outputs, so an input may not take the name (docs/USER_GUIDE.md)."""
    with pytest.raises(eg.ExpressionError, match="cannot be named 'out'.*rename"):
        eg.compile("out * 2 + x", wrt="x")


DEFAULT = backend_cuda.Launch(backend_cuda.THREADS, backend_cuda.BLOCKS_PER_SM)


def fake_device_array(size, contiguous=True, pointer=1 << 20):
    return types.SimpleNamespace(size=size, flags=types.SimpleNamespace(c_contiguous=contiguous),
                                 data=types.SimpleNamespace(ptr=pointer))


@pytest.mark.parametrize("itemsize, per_vector", [(4, 4), (8, 2)])
def test_launch_choice_takes_16_byte_vectors_only_where_every_array_allows(itemsize, per_vector):
    n, sms = 10 ** 6 + 3, 132
    x, scalar, out = fake_device_array(n), fake_device_array(1, pointer=(1 << 20) + 4), fake_device_array(n)
    name, blocks = DEFAULT.choose(n, [x, scalar], [out], itemsize, sms)
    assert name == "eg_vectorized"  # a scalar's alignment does not matter: it is read once
    assert blocks == -(-(n // per_vector) // DEFAULT.threads)
    shifted = fake_device_array(n, pointer=(1 << 20) + itemsize)  # a view starting one element in
    assert DEFAULT.choose(n, [shifted, scalar], [out], itemsize, sms)[0] == "eg_contiguous"
    assert DEFAULT.choose(n, [x], [shifted], itemsize, sms)[0] == "eg_contiguous"
    strided = fake_device_array(n, contiguous=False)
    assert DEFAULT.choose(n, [strided, x], [out], itemsize, sms)[0] == "eg_strided"
    assert DEFAULT.choose(n, [fake_device_array(7)], [out], itemsize, sms)[0] == "eg_strided"


def test_launch_choice_caps_the_grid_and_always_starts_a_block():
    big = 2 ** 33
    arrays = [fake_device_array(big)]
    assert backend_cuda.Launch(256, 32).choose(big, arrays, arrays, 4, 132) == ("eg_vectorized", 132 * 32)
    assert backend_cuda.Launch(32, 0).choose(2 ** 40, arrays, arrays, 8, 132) == ("eg_strided", 2 ** 31 - 1)
    one = [fake_device_array(1)]
    assert DEFAULT.choose(1, one, one, 8, 132) == ("eg_vectorized", 1)  # the tail threads do it


def test_the_launch_shape_comes_from_the_configuration(monkeypatch):
    monkeypatch.delenv("THEANORC", raising=False)
    monkeypatch.setenv("THEANO_FLAGS", "elemgrad__cuda_threads=512,elemgrad__cuda_blocks_per_sm=16")
    launch = backend_cuda.Launch.configured()
    assert launch == (512, 16)
    big = [fake_device_array(2 ** 33)]
    assert launch.choose(2 ** 33, big, big, 4, 132) == ("eg_vectorized", 16 * 132)
    monkeypatch.setenv("THEANO_FLAGS", "elemgrad__cuda_blocks_per_sm=0")
    no_cap = backend_cuda.Launch.configured()
    assert no_cap == (DEFAULT.threads, 0)
    assert no_cap.choose(2 ** 33, big, big, 4, 132) == ("eg_vectorized", 2 ** 31 // DEFAULT.threads)  # one step each


class FakeOutOfMemoryError(MemoryError):
    """Stands for cupy.cuda.memory.OutOfMemoryError."""


class FakeCUDARuntimeError(RuntimeError):
    """Stands for cupy.cuda.runtime.CUDARuntimeError."""

    def __init__(self, status):
        super().__init__(f"cudaError {status}")
        self.status = status


class FakeDeviceMemory:
    """A GPU of ``budget`` bytes: the arrays alive, and the blocks the pool caches when they die.

    Unlike CuPy's pool it does not free its cache and retry when an allocation does not
    fit, so a test sees whether the caller freed it. Past the budget it raises CuPy's
    out-of-memory error, or a CUDA runtime error of ``status``.
    """

    def __init__(self, budget, status=None):
        self.budget, self.status = budget, status
        self.live: dict[int, int] = {}
        self.cached = 0
        self.launches = 0
        self.launched: list[str] = []  # the kernel of each launch
        self.launched_on: list[int] = []  # the device current at each launch
        self.copies: list = []  # each host-to-device copy: its value (one element) or its shape
        self.arguments = None  # the last launch's arguments, if kept (they keep arrays alive)
        self.keep_arguments = False
        self._keys = itertools.count()

    def in_use(self):
        return sum(self.live.values())

    def allocate(self, nbytes):
        if self.in_use() + self.cached + nbytes > self.budget:
            raise FakeOutOfMemoryError(nbytes) if self.status is None else FakeCUDARuntimeError(self.status)
        key = next(self._keys)
        self.live[key] = nbytes
        return key

    def release(self, key):
        self.cached += self.live.pop(key)

    def free_all_blocks(self):
        self.cached = 0


class FakeArray:
    """A C-contiguous device array that takes its bytes from a FakeDeviceMemory while alive."""

    device = types.SimpleNamespace(id=0)
    flags = types.SimpleNamespace(c_contiguous=True)

    def __init__(self, memory, shape, dtype):
        self.memory, self.shape, self.dtype = memory, tuple(shape), np.dtype(dtype)
        self.size, self.itemsize = math.prod(self.shape), self.dtype.itemsize
        self.nbytes = self.size * self.itemsize
        self.strides = tuple(self.itemsize * math.prod(self.shape[d + 1:]) for d in range(len(self.shape)))
        key = memory.allocate(self.nbytes)
        self.data = types.SimpleNamespace(ptr=(key + 1) << 40, device_id=0)  # 16-byte aligned, apart
        weakref.finalize(self, memory.release, key)

    def astype(self, dtype):
        return FakeArray(self.memory, self.shape, dtype)


def copy(memory, host):
    """A FakeArray copy of ``host``, recorded in ``memory.copies``."""
    memory.copies.append(host.item() if host.size == 1 else host.shape)
    return FakeArray(memory, host.shape, host.dtype)


def fake_gpu(memory, count=1):
    """A CuPy with ``count`` GPUs of ``memory``, whose kernels count and record their launches."""
    def function(name):
        def launch(grid, block, arguments):
            memory.launches += 1
            memory.launched.append(name)
            memory.launched_on.append(cuda.current)
            memory.arguments = arguments if memory.keep_arguments else None

        return types.SimpleNamespace(kernel=launch)

    module = types.SimpleNamespace(get_function=function)
    cuda = FakeCuda(count)
    cuda.memory = types.SimpleNamespace(OutOfMemoryError=FakeOutOfMemoryError)
    cuda.runtime.CUDARuntimeError, cuda.runtime.errorMemoryAllocation = FakeCUDARuntimeError, 2
    cuda.runtime.memGetInfo = lambda: (memory.budget - memory.in_use() - memory.cached, memory.budget)
    return types.SimpleNamespace(
        cuda=cuda, ndarray=FakeArray, RawModule=lambda **kwargs: module,
        empty=lambda shape, dtype: FakeArray(memory, shape, dtype),
        asarray=lambda a: copy(memory, np.asarray(a)),
        asnumpy=lambda a: np.zeros(a.shape, a.dtype),
        get_default_memory_pool=lambda: types.SimpleNamespace(free_all_blocks=memory.free_all_blocks))


MiB = 2 ** 20


def test_outputs_that_do_not_fit_on_the_gpu_raise_a_clear_error_and_leak_nothing(cupy_as):
    memory = FakeDeviceMemory(40 * MiB)
    cupy_as(fake_gpu(memory))
    fn = eg.compile("tanh(x)**2", orders=(0, 1), device="cuda")
    x = np.zeros(2 ** 21)  # 16 MiB: its copy fits, and one output beside it, not two
    with pytest.raises(eg.DeviceMemoryError, match=r"out of GPU memory on cuda:0: 2 outputs of 2\^21 float64 = "
                       r"32\.0 MiB requested; 24\.0 MiB of 40\.0 MiB is free\. Call with smaller chunks.*out=.*"
                       r"cupy\.get_default_memory_pool\(\)\.free_all_blocks\(\)") as info:
        fn(x)
    assert isinstance(info.value, MemoryError) and isinstance(info.value, eg.ElemgradError)
    assert memory.in_use() == x.nbytes and memory.cached == 0  # the first output is back on the device
    del info  # the error's traceback held the call's copy of x
    assert memory.in_use() == 0 and memory.launches == 0
    value, slope = fn(x[: 2 ** 19])  # the next, smaller call runs
    assert slope.shape == (2 ** 19,) and memory.launches == 1 and memory.in_use() == 0


@pytest.mark.parametrize("status, error", [(2, eg.DeviceMemoryError), (700, FakeCUDARuntimeError)])
def test_an_input_that_does_not_fit_on_the_gpu_raises_a_clear_error(cupy_as, status, error):
    memory = FakeDeviceMemory(40 * MiB, status=status)
    cupy_as(fake_gpu(memory))
    fn = eg.compile("tanh(x)**2", orders=(0, 1), device="cuda")
    with pytest.raises(error) as info:
        fn(np.zeros(6 * MiB))
    if error is eg.DeviceMemoryError:  # cudaErrorMemoryAllocation; other CUDA errors pass unchanged
        assert "an input of 6,291,456 float64 = 48.0 MiB requested; 40.0 MiB of 40.0 MiB is free" in str(info.value)
    del info
    assert memory.in_use() == 0


def test_host_scalars_go_to_the_gpu_once_per_value(cupy_as):
    memory = FakeDeviceMemory(40 * MiB)
    cupy_as(fake_gpu(memory))
    fn = eg.compile("tanh(x*s)**2 + mu", orders=(0, 1), wrt="x", device="cuda")
    x = FakeArray(memory, (1000,), "float64")  # already on the device
    for s in (1.5, 1.5, 2.0, 1.5):
        fn(x, s, 0.25)
    assert memory.copies == [1.5, 0.25, 2.0] and memory.launches == 4


def test_a_bound_gpu_call_only_launches(cupy_as):
    memory = FakeDeviceMemory(40 * MiB)
    cupy_as(fake_gpu(memory))
    fn = eg.compile("tanh(x*s)**2", orders=(0, 1), wrt="x", device="cuda")
    x, out = FakeArray(memory, (1000,), "float64"), tuple(FakeArray(memory, (1000,), "float64") for _ in range(2))
    step = fn.bind(x, 1.5, out=out)
    in_use, launches = memory.in_use(), memory.launches
    for _ in range(3):
        assert step() == out
    assert memory.launches == launches + 3 and memory.in_use() == in_use  # nothing allocated, copied or freed
    with pytest.raises(eg.InputTypeError, match="input 'x' cannot be bound: a numpy.ndarray of float64 is converted "
                                                "to a .*FakeArray of float64 first"):
        fn.bind(np.zeros(1000), 1.5, out=out)


def test_a_gpu_call_like_an_earlier_one_only_launches_the_kernel_its_layout_allows(cupy_as):
    memory = FakeDeviceMemory(40 * MiB)
    cupy_as(fake_gpu(memory))
    fn = eg.compile("tanh(x*s)**2", orders=(0, 1), wrt="x", device="cuda")
    x, out = FakeArray(memory, (1000,), "float64"), tuple(FakeArray(memory, (1000,), "float64") for _ in range(2))
    fn(x, 1.5, out=out)
    in_use, memory.keep_arguments = memory.in_use(), True
    for s in (1.5, 2.0, 1.5, 2.0):
        assert fn(x, s, out=out) == out
    assert memory.copies == [1.5, 2.0] and memory.in_use() == in_use + 8  # the one new scalar; no outputs made
    assert memory.launched == ["eg_vectorized"] * 5
    n, step_x, step_s, x_given, s_given, *written = memory.arguments
    assert (n, step_x, step_s) == (1000, 1, 0) and x_given is x and s_given.size == 1 and tuple(written) == out
    shifted = FakeArray(memory, (1000,), "float64")
    shifted.data = types.SimpleNamespace(ptr=(1 << 20) + 8, device_id=0)  # not 16-byte aligned
    fn(shifted, 1.5, out=out)
    fn(x, 1.5, out=out)
    fn(shifted, 1.5, out=out)
    assert memory.launched[-3:] == ["eg_contiguous", "eg_vectorized", "eg_contiguous"]
    assert memory.arguments[3] is shifted
    with pytest.raises(eg.InputError, match=r"out\[0\] must be .* shape \(1000,\); got float64 \(999,\)"):
        fn(x, 1.5, out=(FakeArray(memory, (999,), "float64"), out[1]))


def test_calls_launch_on_the_functions_gpu_and_refuse_outputs_on_another(cupy_as):
    memory = FakeDeviceMemory(40 * MiB)
    gpu = fake_gpu(memory, count=2)
    cupy_as(gpu)
    fn = eg.compile("tanh(x)**2", orders=(0, 1), device="cuda:1")
    x, y, dy = (FakeArray(memory, (1000,), "float64") for _ in range(3))
    for array in (x, y, dy):
        array.device, array.data.device_id = types.SimpleNamespace(id=1), 1
    for _ in range(3):
        fn(x, out=(y, dy))
        assert gpu.cuda.current == 0  # as before the call
    assert memory.launched_on == [1, 1, 1]
    with gpu.cuda.Device(1):
        fn(x, out=(y, dy))
        assert gpu.cuda.current == 1
    assert memory.launched_on == [1, 1, 1, 1]
    elsewhere = FakeArray(memory, (1000,), "float64")  # on GPU 0
    with pytest.raises(eg.InputTypeError, match=r"out\[1\] is on GPU 0, but this function runs on cuda:1; move it "
                                                r"there or compile with device='cuda:0'"):
        fn(x, out=(y, elsewhere))
    with pytest.raises(eg.InputTypeError, match=r"input 'x' is on GPU 0, but this function runs on cuda:1"):
        fn(elsewhere, out=(y, dy))
    assert len(memory.launched) == 4  # refused before any launch

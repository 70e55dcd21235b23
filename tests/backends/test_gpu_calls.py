"""On a CUDA device: the work on single-value inputs hoisted out of the element kernels, repeated
calls launched through the driver with their arguments packed once, ``device="cuda:N"``, and
running out of device memory.

Each test that can runs twice, as tests/backends/test_gpu.py's do: on the GPU through CuPy
(marked ``gpu``: benchmarks/gpu_check.sh runs it) and on the CPU through tests/cuda_emulator.py.
The hoisted kernel must give the very bits of the kernel without hoisting: the reference of
a call with scalar parameters is the same call with those parameters broadcast to full
arrays (which takes the kernel without hoisting), and both are checked against the closed
form as well.
"""
import numpy as np
import pytest

import elemgrad_gpu as eg
from cuda_emulator import LAUNCHES, MEMORY, cupy_or_emulation, emulated_cupy
from elemgrad_gpu.backends.cuda import backend as backend_cuda
from elemgrad_gpu.backends.cuda.codegen import hoisted_layout

GAUSSIAN = "-(x - mu)**2 / (2*s**2) - log(s) - 0.9189385332046727"
WANTED = [(), ("x",), ("mu",), ("s",), ("x", "x"), ("x", "s"), ("s", "s")]  # orders 0, 1 and 2
TOLERANCE = {"float32": 2e-5, "float64": 1e-12}
HOIST_FROM = 1024  # the tests' threshold: small calls that still hoist (the default is for bandwidth)


@pytest.fixture(params=["emulated", pytest.param("cupy", marks=pytest.mark.gpu)])
def cp(request, monkeypatch):
    """CuPy on the GPU, or the CPU emulation of it installed in its place; hoisting from HOIST_FROM elements."""
    monkeypatch.setattr(backend_cuda, "HOIST_FROM", HOIST_FROM)
    return cupy_or_emulation(request, monkeypatch)


def gaussian_reference(x, mu, s):
    """The closed forms of WANTED, in float64."""
    x, mu, s = (np.asarray(v, dtype=np.float64) for v in (x, mu, s))
    z = (x - mu) / s
    return [-z ** 2 / 2 - np.log(s) - 0.9189385332046727, -z / s, z / s, (z ** 2 - 1) / s,
            np.full_like(x, -1 / s ** 2), 2 * z / s ** 2, (1 - 3 * z ** 2) / s ** 2]


def bits(array, cp) -> np.ndarray:
    host = cp.asnumpy(array)
    return host.view(f"u{host.itemsize}")


def hoisted_source(fn) -> str:
    """The CUDA source of the specialization a call with single-value inputs took."""
    [source] = [s.sources["cuda"] for key, s in fn._specializations.items() if key[2]]
    return source


def element_body(source: str) -> str:
    return source.split("eg_element(const eg_real *v, eg_real *r)")[1].split("extern \"C\"")[0].split("eg:hoisted")[0]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_hoisted_calls_equal_the_broadcast_call_bit_for_bit(cp, dtype):
    """Scalar mu and s (Python numbers, and one-element device arrays) against the same values
    broadcast to arrays: the same bits, for every output of orders 0, 1 and 2; and the
    closed form within the dtype's tolerance."""
    n = HOIST_FROM + 3  # a tail of 3 after the vectors
    x = cp.asarray(np.linspace(-4, 4, n).astype(dtype))
    fn = eg.compile(GAUSSIAN, derivatives=WANTED, device="cuda")
    broadcast = fn(x, cp.asarray(np.full(n, 0.3, dtype)), cp.asarray(np.full(n, 1.7, dtype)))
    for mu, s in [(0.3, 1.7), (cp.asarray(np.array([0.3], dtype)), cp.asarray(np.array(1.7, dtype)))]:
        for _ in range(2):  # the second call is a known one
            hoisted = fn(x, mu, s)
            for h, b in zip(hoisted, broadcast):
                np.testing.assert_array_equal(bits(h, cp), bits(b, cp))
    reads, count = hoisted_layout(hoisted_source(fn))
    assert reads == (1, 2) and count >= 3  # log(s), s**2 and more
    want = gaussian_reference(cp.asnumpy(x), np.float64(np.float32(0.3)) if dtype == "float32" else 0.3,
                              np.float64(np.float32(1.7)) if dtype == "float32" else 1.7)
    for got, w in zip(hoisted, want):
        error = np.abs(cp.asnumpy(got) - w) / np.maximum(1.0, np.abs(w))
        assert error.max() <= TOLERANCE[dtype], error.max()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_element_kernels_no_longer_compute_what_depends_on_the_scalars_alone(cp, dtype):
    x = cp.asarray(np.linspace(-4, 4, HOIST_FROM).astype(dtype))
    fn = eg.compile(GAUSSIAN, derivatives=WANTED, device="cuda")
    fn(x, 0.3, 1.7)
    hoisted, base = hoisted_source(fn), fn.source("cuda", dtype=dtype)
    assert "log(" in element_body(base) and "log(" not in element_body(hoisted)
    once = hoisted.split("void eg_once_element")[1].split("extern \"C\"")[0]
    assert "log(" in once and "u[1] * u[1]" in once  # log(s) and s**2, once per call
    assert "v[0] - v[1]" in element_body(hoisted)  # x - mu stays per element


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_hoisted_kernels_compile_with_nvrtc(emulated, compile_ptx, dtype):
    """With the backend's own NVRTC options (no contraction), for sm_80 and sm_90: eg_once and
    the element kernels, which take the buffer of hoisted values last."""
    fn = eg.compile(GAUSSIAN, derivatives=WANTED, device="cuda")
    fn(emulated.asarray(np.linspace(-4, 4, HOIST_FROM).astype(dtype)), 0.3, 1.7)
    source = hoisted_source(fn)
    for arch in ("sm_80", "sm_90"):
        ptx = compile_ptx(source, arch, backend_cuda.CudaBackend().options())
        for kernel in ("eg_once", "eg_vectorized", "eg_contiguous", "eg_strided"):
            assert f".entry {kernel}" in ptx
        if dtype == "float32":
            once = ptx[ptx.index(".entry eg_once"):]
            assert ".f64" not in once[:once.find(".entry", 1)]


def test_calls_of_fewer_elements_than_hoist_from_take_the_kernel_without_hoisting(cp):
    fn = eg.compile(GAUSSIAN, derivatives=WANTED[:2], device="cuda")
    x = cp.asarray(np.linspace(-4, 4, HOIST_FROM - 1))
    small = fn(x, 0.3, 1.7)
    assert [key[2] for key in fn._specializations] == [()]  # no hoisted specialization made
    x = cp.asarray(np.linspace(-4, 4, HOIST_FROM))
    fn(x, 0.3, 1.7)
    assert [key[2] for key in fn._specializations] == [(), (1, 2)]
    assert small[0].shape == (HOIST_FROM - 1,)


def test_a_bound_hoisted_call_reads_the_current_value_of_a_device_scalar(cp):
    n = HOIST_FROM + 1
    x = cp.asarray(np.linspace(-4, 4, n))
    s = cp.asarray(np.array([1.7]))
    fn = eg.compile(GAUSSIAN, derivatives=WANTED, device="cuda")
    out = tuple(cp.empty(n, np.float64) for _ in WANTED)
    step = fn.bind(x, 0.3, s, out=out)
    for value in (1.7, 0.6):
        s[...] = cp.asarray(np.array([value]))
        got = step()
        want = fn(x, cp.asarray(np.full(n, 0.3)), cp.asarray(np.full(n, value)))
        for g, w in zip(got, want):
            np.testing.assert_array_equal(bits(g, cp), bits(w, cp))


@pytest.fixture
def emulated(monkeypatch):
    """The CPU emulation of CuPy alone: for what only it can show (how a launch was made)."""
    monkeypatch.setattr(backend_cuda, "HOIST_FROM", HOIST_FROM)
    emulated = emulated_cupy()
    monkeypatch.setattr(backend_cuda, "cupy", lambda: emulated)
    backend_cuda.status.cache_clear()
    yield emulated
    backend_cuda.status.cache_clear()


@pytest.mark.parametrize("text", ["tanh(x)**2", GAUSSIAN])
@pytest.mark.parametrize("given_out", [False, True])
def test_a_repeated_call_launches_through_the_driver_with_its_arguments_packed_once(emulated, monkeypatch,
                                                                                    text, given_out):
    """The first call of a signature is checked, and its launch packed; calls like it find
    that launch and only write their arrays' pointers into it: no argument is packed again
    (``_argument_buffer``) and every launch goes through ``driver.launchKernel``."""
    cp = emulated
    fn = eg.compile(text, orders=(0, 1), device="cuda")
    inputs = (cp.asarray(np.linspace(-3, 3, 2000)),) + ((0.25, 1.5) if text == GAUSSIAN else ())
    out = (cp.empty(2000, np.float64), cp.empty(2000, np.float64)) if given_out else None
    fn(*inputs, out=out)
    cpu = eg.compile(text, orders=(0, 1), device="cpu")
    packed = []
    monkeypatch.setattr(backend_cuda, "_argument_buffer", lambda *a: packed.append(a) or pytest.fail("packed again"))
    before = LAUNCHES.copy()
    for _ in range(3):
        x = cp.asarray(np.linspace(-2, 2, 2000))  # new arrays, same layout
        results = fn(x, *inputs[1:], out=out)
        reference = cpu(cp.asnumpy(x), *inputs[1:])
        for got, want in zip(results, reference):
            np.testing.assert_allclose(cp.asnumpy(got), want, rtol=1e-12, atol=1e-300)
    launched = LAUNCHES - before
    kernels = 2 if text == GAUSSIAN else 1  # eg_once, then the element kernel
    assert launched["driver"] == 3 * kernels and launched["function"] == 0 and not packed
    assert launched["eg_vectorized"] == 3 and launched["eg_once"] == (3 if text == GAUSSIAN else 0)


def test_without_the_driver_launches_go_through_cupys_function(emulated, monkeypatch):
    monkeypatch.setattr(emulated.cuda, "driver", None)
    fn = eg.compile(GAUSSIAN, orders=(0, 1), device="cuda")
    x = emulated.asarray(np.linspace(-3, 3, 2000))
    before = LAUNCHES.copy()
    first, second = fn(x, 0.25, 1.5), fn(x, 0.25, 1.5)
    launched = LAUNCHES - before
    assert launched["function"] == 4 and launched["driver"] == 0
    for a, b in zip(first, second):
        np.testing.assert_array_equal(bits(a, emulated), bits(b, emulated))


def test_cuda_n_runs_on_gpu_n_and_refuses_arrays_on_another_before_any_launch(monkeypatch):
    """Two emulated GPUs: a function compiled for cuda:1 places host inputs and its outputs on
    GPU 1 and launches there; a device array on GPU 0 is refused with a WrongDeviceError (a
    DeviceError) naming both, before any launch; cuda:2 does not exist."""
    cp = emulated_cupy(devices=2)
    monkeypatch.setattr(backend_cuda, "cupy", lambda: cp)
    backend_cuda.status.cache_clear()
    try:
        fn = eg.compile("tanh(x*s)**2", orders=(0, 1), wrt="x", device="cuda:1")
        assert fn.device == "cuda:1"
        value, slope = fn(np.linspace(-2, 2, 1001), 1.5)  # host in, host out, computed on GPU 1
        t = np.tanh(1.5 * np.linspace(-2, 2, 1001))
        np.testing.assert_allclose(slope, 3 * t * (1 - t * t), rtol=1e-12, atol=1e-15)
        with cp.cuda.Device(1):
            x1 = cp.asarray(np.linspace(-2, 2, 1001))
        for _ in range(2):  # the second call is a known one
            value, slope = fn(x1, 1.5)
            assert value.device.id == 1 and slope.device.id == 1 and cp.cuda.runtime.getDevice() == 0
        x0 = cp.asarray(np.linspace(-2, 2, 1001))
        before = LAUNCHES.copy()
        with pytest.raises(eg.DeviceError, match=r"input 'x' is on GPU 0, but this function runs on cuda:1; move "
                                                 r"it there or compile with device='cuda:0'") as info:
            fn(x0, 1.5)
        assert isinstance(info.value, eg.WrongDeviceError) and isinstance(info.value, eg.InputTypeError)
        with cp.cuda.Device(1):
            y1 = cp.empty_like(x1)
        with pytest.raises(eg.DeviceError, match=r"out\[1\] is on GPU 0"):
            fn(x1, 1.5, out=(y1, cp.empty(1001, np.float64)))
        assert LAUNCHES == before
        with pytest.raises(eg.DeviceError, match=r"device 'cuda:2' is not available: there are 2 CUDA devices"):
            eg.compile("tanh(x)", device="cuda:2")
    finally:
        backend_cuda.status.cache_clear()


@pytest.mark.gpu
def test_cuda_n_on_the_gpus_there_are():
    """On the device: cuda:0 runs and keeps its arrays on GPU 0; cuda:1 runs on GPU 1 where there
    is one (refusing arrays of GPU 0 before any launch), and is refused at compile where not."""
    cp = pytest.importorskip("cupy")
    count = cp.cuda.runtime.getDeviceCount()
    x0 = cp.linspace(-2, 2, 1001)
    value, slope = eg.compile("tanh(x)**2", orders=(0, 1), device="cuda:0")(x0)
    assert slope.device.id == 0
    t = np.tanh(np.linspace(-2, 2, 1001))
    np.testing.assert_allclose(cp.asnumpy(slope), 2 * t * (1 - t * t), rtol=1e-12, atol=1e-15)
    if count < 2:
        with pytest.raises(eg.DeviceError, match=r"device 'cuda:1' is not available: there is one CUDA device"):
            eg.compile("tanh(x)**2", device="cuda:1")
        return
    fn = eg.compile("tanh(x)**2", orders=(0, 1), device="cuda:1")
    with cp.cuda.Device(1):
        x1 = cp.linspace(-2, 2, 1001)
    value, slope = fn(x1)
    assert slope.device.id == 1 and cp.cuda.runtime.getDevice() == 0
    np.testing.assert_allclose(cp.asnumpy(slope), 2 * t * (1 - t * t), rtol=1e-12, atol=1e-15)
    with pytest.raises(eg.WrongDeviceError, match=r"input 'x' is on GPU 0, but this function runs on cuda:1"):
        fn(x0)


def test_cuda_1_on_a_machine_with_one_gpu_is_refused_at_compile(emulated):
    with pytest.raises(eg.DeviceError, match=r"device 'cuda:1' is not available: there is one CUDA device, "
                                             r"cuda:0 \(cuda:0 CPU emulation\)\. Use device='auto' or 'cpu'"):
        eg.compile("tanh(x)", device="cuda:1")


@pytest.mark.parametrize("hoisted", [False, True])
def test_running_out_of_memory_names_the_bytes_frees_everything_and_the_next_call_runs(emulated, monkeypatch,
                                                                                       hoisted):
    """The emulated allocator fails once, at the second output (or at the buffer of hoisted
    values): DeviceMemoryError names what was asked and what is free, no allocation of the
    call is left, and the same call then runs."""
    cp = emulated
    fn = eg.compile(GAUSSIAN, orders=(0, 1), device="cuda")
    x = cp.asarray(np.linspace(-3, 3, 4096))
    args = (x, 0.25, 1.5) if hoisted else (x, cp.asarray(np.full(4096, 0.25)), cp.asarray(np.full(4096, 1.5)))
    fn(*args)  # compiled, scalars on the device: what stays allocated
    live, outputs = MEMORY.live_bytes(), fn.n_outputs
    count = hoisted_layout(hoisted_source(fn))[1] if hoisted else 0
    empty, calls = cp.empty, []

    def failing(shape, dtype=np.float64):
        calls.append(shape)
        if len(calls) == (outputs + 1 if hoisted else 2):  # after the outputs, the buffer; else the second output
            raise cp.cuda.memory.OutOfMemoryError("out of memory")
        return empty(shape, dtype)

    monkeypatch.setattr(cp, "empty", failing)
    what = (rf"the {count} values computed once per call = {8 * count} bytes" if hoisted
            else rf"{outputs} outputs of 2\^12 float64 = {outputs * 32}\.0 KiB")
    with pytest.raises(eg.DeviceMemoryError, match=rf"out of GPU memory on cuda:0: {what} requested; 16\.0 GiB of "
                                                   rf"16\.0 GiB is free\. Call with smaller chunks") as info:
        fn(*args)
    assert isinstance(info.value, MemoryError)
    del info
    assert MEMORY.live_bytes() == live  # nothing of the failed call is left
    value, slope = fn(*args)
    z = (np.linspace(-3, 3, 4096) - 0.25) / 1.5
    np.testing.assert_allclose(cp.asnumpy(slope), -z / 1.5, rtol=1e-12, atol=1e-15)

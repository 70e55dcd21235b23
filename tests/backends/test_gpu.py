"""On a CUDA device: results equal the CPU backend's and the references.

Each test runs twice: on the GPU through CuPy (marked ``gpu``: run by
benchmarks/gpu_check.sh on a GPU machine, skipped with the reason elsewhere), and on the
CPU through tests/cuda_emulator.py, which compiles the same CUDA kernels for the host and
runs every thread of the grid in a scrambled order, checking each launch's arguments and
that no kernel writes outside an array. The tests that need a GPU's memory or PyTorch's CUDA run on the
GPU only.
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import elemgrad_gpu as eg
from cases import CASES
from cuda_emulator import cupy_or_emulation
from elemgrad_gpu.runtime import device

TOLERANCE = {"float32": 1e-5, "float64": 1e-12}


@pytest.fixture(params=["emulated", pytest.param("cupy", marks=pytest.mark.gpu)])
def cp(request, monkeypatch):
    """CuPy on the GPU, or the CPU emulation of it installed in its place."""
    return cupy_or_emulation(request, monkeypatch)


@pytest.fixture
def gpu_cp():
    """CuPy on a GPU, for what the emulation cannot stand for (memory limits, PyTorch's CUDA)."""
    return pytest.importorskip("cupy")


def assert_close(got, want, dtype):
    """Within the dtype's tolerance, scaled by max(1, |want|); NaN exactly where want is NaN."""
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    nan = np.isnan(want)
    assert np.array_equal(np.isnan(got), nan)
    error = np.abs(got[~nan] - want[~nan]) / np.maximum(1.0, np.abs(want[~nan]))
    assert np.all(error <= TOLERANCE[dtype]), f"max scaled error {error.max():.3g}"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_done_when_tanh_squared_on_auto_runs_on_the_gpu_and_matches_the_cpu(cp, dtype):
    x = np.linspace(-4, 4, 1_000_003, dtype=dtype)
    gpu = eg.compile("tanh(x)**2", orders=(0, 1))
    assert gpu.device.startswith("cuda")
    cpu = eg.compile("tanh(x)**2", orders=(0, 1), device="cpu")
    for g, c in zip(gpu(x), cpu(x)):
        assert isinstance(g, np.ndarray) and g.dtype == dtype
        assert_close(g, c, dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("text", [c[0] for c in CASES])
def test_every_function_orders_0_to_4_matches_the_cpu(cp, text, dtype):
    points = next(c[2] for c in CASES if c[0] == text)
    x = np.array(points * 50, dtype=dtype)
    gpu = eg.compile(text, orders=(0, 1, 2, 3, 4), device="cuda")(x)
    cpu = eg.compile(text, orders=(0, 1, 2, 3, 4), device="cpu")(x)
    for g, c in zip(gpu, cpu):
        assert_close(g, c, dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_strided_broadcast_and_scalar_inputs(cp, dtype):
    rng = np.random.default_rng(1)
    base = rng.normal(size=(40, 30, 20)).astype(dtype)
    text, wanted = "-(x - mu)**2 / (2*s**2) - log(s)", [(), ("x",), ("mu",), ("x", "s")]
    gpu, cpu = (eg.compile(text, derivatives=wanted, device=d) for d in ("cuda", "cpu"))
    cases = [(base, 0.3, 1.5), (base[::2, :, ::-1], 0.3, 1.5), (base.transpose(2, 0, 1), 0.3, 1.5),
             (base[0], np.linspace(-1, 1, 20, dtype=dtype), np.linspace(1, 2, 30, dtype=dtype)[:, None])]
    for args in cases:
        for g, c in zip(gpu(*args), cpu(*args)):
            assert g.shape == c.shape
            assert_close(g, c, dtype)


def test_cupy_inputs_stay_on_the_device(cp):
    x = cp.linspace(-3, 3, 4097)
    fn = eg.compile("sigmoid(x)", orders=(0, 1), device="cuda")
    value, slope = fn(x)
    assert isinstance(value, cp.ndarray) and isinstance(slope, cp.ndarray)
    s = 1 / (1 + np.exp(-cp.asnumpy(x)))
    assert_close(cp.asnumpy(slope), s * (1 - s), "float64")
    out = (cp.empty_like(x), cp.empty_like(x))
    assert fn(x, out=out)[1] is out[1]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("offset", [0, 1])  # aligned: 16-byte vector kernel; one element in: scalar kernel
@pytest.mark.parametrize("n", [1, 3, 4099, 1_000_001])  # tails of every length
def test_vectorized_and_unaligned_contiguous_paths_agree_with_the_cpu(cp, dtype, offset, n):
    x = cp.linspace(-4, 4, n + offset, dtype=dtype)[offset:]
    fn = eg.compile("tanh(x)**2 * mu", wrt="x", orders=(0, 1), device="cuda")
    cpu = eg.compile("tanh(x)**2 * mu", wrt="x", orders=(0, 1), device="cpu")
    for g, c in zip(fn(x, 1.5), cpu(cp.asnumpy(x), 1.5)):
        assert_close(cp.asnumpy(g), c, dtype)


def test_a_bound_call_reads_the_current_values_of_cupy_arrays(cp):
    x = cp.linspace(-3, 3, 100_003, dtype=cp.float32)
    fn = eg.compile("tanh(x*s)**2", orders=(0, 1), wrt="x", device="cuda")
    cpu = eg.compile("tanh(x*s)**2", orders=(0, 1), wrt="x", device="cpu")
    out = (cp.empty_like(x), cp.empty_like(x))
    step = fn.bind(x, np.float32(1.5), out=out)
    for shift in (0.0, 0.5):
        x[:] = cp.linspace(-3, 3, 100_003, dtype=cp.float32) + shift
        got = step()
        assert got[0] is out[0] and got[1] is out[1]
        for g, c in zip(got, cpu(cp.asnumpy(x), np.float32(1.5))):
            assert_close(cp.asnumpy(g), c, "float32")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_calls_like_earlier_ones_run_the_kernel_their_layout_allows(cp, dtype):
    fn = eg.compile("tanh(x*s)**2", orders=(0, 1), wrt="x", device="cuda")
    cpu = eg.compile("tanh(x*s)**2", orders=(0, 1), wrt="x", device="cpu")
    base = cp.linspace(-3, 3, 4099 * 3, dtype=dtype)
    out = (cp.empty(4099, dtype), cp.empty(4099, dtype))
    aligned, unaligned, strided = base[:4099].copy(), base[1:4100], base[::3]
    for x, s in [(aligned, 1.5), (unaligned, 1.5), (strided, 2.0), (aligned, 0.5), (unaligned, -0.0),
                 (strided, 1.5), (aligned + 1, 2.0)]:  # each layout twice or more: the known path runs
        got = fn(x, s, out=out)
        assert got[0] is out[0] and got[1] is out[1]
        for g, c in zip(got, cpu(cp.asnumpy(x), s)):
            assert_close(cp.asnumpy(g), c, dtype)


@pytest.mark.gpu
def test_dlpack_inputs_are_taken_without_copying(gpu_cp):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("PyTorch has no CUDA here")
    t = torch.linspace(-3, 3, 1000, device="cuda", dtype=torch.float32)
    value, slope = eg.compile("tanh(x)**2", orders=(0, 1), device="cuda")(t)
    assert value.dtype == np.float32 and hasattr(value, "__cuda_array_interface__")
    assert_close(gpu_cp.asnumpy(slope), 2 * np.tanh(t.cpu().numpy()) / np.cosh(t.cpu().numpy()) ** 2, "float32")


@pytest.mark.gpu
def test_more_than_2_to_the_31_elements(gpu_cp):
    n = 2 ** 31 + 7
    free, _ = gpu_cp.cuda.runtime.memGetInfo()
    if free < 4 * n * 3 * 1.2:
        pytest.skip(f"needs {12 * n / 2**30:.0f} GiB of GPU memory, {free / 2**30:.0f} free")
    x = gpu_cp.zeros(n, dtype=gpu_cp.float32)
    x[-3:] = gpu_cp.asarray([0.5, 1.0, 2.0], dtype=gpu_cp.float32)
    value, slope = eg.compile("tanh(x)**2", orders=(0, 1), device="cuda")(x)
    tail = np.array([0.5, 1.0, 2.0])
    assert_close(gpu_cp.asnumpy(slope[-3:]), 2 * np.tanh(tail) / np.cosh(tail) ** 2, "float32")
    assert float(slope[0]) == 0.0
    del x, value, slope
    gpu_cp.get_default_memory_pool().free_all_blocks()


@pytest.mark.gpu
def test_outputs_larger_than_the_gpu_raise_a_clear_error_and_leak_nothing(gpu_cp):
    pool = gpu_cp.get_default_memory_pool()
    fn = eg.compile("tanh(x*s)**2", orders=(0, 1), device="cuda")  # by x
    x = gpu_cp.linspace(-3, 3, 2 ** 20)
    fn(x[:10], 1.0)  # compiled and loaded before memory is measured
    pool.free_all_blocks()
    free, _ = gpu_cp.cuda.runtime.memGetInfo()
    s = gpu_cp.ones((int(0.6 * free) // x.nbytes, 1))  # one output of (len(s), 2^20) fits, two do not
    used, total = pool.used_bytes(), pool.total_bytes()
    with pytest.raises(eg.DeviceMemoryError, match=r"out of GPU memory on cuda:0: 2 outputs of [\d,]+ float64 = "
                       r"[\d.]+ GiB requested; [\d.]+ GiB of [\d.]+ GiB is free\. .*free_all_blocks") as info:
        fn(x, s)
    assert isinstance(info.value, MemoryError)
    del info
    assert pool.used_bytes() == used and pool.total_bytes() <= total
    value, slope = fn(x[:1001], 1.0)  # the next, smaller call runs
    t = np.tanh(gpu_cp.asnumpy(x[:1001]))
    assert_close(gpu_cp.asnumpy(slope), 2 * t * (1 - t * t), "float64")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_outputs_sharing_memory_with_inputs_or_each_other(cp, dtype):
    """The results are as if every input was read before any output was written, then the
    outputs were written in order (a later one wins where outputs overlap): NumPy's ufuncs,
    and so the CPU backend, give the same except where outputs overlap in part (there
    NumPy's result follows its element order)."""
    fn = eg.compile("tanh(x*s)**2", orders=(0, 1), wrt="x", device="cuda")
    cpu = eg.compile("tanh(x*s)**2", orders=(0, 1), wrt="x", device="cpu")
    n = 4099
    values = np.linspace(-3, 3, 2 * n + 2).astype(dtype)
    layouts = {  # x, out[0], out[1] as views of one buffer of 2n + 2 elements (None: an array of their own)
        "out[0] is x": lambda b: (b[:n], b[:n], None),
        "out[1] is x": lambda b: (b[:n], None, b[:n]),
        "out[0] one element after x": lambda b: (b[:n], b[1:n + 1], None),
        "out[0] one element before x": lambda b: (b[1:n + 1], b[:n], None),
        "x reversed under out[1]": lambda b: (b[n - 1::-1], None, b[:n]),
        "x strided across out[0]": lambda b: (b[:2 * n:2], b[:n], None),
        "out[0] is out[1]": lambda b: (b[:n], b[n + 1:2 * n + 1], b[n + 1:2 * n + 1]),
        "out[1] two elements after out[0]": lambda b: (b[:n], b[n:2 * n], b[n + 2:2 * n + 2]),
    }
    for name, layout in layouts.items():
        want = values.copy()
        x, *out = layout(want)
        for o, w in zip(out, cpu(x.copy(), 1.5)):  # computed apart, then written in order
            if o is not None:
                o[...] = w
        if "out[1] two" not in name:
            numpy_ = values.copy()
            x, *out = layout(numpy_)
            cpu(x, 1.5, out=tuple(np.empty(n, dtype) if o is None else o for o in out))
            np.testing.assert_array_equal(numpy_, want)
        x, *_ = layout(cp.asarray(values))
        _, *out = layout(cp.asarray(values))
        for _ in range(2):  # this layout with the arrays apart: remembered, then a known call
            fn(x, 1.5, out=tuple(cp.empty(n, dtype) if o is None else o for o in out))
        for _ in range(2):  # calls like that one: known calls
            device = cp.asarray(values)
            x, *out = layout(device)
            out = tuple(cp.empty(n, dtype) if o is None else o for o in out)
            got = fn(x, 1.5, out=out)
            assert got[0] is out[0] and got[1] is out[1], name
            assert_close(cp.asnumpy(device), want, dtype)


def test_a_bound_call_refuses_outputs_sharing_memory(cp):
    fn = eg.compile("tanh(x)**2", orders=(0, 1), device="cuda")
    x = cp.linspace(-3, 3, 1001)
    with pytest.raises(eg.InputError, match=r"out\[0\] shares memory with an input or another output: a bound "
                       r"call on a GPU only launches.*call the function"):
        fn.bind(x, out=(x, cp.empty_like(x)))
    y = cp.empty_like(x)
    with pytest.raises(eg.InputError, match=r"out\[0\] shares memory"):
        fn.bind(x, out=(y, y))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_views_and_broadcasts_match_the_cpu(cp, data):
    """Any view (steps of 1 or 2 either way, axes permuted) of up to 4 dimensions, against
    a parameter broadcast over any of its axes: the strided kernel's merged layout reads
    what NumPy reads."""
    ndim = data.draw(st.integers(1, 4), label="ndim")
    shape = data.draw(st.lists(st.integers(1, 5), min_size=ndim, max_size=ndim), label="shape")
    steps = data.draw(st.lists(st.sampled_from([1, 2, -1, -2]), min_size=ndim, max_size=ndim), label="steps")
    axes = data.draw(st.permutations(range(ndim)), label="axes")
    rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 16), label="seed"))
    base = rng.normal(size=[n * abs(s) for n, s in zip(shape, steps)])
    view = tuple(slice(None, None, s) for s in steps)
    x = base[view].transpose(axes)
    kept = data.draw(st.lists(st.booleans(), min_size=ndim, max_size=ndim), label="broadcast axes")
    mu = rng.normal(size=[n if k else 1 for n, k in zip(x.shape, kept)][data.draw(st.integers(0, ndim)):])
    text, wanted = "x*mu + sin(x)", [(), ("x",), ("mu",)]
    gpu, cpu = (eg.compile(text, derivatives=wanted, device=d) for d in ("cuda", "cpu"))
    got = gpu(cp.asarray(base)[view].transpose(axes), cp.asarray(mu))
    for g, c in zip(got, cpu(x, mu)):
        assert g.shape == c.shape
        assert_close(cp.asnumpy(g), c, "float64")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("place", [0, 1])  # out=(x, d) and out=(d, x)
def test_in_place_with_zeros_and_overflow_reads_the_inputs(cp, dtype, place):
    """Outputs that are inputs are written apart and copied over: log of zeros and of
    negatives, and exp overflowing, in place give NumPy's values on a copy."""
    n = 2 ** 17 + 13
    start = np.linspace(-1.0, 3.0, n).astype(dtype)
    start[[0, 5, n // 2, n - 1]] = 0.0
    top = 230.0 if dtype == "float32" else 1800.0
    for text, x0, reference in (("log(x)", start, lambda x: (np.log(x), 1 / x)),
                                ("exp(x)", np.linspace(-10.0, top, n).astype(dtype), lambda x: (np.exp(x), np.exp(x)))):
        fn = eg.compile(text, orders=(0, 1), device="cuda")
        with np.errstate(all="ignore"):
            expected = reference(x0.copy())
        for _ in range(2):  # the second call is a known one
            x, other = cp.asarray(x0), cp.empty(n, dtype)
            out = (x, other) if place == 0 else (other, x)
            fn(x, out=out)
            for got, want in zip(out, expected):
                got = cp.asnumpy(got)
                np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
                np.testing.assert_array_equal(np.isinf(got), np.isinf(want))
                finite = np.isfinite(want)
                assert_close(got[finite], want[finite], dtype)


def test_masked_host_inputs_give_masked_results(cp):
    """Host inputs of a GPU function come back as NumPy arrays: masked ones keep their mask;
    a masked input beside a GPU array is refused, naming both."""
    fn = eg.compile("log(x) * mu", wrt="x", orders=(0, 1), device="cuda")
    x = np.ma.array([1.0, 2.0, 4.0], mask=[False, True, False])
    value, slope = fn(x, 2.0)
    assert isinstance(value, np.ma.MaskedArray) and isinstance(slope, np.ma.MaskedArray)
    np.testing.assert_array_equal(value.mask, x.mask)
    assert_close(value.data, 2 * np.log(x.data), "float64")
    assert_close(slope.data, 2 / x.data, "float64")
    with pytest.raises(eg.InputTypeError, match=r"input 'x' is a masked array \(numpy.ma\) but input 'mu' is a GPU"):
        fn(x, cp.asarray([1.0, 2.0, 3.0]))
TAYLOR_CASES = [("sigmoid(x)", (-3.0, -0.4, 0.0, 1.7)), ("hypot(x, 1)", (-2.5, 0.0, 0.6, 3.1)),
                ("arccosh(x)", (1.05, 1.6, 4.0)), ("erfinv(x)", (-0.95, -0.3, 0.0, 0.7)),
                ("tanh(tanh(x))", (-2.0, -0.3, 0.0, 0.9, 3.0))]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("text, points", TAYLOR_CASES, ids=[c[0] for c in TAYLOR_CASES])
def test_taylor_mode_orders_0_to_8_match_the_cpu(cp, text, points, dtype):
    """Orders 3..8 by Taylor mode (elemgrad_gpu/taylor.py) in the CUDA kernel, against the CPU's,
    within the dtype's tolerance times 4 per order above 4 (rounding grows with the order)."""
    x = np.array(points * 40, dtype=dtype)
    gpu = eg.compile(text, orders=tuple(range(9)), device="cuda")(x)
    cpu = eg.compile(text, orders=tuple(range(9)), device="cpu")(x)
    for order, (g, c) in enumerate(zip(gpu, cpu)):
        error = np.abs(g.astype(np.float64) - c) / np.maximum(1.0, np.abs(c.astype(np.float64)))
        assert np.all(error <= TOLERANCE[dtype] * 4.0 ** max(0, order - 4)), f"order {order}: {error.max():.3g}"

"""The fused stencil kernel (structured/regions.py, region_ops.py, stencil.py, stencil_run.py):
the diagonal of stencil-like f in one pass of our own kernels, against independent references.

References: PyTensor's full Jacobian (``pytensor.gradient.jacobian``) then its diagonal at
small n; order 2: the diagonal of the Jacobian of that diagonal, d2y_i/dx_i2; closed forms
at sizes where the flat path runs. device="cuda" runs on tests/cuda_emulator.py.
"""
import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from pytensor.tensor.signal import convolve1d

import elemgrad_gpu as eg
from cuda_emulator import emulated_cupy
from test_diagonal import brusselator, convolution_2d  # the same functions, for the other engines
from elemgrad_gpu.backends.cuda import backend as backend_cuda
from elemgrad_gpu.structured import regions
from elemgrad_gpu.structured.plan import trace
from elemgrad_gpu.structured.region_ops import analyse

ENGINE = "fused stencil kernel"


def reference(f, x: np.ndarray, order: int = 1, wrt: int = 0, others=()) -> np.ndarray:
    """diag of PyTensor's full Jacobian of f by its input ``wrt`` (order 2: of the Jacobian of that diagonal)."""
    arrays = [x, *others]
    variables = [pt.tensor(f"v{k}", dtype="float64", shape=np.shape(a)) for k, a in enumerate(arrays)]
    y, v = f(*variables).ravel(), variables[wrt]
    n = int(np.size(arrays[wrt]))

    def jacobian(y):
        full = pytensor.gradient.jacobian(y, v, vectorize=True, disconnected_inputs="ignore")
        return pt.diagonal(full.reshape((n, n)))

    diagonal = jacobian(y)
    if order == 2:
        diagonal = jacobian(diagonal)
    function = pytensor.function(variables, diagonal, mode="FAST_COMPILE", on_unused_input="ignore")
    return function(*[np.asarray(a, dtype="float64") for a in arrays]).reshape(np.shape(arrays[wrt]))


def value_of(f, *arrays) -> np.ndarray:
    variables = [pt.tensor(f"v{k}", dtype="float64", shape=np.shape(a)) for k, a in enumerate(arrays)]
    return pytensor.function(variables, f(*variables), mode="FAST_COMPILE")(*[np.asarray(a, "float64")
                                                                             for a in arrays])


def second_difference_zero(x):
    zero = pt.zeros((1,), dtype=x.dtype)
    return pt.concatenate([zero, x[2:] - 2 * x[1:-1] + x[:-2], zero]) + pt.sin(x) * x


def second_difference_pad(x):
    xp = pt.pad(x, 1, mode="constant")
    return pt.cos(xp[2:] - 2 * x + xp[:-2]) * x ** 2


def second_difference_periodic(x):
    return pt.exp(0.3 * (pt.roll(x, 1) - 2 * x + pt.roll(x, -1))) + x ** 3


def first_difference_wrap(x):
    xp = pt.pad(x, (1, 0), mode="wrap")
    return pt.tanh(xp[1:] - xp[:-1]) * x


def squared_difference_ends(x):
    return pt.concatenate([(x[1:] - x[:-1]) ** 2, x[-1:] ** 2])


def special_stencil(x):
    xp = pt.pad(x, 1, mode="constant")
    return pt.erf(xp[2:] - xp[:-2] + 0.5 * x) + pt.tanh(x - xp[:-2]) ** 2


def convolution_1d(x):
    kernel = np.array([0.25, 0.5, -0.75], dtype=x.dtype)
    return pt.sin(convolve1d(x, kernel, mode="full")[1:-1]) + x ** 2


def convolution_1d_valid(x):
    kernel = np.array([1.0, -2.0, 1.0], dtype=x.dtype)
    inner = convolve1d(x, kernel, mode="valid")
    return pt.concatenate([x[:1] ** 2, pt.exp(0.5 * inner), x[-1:]])


def laplacian_zero(u):
    up = pt.pad(u, 1, mode="constant")
    return pt.exp(0.1 * (up[2:, 1:-1] + up[:-2, 1:-1] + up[1:-1, 2:] + up[1:-1, :-2] - 4 * u)) * u


def laplacian_periodic(u):
    up = pt.pad(u, 1, mode="wrap")
    return up[2:, 1:-1] + up[:-2, 1:-1] + up[1:-1, 2:] + up[1:-1, :-2] - 4 * u + pt.sin(u) * u ** 2


def reversal(x):
    """x_i * x_{n-1-i}: for odd n the middle element reads itself twice (2 x_m there)."""
    return pt.sin(x) * x[::-1]


CASES = [  # (f, shape, regions)
    (second_difference_zero, (10,), 3),
    (second_difference_pad, (10,), 3),
    (second_difference_periodic, (10,), 3),
    (first_difference_wrap, (9,), 2),
    (squared_difference_ends, (10,), 2),
    (special_stencil, (10,), 3),
    (convolution_1d, (10,), 3),
    (convolution_1d_valid, (10,), 3),
    (laplacian_zero, (5, 7), 9),
    (laplacian_periodic, (6, 6), 9),
    (convolution_2d, (6, 5), 9),
    (brusselator, (2, 6, 6), 18),
    (reversal, (7,), 3),
]


@pytest.mark.parametrize("dtype, order", [("float64", 1), ("float64", 2), ("float32", 2)])
@pytest.mark.parametrize("f, shape, count", CASES, ids=[c[0].__name__ for c in CASES])
def test_stencil_diagonal_matches_the_full_jacobian(f, shape, count, dtype, order):
    x = np.random.default_rng(3).uniform(-1, 1, size=shape).astype(dtype)
    fn = eg.jacobian_diagonal(f, orders=order)
    got = fn(x)
    assert got.dtype == dtype and got.shape == shape
    want = reference(f, x, order)
    tol = 1e-12 if dtype == "float64" else 3e-5
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * max(1.0, np.abs(want).max()))
    assert (fn.method, fn.passes, fn.engine) == (f"stencil: {count} regions", 1, ENGINE)


@pytest.mark.parametrize("f, shape", [(second_difference_zero, (9,)), (laplacian_periodic, (4, 5)),
                                      (brusselator, (2, 4, 4))], ids=["1d", "2d", "brusselator"])
def test_value_slope_and_curvature_together(f, shape):
    x = np.random.default_rng(5).uniform(-1, 1, size=shape)
    value, slope, curvature = eg.jacobian_diagonal(f, orders=(0, 1, 2))(x)
    np.testing.assert_allclose(value, value_of(f, x), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(slope, reference(f, x, 1), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(curvature, reference(f, x, 2), rtol=1e-12, atol=1e-12)


def test_large_tridiagonal_runs_over_a_flat_range_and_matches_the_closed_form():
    """n = 10^5: the interior is one flat call; the ends are overwritten after it."""
    x = np.random.default_rng(0).uniform(-1, 1, 100_000)
    fn = eg.jacobian_diagonal(second_difference_zero, orders=(0, 1))
    value, slope = fn(x)
    inner = x[2:] - 2 * x[1:-1] + x[:-2]
    np.testing.assert_allclose(value, np.r_[0, inner, 0] + np.sin(x) * x, rtol=1e-13, atol=1e-15)
    want = np.sin(x) + x * np.cos(x)
    want[1:-1] -= 2
    np.testing.assert_allclose(slope, want, rtol=1e-14, atol=1e-15)
    tasks = fn.plan_for(x.shape).function.tasks
    assert tasks[0].flat == (1, x.size - 1) and all(t.flat is None for t in tasks[1:])


def test_large_periodic_laplacian_closed_form():
    """The 2-D interior runs flat (its border columns computed, then overwritten by the edge boxes)."""
    u = np.random.default_rng(1).uniform(-1, 1, (300, 200))
    fn = eg.jacobian_diagonal(laplacian_periodic, orders=(0, 1))
    value, slope = fn(u)
    lap = np.roll(u, 1, 0) + np.roll(u, -1, 0) + np.roll(u, 1, 1) + np.roll(u, -1, 1) - 4 * u
    np.testing.assert_allclose(value, lap + np.sin(u) * u ** 2, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(slope, -4 + np.cos(u) * u ** 2 + 2 * u * np.sin(u), rtol=1e-13, atol=1e-13)
    assert fn.plan_for(u.shape).function.tasks[0].flat == (201, 299 * 200 - 1)


def test_reversal_splits_at_the_middle():
    """x_i sin(x_{n-1-i}) reads x_m twice at the middle of an odd n: d/dx_m = sin(x_m) + x_m cos(x_m)."""
    x = np.linspace(-1, 1.3, 5)
    got = eg.jacobian_diagonal(reversal)(x)
    want = np.cos(x) * x[::-1]
    want[2] = np.cos(x[2]) * x[2] + np.sin(x[2])
    np.testing.assert_allclose(got, want, rtol=1e-14)


def two_inputs(x, y, a):
    return pt.concatenate([x[:1] * y[:1], pt.sin(x[1:] - y[:-1]) * y[1:] + a * x[1:] ** 2])


@pytest.mark.parametrize("wrt, index", [("x", 0), ("y", 1)])
@pytest.mark.parametrize("order", [1, 2])
def test_two_array_inputs_and_a_scalar(wrt, index, order):
    rng = np.random.default_rng(2)
    x, y, a = rng.normal(size=8), rng.normal(size=8), 0.7
    fn = eg.jacobian_diagonal(two_inputs, wrt=wrt, orders=order)
    got = fn(x, y, a)
    want = reference(two_inputs, x, order, wrt=index, others=(y, a))
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13)
    assert fn.engine == ENGINE


@pytest.mark.parametrize("f, shape", [
    (second_difference_zero, (2,)), (second_difference_zero, (3,)),
    (second_difference_periodic, (1,)), (second_difference_periodic, (2,)), (squared_difference_ends, (1,)),
    (special_stencil, (2,)), (laplacian_zero, (1, 6)), (laplacian_periodic, (1, 5)), (laplacian_zero, (6, 1)),
    (laplacian_periodic, (2, 2)),
], ids=lambda v: getattr(v, "__name__", str(v)))
def test_odd_small_shapes(f, shape):
    x = np.random.default_rng(4).uniform(-1, 1, size=shape)
    fn = eg.jacobian_diagonal(f, orders=(1, 2))
    slope, curvature = fn(x)
    np.testing.assert_allclose(slope, reference(f, x, 1), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(curvature, reference(f, x, 2), rtol=1e-12, atol=1e-13)
    assert fn.engine == ENGINE


def test_nan_and_inf_propagate_as_in_numpy():
    x = np.array([0.5, np.nan, 1.0, np.inf, -0.25, 2.0])
    fn = eg.jacobian_diagonal(squared_difference_ends, orders=(0, 1))
    value, slope = fn(x)
    d = np.diff(x)
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(value, np.r_[d ** 2, x[-1] ** 2])
        np.testing.assert_array_equal(slope, np.r_[-2 * d, 2 * x[-1]])


@pytest.mark.parametrize("f, method", [
    (lambda x: pt.cumsum(pt.tanh(x)), "rule: cumsum"),
    (lambda x: pt.special.softmax(x.reshape((4, 3)), axis=-1).reshape((12,)), "colouring"),
    (lambda x: pt.dot(np.diag(np.ones(11), 1) + np.eye(12) + np.diag(np.ones(11), -1), pt.sin(x)), "colouring"),
], ids=["cumsum", "row_softmax", "banded_matrix"])
def test_outside_the_region_engine_the_other_engines_answer(f, method):
    x = np.random.default_rng(6).normal(size=12)
    fn = eg.jacobian_diagonal(f)
    np.testing.assert_allclose(fn(x), reference(f, x), rtol=1e-12, atol=1e-13)
    assert fn.method == method and fn.engine != ENGINE


def test_the_regions_of_a_zero_padded_laplacian():
    """Interior, four edges, four corners; the interior's reads are the four shifts and x itself."""
    fn = eg.jacobian_diagonal(laplacian_zero)
    inputs, output = trace(fn.source, "float64", {"u": (5, 7)})
    grid, constants = analyse(output, inputs, {inputs[0]: (5, 7)})
    assert grid.cuts == ((0, 1, 4, 5), (0, 1, 6, 7)) and constants == []
    found = regions.final_regions(grid, 0)
    interior = next(r for r in found if r.lower == (1, 1))
    reads = sorted(leaf[2] for leaf in interior.reads)
    assert reads == sorted([((0, 1, d0), (1, 1, d1)) for d0, d1 in [(1, 0), (-1, 0), (0, 1), (0, -1), (0, 0)]])
    assert interior.diagonal == ("in", 0, ((0, 1, 0), (1, 1, 0)))
    assert len(fn.plan_for((5, 7)).function.kernels) == 1  # the padding is an input of the same kernel


@pytest.fixture
def emulated(monkeypatch):
    cp = emulated_cupy()
    monkeypatch.setattr(backend_cuda, "cupy", lambda: cp)
    backend_cuda.status.cache_clear()
    yield cp
    backend_cuda.status.cache_clear()


@pytest.mark.parametrize("f, shape", [(second_difference_zero, (50,)), (laplacian_zero, (9, 11)),
                                      (brusselator, (2, 6, 6))], ids=["1d", "laplacian", "brusselator"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_on_cuda_through_the_emulator(emulated, f, shape, dtype):
    x = np.random.default_rng(8).uniform(-1, 1, size=shape).astype(dtype)
    fn = eg.jacobian_diagonal(f, orders=(0, 1), device="cuda")
    value, slope = fn(x)
    assert isinstance(slope, np.ndarray) and slope.dtype == dtype
    assert fn.plan_for(shape, dtype=dtype).function.device.startswith("cuda")
    tol = 1e-12 if dtype == "float64" else 3e-5
    want = reference(f, x)
    np.testing.assert_allclose(slope, want, rtol=tol, atol=tol * max(1.0, np.abs(want).max()))
    np.testing.assert_allclose(value, value_of(f, x), rtol=tol, atol=tol)
    on_device = fn(emulated.asarray(x))  # device arrays in, device arrays out
    assert isinstance(on_device[1], emulated.ndarray)
    np.testing.assert_array_equal(emulated.asnumpy(on_device[1]), slope)


def test_cuda_is_still_refused_for_the_colouring_engine():
    from elemgrad_gpu.errors import DeviceError

    with pytest.raises(DeviceError, match="CPU only"):
        eg.jacobian_diagonal(lambda x: pt.dot(np.eye(5) + np.eye(5, k=1), x), device="cuda")(np.ones(5))

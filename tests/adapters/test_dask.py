"""Dask arrays in (adapters/dask_arrays.py): lazy outputs, one fused task per chunk, values equal
bit for bit to the single-process NumPy call; xarray through apply_ufunc; pickling a function."""
import pickle

import cloudpickle
import dask
import dask.array as da
import numpy as np
import pytensor.tensor as pt
import pytest
import xarray as xr

import elemgrad_gpu as eg
from elemgrad_gpu.adapters import dask_arrays
from elemgrad_gpu.errors import InputError


def logistic_loss(x, mu, s):
    """A callable with scalar parameters, compiled by reference (top level of this module)."""
    return eg.log1p(eg.exp(-(x - mu) / s)) + 0.5 * s * x ** 2


@pytest.fixture(scope="module")
def gaussian():
    return eg.compile("-(x - mu)**2/(2*s**2) - log(s)", wrt=("x", "mu"), orders=(0, 1, 2), device="cpu")


@pytest.fixture(scope="module")
def loss():
    return eg.compile(logistic_loss, wrt=("x", "s"), orders=(0, 1, 2), device="cpu")


@pytest.fixture(scope="module")
def tanh2():
    return eg.compile("tanh(x)**2", orders=1, device="cpu")


@pytest.fixture
def task_calls(monkeypatch):
    """How many times a chunk task ran (each runs the kernel once for all outputs)."""
    calls = []
    original = dask_arrays.ChunkTask.__call__

    def counted(self, *chunks):
        calls.append(np.broadcast_shapes(*(np.shape(c) for c in chunks)))
        return original(self, *chunks)

    monkeypatch.setattr(dask_arrays.ChunkTask, "__call__", counted)
    return calls


def equal_all(lazy, expected):
    computed = dask.compute(*lazy, scheduler="threads")
    assert len(computed) == len(expected)
    for got, want in zip(computed, expected):
        assert got.dtype == want.dtype and got.shape == want.shape
        assert np.array_equal(got, want, equal_nan=True)


def test_nothing_runs_until_compute_then_one_task_per_chunk_for_all_outputs(gaussian, task_calls):
    x = np.linspace(-3, 3, 1_000)
    outputs = gaussian(da.from_array(x, chunks=300), 0.25, 1.5)
    assert len(outputs) == 6 and all(isinstance(o, da.Array) for o in outputs)
    assert task_calls == []
    computed = dask.compute(*outputs, scheduler="sync")
    assert sorted(task_calls) == [(100,), (300,), (300,), (300,)]  # four chunks, once each, all six outputs
    for got, want in zip(computed, gaussian(x, 0.25, 1.5)):
        assert np.array_equal(got, want)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_callable_with_scalar_parameters_equals_the_numpy_call(loss, dtype):
    x = np.linspace(-4, 4, 2_001).astype(dtype)
    lazy = loss(da.from_array(x, chunks=250), np.asarray(0.3, dtype), np.asarray(1.7, dtype))
    assert all(o.dtype == np.dtype(dtype) for o in lazy)  # float32 stays float32
    equal_all(lazy, loss(x, np.asarray(0.3, dtype), np.asarray(1.7, dtype)))


def test_a_single_output_is_one_array(tanh2):
    x = np.linspace(-2, 2, 77)
    lazy = tanh2(da.from_array(x, chunks=10))
    assert isinstance(lazy, da.Array)
    assert np.array_equal(lazy.compute(scheduler="threads"), tanh2(x))
    assert np.allclose(lazy.compute(), 2 * np.tanh(x) / np.cosh(x) ** 2, rtol=1e-14, atol=0)


def test_broadcasting_between_chunkings_numpy_arrays_and_numbers(gaussian):
    rng = np.random.default_rng(18)
    x = rng.normal(size=(40, 30))
    mu = rng.normal(size=(40, 1))
    s = rng.uniform(0.5, 2, size=30)
    expected = gaussian(x, mu, s)
    equal_all(gaussian(da.from_array(x, chunks=(7, 11)), da.from_array(mu, chunks=(13, 1)), s), expected)
    equal_all(gaussian(da.from_array(x, chunks=(40, 4)), mu, da.from_array(s, chunks=9)), expected)
    equal_all(gaussian(x, da.from_array(mu, chunks=5), 1.25), gaussian(x, mu, 1.25))
    equal_all(gaussian(da.from_array(x[0], chunks=8), 0.5, np.array([2.0])), gaussian(x[0], 0.5, np.array([2.0])))


def test_keyword_inputs(gaussian):
    x = np.linspace(-1, 1, 50)
    equal_all(gaussian(s=1.5, mu=0.1, x=da.from_array(x, chunks=16)), gaussian(x, 0.1, 1.5))
    equal_all(gaussian(da.from_array(x, chunks=16), s=1.5, mu=0.1), gaussian(x, 0.1, 1.5))


def test_zero_size_chunks_and_empty_arrays(gaussian, task_calls):
    x = np.linspace(-1, 1, 20)
    chunked = da.from_array(x, chunks=((5, 0, 15, 0),))
    equal_all(gaussian(chunked, 0.2, 1.1), gaussian(x, 0.2, 1.1))
    empty = gaussian(da.from_array(np.empty((0, 3)), chunks=2), 0.2, 1.1)
    assert all(o.shape == (0, 3) for o in dask.compute(*empty, scheduler="sync"))


def test_unknown_chunk_sizes_are_refused_clearly(tanh2):
    x = da.from_array(np.linspace(-1, 1, 20), chunks=5)
    unknown = x[x > 0]
    with pytest.raises(InputError, match="unknown size.*compute_chunk_sizes"):
        tanh2(unknown)
    assert np.array_equal(tanh2(unknown.compute_chunk_sizes()).compute(), tanh2(np.linspace(-1, 1, 20)[10:]))


def test_out_with_dask_inputs_is_refused_clearly(tanh2):
    x = da.from_array(np.linspace(-1, 1, 20), chunks=5)
    with pytest.raises(InputError, match="out= cannot be given with Dask inputs.*store"):
        tanh2(x, out=np.empty(20))


def test_xarray_apply_ufunc_parallelized_keeps_dims_and_coords(tanh2):
    x = np.linspace(-2, 2, 60).reshape(6, 10)
    array = xr.DataArray(x, dims=("t", "z"), coords={"t": np.arange(6), "z": np.linspace(0, 1, 10)}).chunk({"t": 2})
    result = xr.apply_ufunc(tanh2, array, dask="parallelized", output_dtypes=[np.float64])
    assert result.dims == ("t", "z") and isinstance(result.data, da.Array)
    assert result.coords.to_dataset().equals(array.coords.to_dataset())
    assert np.array_equal(result.compute().values, tanh2(x))


def test_xarray_apply_ufunc_allowed_with_several_outputs(gaussian):
    x = np.linspace(-2, 2, 60).reshape(6, 10)
    array = xr.DataArray(x, dims=("t", "z"), coords={"z": np.arange(10)}).chunk({"t": 3, "z": 5})
    results = xr.apply_ufunc(gaussian, array, 0.3, 1.2, dask="allowed", output_core_dims=[[]] * 6)
    assert len(results) == 6
    for got, want in zip(results, gaussian(x, 0.3, 1.2)):
        assert got.dims == ("t", "z") and np.array_equal(got.coords["z"], np.arange(10))
        assert isinstance(got.data, da.Array)
        assert np.array_equal(got.compute().values, want)


def test_pickle_carries_a_string_compiled_function(gaussian):
    again = pickle.loads(pickle.dumps(gaussian))
    assert again.inputs == gaussian.inputs and again.derivatives == gaussian.derivatives
    x = np.linspace(-3, 3, 31)
    for got, want in zip(again(x, 0.4, 2.0), gaussian(x, 0.4, 2.0)):
        assert np.array_equal(got, want)


def test_pickle_carries_a_function_compiled_from_a_top_level_def(loss):
    again = pickle.loads(pickle.dumps(loss))
    x = np.linspace(-3, 3, 31)
    for got, want in zip(again(x, 0.4, 2.0), loss(x, 0.4, 2.0)):
        assert np.array_equal(got, want)


def test_pickle_refuses_a_lambda_clearly_and_cloudpickle_carries_it():
    fn = eg.compile(lambda x: eg.tanh(x) ** 2, orders=(0, 1), device="cpu")
    with pytest.raises(pickle.PicklingError, match="Python's pickle cannot carry.*expression string.*cloudpickle"):
        pickle.dumps(fn)
    again = cloudpickle.loads(cloudpickle.dumps(fn))
    x = np.linspace(-2, 2, 21)
    value, slope = again(x)
    assert np.array_equal(value, fn(x)[0]) and np.array_equal(slope, fn(x)[1])
    assert np.allclose(slope, 2 * np.tanh(x) / np.cosh(x) ** 2, rtol=1e-14, atol=0)


@pytest.mark.parametrize("f, reference", [
    (lambda x: x / x.shape[0], lambda x: x / x.size),
    (lambda x: x * eg.exp(pt.arange(x.shape[0])), lambda x: x * np.exp(np.arange(x.size))),
], ids=["x/x.shape[0]", "x*exp(arange(n))"])
def test_a_function_reading_its_inputs_shape_is_refused_on_dask(f, reference):
    """Its values depend on the whole array's size: a chunk would compute something else (they used to,
    silently: x / x.shape[0] on chunks of 5 of 10 values gave twice the values)."""
    fn = eg.compile(f, orders=(0, 1), device="cpu")
    x = np.linspace(0, 1, 10)
    with pytest.raises(InputError, match="reads the shape of its inputs.*whole array"):
        fn(da.from_array(x, chunks=5))
    np.testing.assert_allclose(fn(x)[0], reference(x), rtol=1e-15)  # the NumPy call is unchanged


@pytest.mark.gpu
def test_cupy_chunks_run_the_cuda_kernel_and_stay_on_the_gpu():
    """Dask arrays of CuPy chunks: one CUDA task per chunk, CuPy results (meta and computed),
    values as the CPU's within the GPU's math library (a few ulp)."""
    cp = pytest.importorskip("cupy")
    fn = eg.compile("-(x - mu)**2/(2*s**2) - log(s)", wrt=("x", "mu"), orders=(0, 1, 2), device="cuda")
    host = np.linspace(-3, 3, 10_001)
    x = da.from_array(host, chunks=2_000).map_blocks(cp.asarray)
    lazy = fn(x, 0.3, 1.7)
    assert all(type(r._meta).__module__.split(".")[0] == "cupy" for r in lazy)
    computed = dask.compute(*lazy, scheduler="threads")
    want = eg.compile("-(x - mu)**2/(2*s**2) - log(s)", wrt=("x", "mu"), orders=(0, 1, 2), device="cpu")(host, 0.3, 1.7)
    for got, expected in zip(computed, want):
        assert isinstance(got, cp.ndarray)
        np.testing.assert_allclose(cp.asnumpy(got), expected, rtol=1e-13, atol=1e-13)


@pytest.mark.gpu
def test_cupy_chunks_on_a_local_cuda_cluster_of_one_worker():
    """dask-cuda's LocalCUDACluster (one worker, its GPU): the function is pickled to the worker,
    which runs the CUDA kernel on its GPU; the results come back as CuPy arrays."""
    cp = pytest.importorskip("cupy")
    dask_cuda = pytest.importorskip("dask_cuda")
    from dask.distributed import Client

    fn = eg.compile("tanh(x*s)**2", wrt="x", orders=(0, 1), device="cuda")
    host = np.linspace(-3, 3, 100_001)
    with dask_cuda.LocalCUDACluster(n_workers=1, dashboard_address=None) as cluster, Client(cluster) as client:
        x = da.from_array(host, chunks=25_000).map_blocks(cp.asarray)
        value, slope = client.compute(fn(x, 1.5), sync=True)
    assert isinstance(slope, cp.ndarray)
    t = np.tanh(1.5 * host)
    np.testing.assert_allclose(cp.asnumpy(slope), 3 * t * (1 - t * t), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(cp.asnumpy(value), t * t, rtol=1e-12, atol=1e-15)

"""jacobian_diagonal on Dask arrays (structured/chunked.py): lazy where the proof lets chunks stand
alone (elementwise; row-local with whole rows per chunk), refused clearly where it does not."""
import pickle

import dask
import dask.array as da
import numpy as np
import pytensor.tensor as pt
import pytest

import elemgrad_gpu as eg
from elemgrad_gpu.errors import InputError, StructureError
from elemgrad_gpu.structured import chunked


def softmax_rows(x):
    return pt.special.softmax(x, axis=-1)


def scaled_rows(x, a):
    return a * x / pt.sqrt(pt.sum(x ** 2, axis=-1, keepdims=True))


def test_an_elementwise_function_runs_lazily_as_compile_would():
    fn = eg.jacobian_diagonal("tanh(x)**2 * mu", orders=(0, 1, 2), device="cpu")
    x = np.linspace(-2, 2, 1_001)
    lazy = fn(da.from_array(x, chunks=128), 0.7)
    assert all(isinstance(o, da.Array) for o in lazy)
    for got, want in zip(dask.compute(*lazy, scheduler="threads"), fn(x, 0.7)):
        assert np.array_equal(got, want)
    np.testing.assert_allclose(lazy[1].compute(), 0.7 * 2 * np.tanh(x) / np.cosh(x) ** 2, rtol=1e-14)


def test_a_row_local_function_gets_whole_rows_per_chunk(monkeypatch):
    calls = []
    original = chunked.RowsTask.__call__
    monkeypatch.setattr(chunked.RowsTask, "__call__", lambda self, block: calls.append(block.shape) or
                        original(self, block))
    fn = eg.jacobian_diagonal(softmax_rows, orders=(0, 1))
    x = np.random.default_rng(18).normal(size=(50, 6))
    value, slope = fn(da.from_array(x, chunks=(20, 4)))  # chunks split the rows: rechunked to whole rows
    assert calls == [] and value.chunks == ((20, 20, 10), (6,))
    s = np.exp(x) / np.exp(x).sum(axis=-1, keepdims=True)
    got_value, got_slope = dask.compute(value, slope, scheduler="sync")
    assert sorted(calls) == [(10, 6), (20, 6), (20, 6)]  # one task per chunk of rows, both orders at once
    np.testing.assert_allclose(got_value, s, rtol=1e-14)
    np.testing.assert_allclose(got_slope, s * (1 - s), rtol=1e-13)  # d s_i / d x_i of a softmax
    want_value, want_slope = fn(x)
    np.testing.assert_allclose(got_slope, want_slope, rtol=1e-14)


def test_row_local_float32_with_a_scalar_parameter_and_pickled():
    fn = eg.jacobian_diagonal(scaled_rows, orders=1)
    x = np.random.default_rng(3).uniform(0.5, 2, size=(30, 3)).astype(np.float32)
    again = pickle.loads(pickle.dumps(fn))  # a top-level def: a Dask cluster can carry it
    lazy = again(da.from_array(x, chunks=(8, 3)), np.float32(2.0))
    assert lazy.dtype == np.float32
    got = lazy.compute(scheduler="threads")
    norm = np.sqrt((x.astype(np.float64) ** 2).sum(axis=-1, keepdims=True))
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, 2 * (1 / norm - x.astype(np.float64) ** 2 / norm ** 3), rtol=2e-6)


@pytest.mark.parametrize("f, shape", [
    (lambda x: pt.cumsum(pt.tanh(x)), (40,)),  # a cumulative sum along the array
    (lambda x: pt.concatenate([x[:1], x[1:] - x[:-1]]), (40,)),  # a stencil (first differences)
    (lambda x: pt.cumsum(x, axis=0) * x, (10, 4)),  # along the batch axis
], ids=["cumsum", "stencil", "batch-axis"])
def test_coupled_chunks_are_refused_naming_the_way_out(f, shape):
    fn = eg.jacobian_diagonal(f)
    x = da.from_array(np.ones(shape), chunks=5)
    with pytest.raises(StructureError, match="cannot run chunk by chunk.*x.compute\\(\\).*map_overlap"):
        fn(x)


def test_other_dask_inputs_of_a_structured_function_are_refused():
    fn = eg.jacobian_diagonal(scaled_rows)
    x = np.ones((6, 3))
    with pytest.raises(InputError, match="only as 'x'.*single values"):
        fn(da.from_array(x, chunks=3), da.from_array(np.ones((6, 1)), chunks=3))


def test_a_structured_function_reading_its_shape_is_refused():
    fn = eg.jacobian_diagonal(lambda x: pt.special.softmax(x, axis=-1) / x.shape[0])
    with pytest.raises(InputError, match="reads the shape of its inputs"):
        fn(da.from_array(np.ones((6, 3)), chunks=3))

"""Dask arrays in, lazy Dask arrays out: a compiled function called with a ``dask.array.Array``.

``fn(x_dask, mu)`` builds a graph and computes nothing: one task per output chunk runs the
fused kernel once for ALL requested outputs, written into one block (a leading axis of one
entry per output) and returned as a tuple of views of it; each output's chunk is taken from
that tuple (``operator.getitem``, as ``dask.array.apply_gufunc`` does for several outputs): no
second pass, no copy (slicing a stacked Dask array would copy each output's chunk out). The
inputs broadcast by Dask's rules (``da.broadcast_to`` where shapes differ; ``blockwise``
aligns the chunks of arrays chunked differently, rechunking only where Dask would).
NumPy arrays beside them are wrapped by ``da.asarray``; numbers and one-value arrays are
passed to every task as they are. NumPy chunks run the C kernel, CuPy chunks (dask-cuda)
the CUDA kernel of a function compiled for ``device="cuda"``, on the worker's current GPU.

Each task carries the function; on a cluster it is pickled to the workers, which compile it
once per process or read it from their own disk cache (``ElementwiseFunction.__getstate__``).
Zero-size chunks compute nothing; ``meta`` follows the inputs' (NumPy or CuPy).
"""
from __future__ import annotations

import string
from typing import Any, Sequence

import numpy as np

from elemgrad_gpu import arrays
from elemgrad_gpu.errors import InputError


def is_dask(value: Any) -> bool:
    """Whether ``value`` is a Dask array (no import of Dask for anything else)."""
    return type(value).__module__.startswith("dask.array") and hasattr(value, "dask")


def given(values: Sequence[Any]) -> bool:
    """Whether any of ``values`` is a Dask array."""
    return any(is_dask(v) for v in values)


class ChunkTask:
    """One output chunk's work: every output of the function, into one block, as a tuple of its views."""

    def __init__(self, function: Any, count: int, dtype: str):
        self.function, self.count, self.dtype = function, count, dtype

    def __call__(self, *chunks):
        shape = np.broadcast_shapes(*(np.shape(c) for c in chunks))
        on_gpu = any(type(c).__module__.split(".")[0] == "cupy" for c in chunks)
        empty = _cupy().empty if on_gpu else np.empty
        block = empty((self.count, *shape), dtype=self.dtype)
        outputs = tuple(block[m] for m in range(self.count))
        if block.size:
            self.function(*chunks, out=outputs)
        return outputs


def _cupy():
    import cupy

    return cupy


def call(function: Any, values: list, out: Any, single: bool):
    """The lazy outputs of ``function`` (an ElementwiseFunction) on ``values`` (Dask arrays among them)."""
    import dask.array as da

    if out is not None:
        raise InputError("out= cannot be given with Dask inputs: Dask allocates each chunk's outputs; store the "
                         "results with dask.array.store or .to_zarr")
    names = function.inputs
    dtype = _dtype(function, names, values)
    shapes = [np.shape(v) if not is_dask(v) else v.shape for v in values]
    check_size_free(function, function._source, max(map(len, shapes)))
    if any(np.isnan(n) for s in shapes for n in s):
        raise InputError("a Dask input has chunks of unknown size (NaN in its shape): call .compute_chunk_sizes() "
                         "on it first")
    shape = np.broadcast_shapes(*shapes)
    ndim = len(shape)
    pairs = []
    for name, value, given_shape in zip(names, values, shapes):
        if not is_dask(value) and int(np.prod(given_shape)) == 1:
            pairs += [np.asarray(value).reshape(()) if np.ndim(value) else value, None]  # one value: as it is
            continue
        array = value if is_dask(value) else da.asarray(arrays.read_host(name, value))
        if array.shape != shape:
            array = da.broadcast_to(array, shape)
        pairs += [array, string.ascii_lowercase[:ndim]]
    count = function.n_outputs
    meta = _meta([v for v in values if is_dask(v)], ndim, dtype)
    tuples = da.blockwise(ChunkTask(function, count, dtype), string.ascii_lowercase[:ndim], *pairs,
                          dtype=dtype, meta=(meta,) * count, concatenate=True)
    outputs = [_member(tuples, m, meta) for m in range(count)]
    return outputs[0] if single else tuple(outputs)


def _member(tuples: Any, m: int, meta: Any):
    """Output ``m``: a Dask array whose chunk i is member m of the tuple that chunk task i returns."""
    import operator

    from dask.array import Array
    from dask.base import tokenize
    from dask.core import flatten
    from dask.highlevelgraph import HighLevelGraph

    name = f"elemgrad-output{m}-{tokenize(tuples.name, m)}"
    layer = {(name, *key[1:]): (operator.getitem, key, m) for key in flatten(tuples.__dask_keys__())}
    graph = HighLevelGraph.from_collections(name, layer, dependencies=[tuples])
    return Array(graph, name, chunks=tuples.chunks, dtype=tuples.dtype, meta=meta)


def check_size_free(holder: Any, source: Any, ndim: int) -> None:
    """Refuse a function whose graph reads its inputs' shapes (``x / x.shape[0]``, ``x * arange(x.size)``):
    its values depend on the size of the array it is given, so a chunk would not compute its part
    of the whole. An expression string cannot read shapes; a callable or a graph is traced once per
    ndim (the answer is kept on ``holder``, the compiled function)."""
    if source.is_string:
        return
    known = holder.__dict__.setdefault("_size_free", {})
    if ndim not in known:
        known[ndim] = _reads_no_shape(source, max(ndim, source.ndim if source.given is not None else 0))
    if not known[ndim]:
        raise InputError("this function reads the shape of its inputs (x.shape, x.size, arange(n) ...), so its values "
                         "depend on the size of the array it is given and a Dask chunk would not compute its part of "
                         "the whole array: call it on the whole array (e.g. x.compute()), or write f without shapes")


def _reads_no_shape(source: Any, ndim: int) -> bool:
    from pytensor.graph.traversal import applys_between
    from pytensor.tensor.shape import Shape, Shape_i

    inputs, outputs = source.trace_all("float64", ndim)
    return not any(isinstance(node.op, (Shape, Shape_i)) for node in applys_between(inputs, outputs))


def _dtype(function: Any, names: Sequence[str], values: Sequence[Any]) -> str:
    """The computation dtype, by the rule of a call with these inputs (arrays.prepare)."""
    samples = [np.empty((0,), v.dtype) if is_dask(v) else v for v in values]
    _, dtype = arrays.prepare(names, samples, function.dtype, arrays.read_host, function._default_dtype)
    return dtype


def _meta(inputs: Sequence[Any], ndim: int, dtype: str):
    """An empty array of the outputs' kind: CuPy where the inputs' chunks are CuPy, else NumPy."""
    for array in inputs:
        meta = getattr(array, "_meta", None)
        if type(meta).__module__.split(".")[0] == "cupy":
            return _cupy().empty((0,) * ndim, dtype=dtype)
    return np.empty((0,) * ndim, dtype=dtype)

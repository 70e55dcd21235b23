"""``jacobian_diagonal`` on Dask arrays: lazy, one task per chunk, where the proof allows chunks.

A chunk may be computed on its own only when its diagonal depends on nothing outside it:

* f proven elementwise: the compiled elementwise function runs on the Dask arrays as any
  ``compile``'d function does (one fused task per chunk, full broadcasting);
* f proven row-local along x's last axis (``rowlocal.prove_row_local``: row i of y depends
  on row i of x only; per-row softmax, ``x / norm(x)``): the last axis is rechunked whole, so
  that no chunk splits a row, and each chunk of whole rows is planned and computed as an
  array of its own (``da.map_blocks``), the other inputs being single values;
* anything else (a stencil, a cumulative sum along the array, a reduction over it) couples
  chunks: the proof gives no bound on how far, so chunks are not overlapped on a guess;
  it is refused with a StructureError that names the way out.

Functions that read their inputs' shapes are refused (their values depend on the size of
the array they are given: ``adapters.dask_arrays.check_size_free``).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from elemgrad_gpu.adapters.dask_arrays import check_size_free, is_dask
from elemgrad_gpu.errors import InputError, NotElementwiseError, StructureError


class RowsTask:
    """One chunk of whole rows: every requested order of the diagonal, stacked on a leading axis."""

    def __init__(self, diagonal: Any, wrt: str, others: dict):
        self.diagonal, self.wrt, self.others = diagonal, wrt, others

    def __call__(self, block: np.ndarray) -> np.ndarray:
        if not block.size:
            return np.empty((len(self.diagonal.orders), *block.shape), dtype=block.dtype)
        results = self.diagonal(**{self.wrt: block}, **self.others)
        return np.stack(results if not self.diagonal.single else (results,))


def call(diagonal: Any, given: dict):
    """The lazy diagonal of ``diagonal`` (a DiagonalFunction) on ``given`` (name -> value, Dask among them)."""
    from elemgrad_gpu.structured import plan as planning

    source, wrt = diagonal.source, diagonal.wrt
    shapes = {name: tuple(value.shape) if is_dask(value) else np.shape(value) for name, value in given.items()}
    if any(np.isnan(n) for shape in shapes.values() for n in shape):
        raise InputError("a Dask input has chunks of unknown size (NaN in its shape): call .compute_chunk_sizes() "
                         "on it first")
    x = given[wrt]
    dtype = diagonal.dtype or _dtype(x)
    inputs, output = planning.trace(source, dtype, shapes)
    if planning.is_elementwise(output, diagonal._x(inputs)):
        return diagonal._elementwise_function()(*(given[name] for name in source.names))
    others = {name: value for name, value in given.items() if name != wrt}
    _check_rows_apart(diagonal, x, others, output, diagonal._x(inputs))
    check_size_free(diagonal, source, x.ndim)
    whole_rows = x.rechunk({x.ndim - 1: -1}).astype(dtype, copy=False)
    count = len(diagonal.orders)
    block = whole_rows.map_blocks(RowsTask(diagonal, wrt, others), new_axis=0, chunks=((count,), *whole_rows.chunks),
                                  dtype=dtype, meta=np.empty((0,) * (x.ndim + 1), dtype))
    outputs = [block[m] for m in range(count)]
    return outputs[0] if diagonal.single else tuple(outputs)


def _check_rows_apart(diagonal: Any, x: Any, others: dict, output, x_variable) -> None:
    """Refuse, naming the fix, unless x is a Dask array, the other inputs single values, and f row-local."""
    from elemgrad_gpu.structured.rowlocal import prove_row_local

    if not is_dask(x) or any(is_dask(v) or np.size(v) != 1 for v in others.values()):
        raise InputError(f"jacobian_diagonal of a function that is not elementwise takes a Dask array only as "
                         f"'{diagonal.wrt}', with the other inputs as single values: compute the others "
                         f"(.compute()) and call it on NumPy arrays")
    try:
        if x.ndim < 2:
            raise NotElementwiseError("it has one axis: the whole array is one row")
        prove_row_local([output], x_variable, x_name=diagonal.wrt)
    except NotElementwiseError as reason:
        raise StructureError(
            f"jacobian_diagonal cannot run chunk by chunk on a Dask array here: f couples elements across chunks "
            f"(a stencil, a cumulative sum, a reduction along the array) and is not row-local along the last axis "
            f"({reason}). Compute it on NumPy arrays (x.compute()), or, for a stencil you know to be of half-width b "
            f"and the same at every position, da.map_overlap(fn, depth=b, boundary='none', dtype=x.dtype)") from None


def _dtype(x: Any) -> str:
    name = np.dtype(x.dtype).name
    return name if name in ("float32", "float64") else "float64"

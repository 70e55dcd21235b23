"""The sparsity pattern of dy/dx, proven from the PyTensor graph at one shape.

Every variable that depends on the values of ``x`` gets a ``Strands``: a short list of
integer arrays of that variable's shape; element p of strand k is the flat index of the
element of ``x`` it reads through that strand, or -1 for none. Element p of the variable
depends on ``{strand[p] for strand in strands} - {-1}`` and on nothing else. The rules
that carry strands through an operation are exact NumPy index operations:

* elementwise operations (with broadcasting): the union of their inputs' strands;
* slices, integer and constant-array indexing, reversal, reshapes, transposes,
  concatenation, set/increment of a sub-array, ``Alloc``: the same index operation
  applied to every strand (missing parts are -1);
* constant-kernel 1-D/2-D convolution: one strand per nonzero kernel entry;
* reductions, softmax, sort and cumulative operations: the union along the axis, spelled
  out while it has at most ``cap`` strands, else a ``Coupled`` marker that names the
  operation and how many elements it couples (a lower bound on colouring passes);
* anything else that reads ``x`` is ``Coupled`` as well (the prover does not know it).

A 1-D stencil of 10^7 elements costs a few NumPy operations on arrays of 10^7 int32
per operation of the graph: no n x n structure is ever built.
"""
from __future__ import annotations

from dataclasses import dataclass
import numpy as np
from pytensor.graph.basic import Constant, Variable

DEFAULT_CAP = 64  # strands a variable may hold before its coupling counts as dense


@dataclass
class Strands:
    """The dependency of every element of one variable on the flat elements of x."""

    arrays: list  # of int arrays, all of the variable's shape

    @property
    def shape(self) -> tuple:
        return self.arrays[0].shape


@dataclass
class Coupled:
    """A variable whose elements depend on more elements of x than ``cap``: ``op`` coupled
    ``extent`` elements (so colouring for the diagonal would need at least that many passes)."""

    op: str
    extent: int


def index_dtype(n: int):
    return np.int32 if n < 2**31 - 1 else np.int64


def same(a: np.ndarray, b: np.ndarray) -> bool:
    if a is b:
        return True
    if a.shape != b.shape:
        return False
    if a.__array_interface__["data"] == b.__array_interface__["data"] and a.strides == b.strides:
        return True
    return bool(np.array_equal(a, b))


class ConstantValues:
    """The values of x-independent operands that shape the pattern (slice bounds, axes,
    shapes, kernels): constants directly, anything else by one evaluation with inputs of
    the call's shape (their values must not matter: they are zeros)."""

    def __init__(self, shapes: dict):
        self.shapes = shapes

    def __call__(self, v: Variable):
        if isinstance(v, Constant):
            return np.asarray(v.data)
        from pytensor.tensor.basic import get_underlying_scalar_constant_value
        from pytensor.tensor.exceptions import NotScalarConstantError

        try:
            return np.asarray(get_underlying_scalar_constant_value(v))
        except (NotScalarConstantError, TypeError, ValueError):
            pass
        import pytensor

        inputs = [i for i in self.shapes]
        fn = pytensor.function(inputs, v, on_unused_input="ignore", mode="FAST_COMPILE")
        return np.asarray(fn(*[np.zeros(self.shapes[i], dtype=i.dtype) for i in inputs]))


def to_sparse(strands: Strands | None, n_in: int, shape_out: tuple):
    """The pattern as a scipy.sparse CSR matrix of ones (rows: output, columns: x, flat)."""
    import scipy.sparse as sp

    n_out = int(np.prod(shape_out, dtype=np.int64))
    if strands is None:
        return sp.csr_matrix((n_out, n_in), dtype=np.int8)
    rows, cols = [], []
    for a in strands.arrays:
        flat = np.broadcast_to(a, shape_out).ravel()
        keep = flat >= 0
        rows.append(np.nonzero(keep)[0])
        cols.append(flat[keep])
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    matrix = sp.csr_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(n_out, n_in))
    matrix.data[:] = 1
    return matrix

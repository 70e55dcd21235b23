"""Colour the columns of J for its diagonal only.

Seeding every column of one colour c at once and reading row k of J @ seed gives
J[k, k] plus J[k, j] for the other columns j of colour c. So column j need only avoid
the columns k with J[k, j] != 0 or J[j, k] != 0 (every row is read): the conflict graph
is the symmetric off-diagonal pattern, not the column-intersection graph of a full
Jacobian colouring. A path (tridiagonal J) takes 2 colours, a band of half-width b takes
b + 1, a 2-D 5-point stencil 2 (a checkerboard).

The same colouring serves higher orders: the k-th directional derivative of y_i along a
colour's seed sums the derivatives of y_i by the seeded columns it depends on, and the
only one of those is column i.

Large patterns are coloured by trying the regular colourings ``flat index mod p`` and
``(sum of the multi-index) mod p`` (each checked exactly against every conflict, in a few
vectorized passes over the strands), small ones also greedily; the fewest colours win.
"""
from __future__ import annotations

import numpy as np

from elemgrad_gpu.structured.pattern import Strands

MAX_REGULAR = 64  # the largest p tried for the regular colourings
GREEDY_LIMIT = 200_000  # patterns up to this many elements are also coloured greedily


def conflicts(strands: Strands) -> tuple[np.ndarray, np.ndarray]:
    """The conflict edges (row k, column j), j != k, of J's pattern (each once per strand)."""
    rows, cols = [], []
    size = strands.arrays[0].size
    position = np.arange(size, dtype=strands.arrays[0].dtype)
    for a in strands.arrays:
        flat = a.ravel()
        mask = flat >= 0
        mask &= flat != position
        k = np.flatnonzero(mask).astype(flat.dtype, copy=False)
        rows.append(k)
        cols.append(flat[k])
    return np.concatenate(rows), np.concatenate(cols)


def colour(strands: Strands, shape: tuple) -> np.ndarray:
    """One colour (0, 1, ...) per element of x, of x's shape, valid for the diagonal."""
    n = int(np.prod(shape, dtype=np.int64))
    rows, cols = conflicts(strands)
    if rows.size == 0:
        return np.zeros(shape, dtype=np.int32)
    best = _regular(rows, cols, shape)
    if n <= GREEDY_LIMIT:
        greedy = _greedy(rows, cols, n)
        if best is None or greedy.max() < best.max():
            best = greedy
    if best is None:
        best = _greedy(rows, cols, n)
    return best.reshape(shape)


def _valid(colours: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> bool:
    return not np.any(colours[rows] == colours[cols])


def _regular(rows, cols, shape) -> np.ndarray | None:
    n = int(np.prod(shape, dtype=np.int64))
    kind = np.int32 if n < 2**31 - 1 else np.int64
    flat = np.arange(n, dtype=kind)
    index_sum = np.indices(shape, dtype=kind).sum(axis=0).ravel() if len(shape) > 1 else None
    for p in range(2, MAX_REGULAR + 1):
        for base in (flat, index_sum):
            if base is None:
                continue
            candidate = (base % p).astype(np.int32)
            if _valid(candidate, rows, cols):
                return candidate
    return None


def _greedy(rows, cols, n) -> np.ndarray:
    """Greedy colouring of the symmetric conflict graph in natural order."""
    import scipy.sparse as sp

    graph = sp.csr_matrix((np.ones(2 * rows.size, dtype=np.int8), (np.r_[rows, cols], np.r_[cols, rows])),
                          shape=(n, n))
    indptr, indices = graph.indptr, graph.indices
    colours = np.full(n, -1, dtype=np.int32)
    for v in range(n):
        used = set(colours[indices[indptr[v]:indptr[v + 1]]].tolist())
        c = 0
        while c in used:
            c += 1
        colours[v] = c
    return colours

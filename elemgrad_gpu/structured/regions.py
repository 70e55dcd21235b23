"""Region analysis for the fused stencil kernel: y as one scalar formula per box of indices.

For a graph built from elementwise operations, constant-bound slices (step +-1), integer
indexing, ``set_subtensor``/``inc_subtensor`` on constant regions (``pt.pad``),
concatenation and stacking, ``Alloc`` and broadcasting, transposes, reshapes that merge
adjacent axes (``pt.pad(mode="wrap")`` tiles that way) and constant-kernel ``convolve1d``,
the value of every variable, at the call's concrete shapes, is piecewise: its index space
splits into a grid of boxes (``Grid``: cut points per axis), and in each box every element
is ONE scalar expression of *leaves*, each reading one array at an affine index of the
element's own index ``i``:

* ``("in", k, map)``: graph input k at index ``map(i)``;
* ``("const", k, map)``: the k-th constant array of the graph (``Analysis.constants``);
* ``("fill", value, dtype)``: a number the structure writes (the zeros of a padding);
* ``("k", value, dtype)``: a constant operand of an elementwise operation (kept in the kernel);
* ``("op", elemwise_op, children)``: the operation applied to its children.

A ``map`` has one entry per axis of the array read: ``(axis, sign, offset)``, index
``sign * i[axis] + offset``, or ``(-1, 0, offset)``, the fixed index ``offset``. Every read
is in bounds by construction (each operation only ever maps in-bounds indices).

``final_regions`` then splits the output's boxes until, in each box, every leaf of the
differentiated input either reads element i itself at every point of the box (the
*diagonal leaf*: at most one, after reads that coincide on the box are merged) or at no
point of it. There y_i = expr(leaves) with the diagonal leaf appearing once as a variable
of its own, so d^k y_i / dx_i^k is exactly the k-th derivative of expr by that leaf.
Anything else raises ``Unsupported`` (the caller falls back to colouring).
"""
from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field

import numpy as np

from elemgrad_gpu.errors import Unsupported

MAX_CELLS = 4096  # boxes of one variable; beyond it the function is not stencil-like
MAX_ROUNDS = 8  # rounds of splitting boxes at the points where a read meets the diagonal


@dataclass
class Grid:
    """A variable's value: ``cells[k0, k1, ...]`` is the expression on the box
    ``[cuts[0][k0], cuts[0][k0+1]) x ...``."""

    shape: tuple
    cuts: tuple
    cells: np.ndarray

    def at(self, point) -> tuple:
        """The expression of the box holding ``point``."""
        return self.cells[tuple(bisect_right(c, p) - 1 for c, p in zip(self.cuts, point))]


def build(shape: tuple, cuts, make) -> Grid:
    """A Grid of ``shape`` cut at ``cuts``, the expression of each box being ``make(lower corner)``."""
    cuts = tuple(tuple(sorted(set(int(v) for v in c) | {0, n})) for c, n in zip(cuts, shape))
    counts = tuple(len(c) - 1 for c in cuts)
    if int(np.prod(counts, dtype=np.int64)) > MAX_CELLS:
        raise Unsupported(f"more than {MAX_CELLS} regions")
    cells = np.empty(counts, dtype=object)
    for index in np.ndindex(*counts):
        cells[index] = make(tuple(c[k] for c, k in zip(cuts, index)))
    return Grid(tuple(shape), cuts, cells)


def uniform(shape: tuple, expr: tuple) -> Grid:
    """One box of ``shape`` holding ``expr``."""
    cells = np.empty((1,) * len(shape), dtype=object)
    cells[(0,) * len(shape)] = expr
    return Grid(tuple(shape), tuple((0, n) for n in shape), cells)


def identity_map(ndim: int) -> tuple:
    return tuple((a, 1, 0) for a in range(ndim))


def substitute(expr: tuple, sub: tuple, memo: dict | None = None) -> tuple:
    """``expr`` with each old axis a of the maps replaced by ``sub[a] = (axis, sign, offset)``:
    old index ``i_a = sign * i_new[axis] + offset`` (axis -1: the fixed index ``offset``)."""
    memo = {} if memo is None else memo
    key = (expr, sub)
    if key not in memo:
        memo[key] = _substituted(expr, sub, memo)
    return memo[key]


def _substituted(expr: tuple, sub: tuple, memo: dict) -> tuple:
    kind = expr[0]
    if kind in ("in", "const"):
        return (kind, expr[1], tuple(_compose(entry, sub) for entry in expr[2]))
    if kind == "op":
        return ("op", expr[1], tuple(substitute(c, sub, memo) for c in expr[2]))
    return expr


def _compose(entry: tuple, sub: tuple) -> tuple:
    axis, sign, offset = entry
    if axis < 0:
        return entry
    new_axis, new_sign, new_offset = sub[axis]
    if new_axis < 0:
        return (-1, 0, offset + sign * new_offset)
    return (new_axis, sign * new_sign, offset + sign * new_offset)


def leaves(expr: tuple, found: list | None = None) -> list:
    """The distinct leaves of ``expr``, in order of first appearance (embedded constants aside)."""
    found = [] if found is None else found
    if expr[0] == "op":
        for child in expr[2]:
            leaves(child, found)
    elif expr[0] != "k" and expr not in found:
        found.append(expr)
    return found


def refine(grid: Grid, cuts: tuple) -> Grid:
    """``grid`` on finer ``cuts`` (each new box inside one old box)."""
    if not grid.shape:
        return grid
    picks = [[bisect_right(old, lower) - 1 for lower in new[:-1]] for old, new in zip(grid.cuts, cuts)]
    if int(np.prod([len(p) for p in picks], dtype=np.int64)) > MAX_CELLS:
        raise Unsupported(f"more than {MAX_CELLS} regions")
    return Grid(grid.shape, tuple(cuts), grid.cells[np.ix_(*picks)])


def union_cuts(grids: list[Grid]) -> tuple:
    ndim = len(grids[0].shape)
    return tuple(tuple(sorted(set().union(*(g.cuts[a] for g in grids)))) for a in range(ndim))


def map_cells(grid: Grid, change) -> Grid:
    """``grid`` with ``change`` applied to each box's expression."""
    cells = np.empty(grid.cells.shape, dtype=object)
    for index in np.ndindex(*grid.cells.shape):
        cells[index] = change(grid.cells[index])
    return Grid(grid.shape, grid.cuts, cells)


def broadcast(grid: Grid, shape: tuple) -> Grid:
    """``grid`` broadcast to ``shape`` as NumPy does (new leading axes; size-1 axes repeated)."""
    shape = tuple(shape)
    if grid.shape == shape:
        return grid
    lead = len(shape) - len(grid.shape)
    if lead < 0:
        raise Unsupported("a broadcast to fewer axes")
    sub, cuts = [], [(0, n) for n in shape[:lead]]
    for a, n in enumerate(grid.shape):
        repeated = n == 1 and shape[lead + a] != 1
        if n != shape[lead + a] and not repeated:
            raise Unsupported(f"shapes {grid.shape} and {shape} do not broadcast")
        sub.append((-1, 0, 0) if repeated else (lead + a, 1, 0))
        cuts.append((0, shape[lead + a]) if repeated else grid.cuts[a])
    memo, sub = {}, tuple(sub)
    cells = grid.cells.reshape((1,) * lead + grid.cells.shape)
    moved = map_cells(Grid(shape, tuple(cuts), cells), lambda e: substitute(e, sub, memo))
    return moved


@dataclass
class Region:
    """One box of the output: ``expr`` on ``lower <= i < upper``; ``diagonal`` is the leaf
    that reads the differentiated input at i itself (None: y_i does not depend on x_i)."""

    lower: tuple
    upper: tuple
    expr: tuple
    diagonal: tuple | None = None
    reads: list = field(default_factory=list)

    @property
    def size(self) -> int:
        return int(np.prod([u - l for l, u in zip(self.lower, self.upper)], dtype=np.int64))


def canonical(expr: tuple, lower: tuple, upper: tuple) -> tuple:
    """``expr`` on the box with the axes of extent 1 fixed (so reads that coincide there are equal)."""
    sub = tuple((-1, 0, l) if u - l == 1 else (a, 1, 0) for a, (l, u) in enumerate(zip(lower, upper)))
    return substitute(expr, sub)


def meets(entry: tuple, a: int, lower: int, upper: int):
    """Where, on axis a of the box, index ``entry`` equals i_a: "always", "never", or the
    point (an int) where it does; Unsupported for a read along another axis that may meet it."""
    axis, sign, offset = entry
    if axis == a and sign == 1:
        return "always" if offset == 0 else "never"
    if axis < 0 or axis == a:  # fixed index, or reversed: i = offset / (1 - sign)
        if axis < 0 and upper - lower == 1:
            return "always" if offset == lower else "never"
        point, whole = (offset, True) if axis < 0 else (offset // 2, offset % 2 == 0)
        return point if whole and lower <= point < upper else "never"
    raise Unsupported("a read of the differentiated input along another axis (a transpose)")


def diagonal_of(leaf: tuple, lower: tuple, upper: tuple):
    """"always", "never", or a list of (axis, point) cuts that separate where ``leaf`` reads x_i."""
    found = [meets(entry, a, lo, up) for a, (entry, lo, up) in enumerate(zip(leaf[2], lower, upper))]
    if "never" in found:
        return "never"
    points = [(a, p) for a, p in enumerate(found) if p != "always"]
    return points or "always"


def final_regions(grid: Grid, x_index: int) -> list[Region]:
    """The output's boxes, split until each read of input ``x_index`` meets the diagonal
    everywhere on its box or nowhere."""
    for _ in range(MAX_ROUNDS):
        regions, extra = _regions_once(grid, x_index)
        if not any(extra):
            return regions
        grid = refine(grid, tuple(tuple(sorted(set(c) | e)) for c, e in zip(grid.cuts, extra)))
    raise Unsupported("reads that meet the diagonal at too many points")


def _regions_once(grid: Grid, x_index: int):
    regions, extra = [], [set() for _ in grid.shape]
    for index in np.ndindex(*grid.cells.shape):
        lower = tuple(c[k] for c, k in zip(grid.cuts, index))
        upper = tuple(c[k + 1] for c, k in zip(grid.cuts, index))
        expr = canonical(grid.cells[index], lower, upper)
        region = Region(lower, upper, expr, reads=leaves(expr))
        for leaf in region.reads:
            if leaf[0] != "in" or leaf[1] != x_index:
                continue
            where = diagonal_of(leaf, lower, upper)
            if where == "always":
                region.diagonal = leaf
            elif where != "never":
                for a, point in where:
                    extra[a] |= {point, point + 1}
        regions.append(region)
    return regions, extra

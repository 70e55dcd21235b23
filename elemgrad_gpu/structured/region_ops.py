"""The walk of the region analysis: how each operation carries a ``Grid`` (see ``regions.py``).

``analyse(output, inputs, shapes)`` walks the traced graph once, from every input (each a
one-box Grid reading itself at the identity index) to the output. Operations that only
read shapes produce nothing; x-independent operands (constants, allocated fills) enter
as ``"k"`` constants (operands of elementwise operations), ``"fill"`` numbers (padding,
joined constants) or ``"const"`` arrays (a constant array that is not one number).
Any other operation, or an index computed from the inputs, raises ``Unsupported``.
"""
from __future__ import annotations

import numpy as np
from pytensor.compile.ops import DeepCopyOp, ViewOp
from pytensor.graph.traversal import io_toposort
from pytensor.raise_op import CheckAndRaise
from pytensor.tensor.basic import Alloc, Join
from pytensor.tensor.blockwise import Blockwise
from pytensor.tensor.elemwise import DimShuffle, Elemwise
from pytensor.tensor.shape import Reshape, Shape, Shape_i, SpecifyShape
from pytensor.tensor.subtensor import IncSubtensor, Subtensor, indices_from_subtensor

from elemgrad_gpu.structured.ops import _index
from elemgrad_gpu.structured.pattern import ConstantValues
from elemgrad_gpu.structured.regions import (Grid, Unsupported, broadcast, build, identity_map, map_cells,
                                             refine, substitute, uniform, union_cuts)


class Walk:
    """The state of one analysis: the grids so far, the constant arrays met, shape values."""

    def __init__(self, shapes: dict):
        self.values = ConstantValues(shapes)
        self.constants: list[np.ndarray] = []
        self.memo: dict = {}

    def shape_of(self, var) -> tuple:
        shape = var.type.shape
        return tuple(shape) if None not in shape else tuple(int(s) for s in self.values(var.shape))

    def operand(self, var, kind: str, dtype: str | None = None) -> Grid:
        """An x-independent operand as a Grid: one number (``kind``: "k" or "fill") or a constant array."""
        value = np.broadcast_to(np.asarray(self.values(var)), self.shape_of(var))
        dtype = dtype or var.dtype
        flat = value.ravel()
        if flat.size and (flat == flat[0]).all():
            return uniform(value.shape, (kind, flat[0].item(), dtype))
        if not flat.size:
            raise Unsupported("an empty constant")
        self.constants.append(np.ascontiguousarray(value, dtype=dtype))
        return uniform(value.shape, ("const", len(self.constants) - 1, identity_map(value.ndim)))

    def moved(self, expr: tuple, sub: tuple) -> tuple:
        return substitute(expr, sub, self.memo)


def analyse(output, inputs: list, shapes: dict) -> tuple[Grid, list]:
    """The output's Grid and the constant arrays its leaves read; Unsupported otherwise.
    ``shapes``: each input Variable's concrete shape."""
    walk = Walk(shapes)
    grids = {v: uniform(shapes[v], ("in", k, identity_map(len(shapes[v])))) for k, v in enumerate(inputs)}
    if any(0 in shape for shape in shapes.values()):
        raise Unsupported("an empty input")
    for node in io_toposort(inputs, [output]):
        held = [grids.get(v) for v in node.inputs]
        if all(h is None for h in held):
            continue
        rule = _rule(node.op)
        if rule is None:
            raise Unsupported(f"{type(node.op).__name__} ({node.op})")
        result = rule(walk, node, held)
        if result is not None:
            grids[node.outputs[0]] = result
    if output not in grids:
        raise Unsupported("an output that reads no input")
    return grids[output], walk.constants


def elemwise(walk: Walk, node, held) -> Grid:
    if len(node.outputs) != 1:
        raise Unsupported(f"{node.op} has several outputs")
    shape = walk.shape_of(node.outputs[0])
    grids = [broadcast(h if h is not None else walk.operand(v, "k"), shape) for v, h in zip(node.inputs, held)]
    cuts = union_cuts(grids)
    refined = [refine(g, cuts) for g in grids]
    cells = np.empty(refined[0].cells.shape, dtype=object)
    for index in np.ndindex(*cells.shape):
        cells[index] = ("op", node.op, tuple(r.cells[index] for r in refined))
    return Grid(shape, cuts, cells)


def dimshuffle(walk: Walk, node, held) -> Grid:
    grid, order = held[0], list(node.op.new_order)
    kept = [i for i in order if i != "x"]
    dropped = [a for a in range(len(grid.shape)) if a not in kept]
    sub = tuple((order.index(a), 1, 0) if a in kept else (-1, 0, 0) for a in range(len(grid.shape)))
    cells = grid.cells.transpose(kept + dropped).reshape([grid.cells.shape[a] for a in kept])
    cells = cells[tuple(None if i == "x" else slice(None) for i in order)]
    moved = Grid(tuple(1 if i == "x" else grid.shape[i] for i in order),
                 tuple((0, 1) if i == "x" else grid.cuts[i] for i in order), cells)
    return map_cells(moved, lambda e: walk.moved(e, sub))


def _indices(walk: Walk, node, start: int, ndim: int) -> list:
    index = [_index(e, walk.values) for e in indices_from_subtensor(node.inputs[start:], node.op.idx_list)]
    return index + [slice(None)] * (ndim - len(index))


def _axis_read(entry, n: int):
    """(start, step, length) of a slice with step +-1, or (index, None, None) for an integer."""
    if isinstance(entry, slice):
        start, stop, step = entry.indices(n)
        length = len(range(start, stop, step))
        if step not in (1, -1):
            raise Unsupported(f"a slice of step {step}")
        return start, step, length
    if not -n <= entry < n:
        raise Unsupported("an index out of bounds")
    return entry % n, None, None


def subtensor(walk: Walk, node, held) -> Grid:
    if any(h is not None for h in held[1:]):
        raise Unsupported("indices computed from the inputs")
    grid = held[0]
    reads = [_axis_read(e, n) for e, n in zip(_indices(walk, node, 1, len(grid.shape)), grid.shape)]
    new_axis, sub, shape, cuts = {}, [], [], []
    for a, (start, step, length) in enumerate(reads):
        if step is None:
            sub.append((-1, 0, start))
            continue
        new_axis[a] = len(shape)
        sub.append((len(shape), step, start))
        shape.append(length)
        cuts.append([min(max(c - start if step == 1 else start + 1 - c, 0), length) for c in grid.cuts[a]])
    sub = tuple(sub)

    def make(lower):
        point = [start if step is None else start + step * lower[new_axis[a]]
                 for a, (start, step, _) in enumerate(reads)]
        return walk.moved(grid.at(point), sub)

    return build(tuple(shape), cuts, make)


def inc_subtensor(walk: Walk, node, held) -> Grid:
    """x[region] = v (set) or x[region] += v, the region of constant slices of step 1 and integers."""
    if any(h is not None for h in held[2:]):
        raise Unsupported("indices computed from the inputs")
    out = node.outputs[0]
    shape = walk.shape_of(out)
    base = broadcast(held[0] if held[0] is not None else walk.operand(node.inputs[0], "fill", out.dtype), shape)
    reads = [_axis_read(e, n) for e, n in zip(_indices(walk, node, 2, len(shape)), shape)]
    if any(step == -1 for _, step, _ in reads):
        raise Unsupported("a reversed region of inc_subtensor")
    if any(length == 0 for _, _, length in reads):
        return base  # an empty region (a padding of width 0)
    value_var, value = node.inputs[1], held[1]
    value = _cast(value, value_var.dtype, out.dtype) if value is not None else \
        walk.operand(value_var, "fill", out.dtype)
    slice_axes = [a for a, (_, step, _) in enumerate(reads) if step is not None]
    value = broadcast(value, tuple(reads[a][2] for a in slice_axes))
    sub = tuple((a, 1, -reads[a][0]) for a in slice_axes)
    bounds = [(s, s + (n if step else 1)) for s, step, n in reads]
    cuts = [set(base.cuts[a]) | set(bounds[a]) for a in range(len(shape))]
    for b, a in enumerate(slice_axes):
        cuts[a] |= {c + bounds[a][0] for c in value.cuts[b]}
    setting = node.op.set_instead_of_inc

    def make(lower):
        if not all(lo <= p < hi for p, (lo, hi) in zip(lower, bounds)):
            return base.at(lower)
        written = walk.moved(value.at([lower[a] - bounds[a][0] for a in slice_axes]), sub)
        return written if setting else ("op", _add(), (base.at(lower), written))

    return build(shape, cuts, make)


def _cast(grid: Grid, dtype: str, to: str) -> Grid:
    """``grid`` converted to ``to`` as the operation converts it (PyTensor's Cast)."""
    if dtype == to:
        return grid
    from pytensor.tensor.basic import _cast_mapping

    return map_cells(grid, lambda e: ("op", _cast_mapping[to], (e,)))


def _add():
    from pytensor.tensor.math import add

    return add


def join(walk: Walk, node, held) -> Grid:
    out = node.outputs[0]
    shape = walk.shape_of(out)
    axis = int(walk.values(node.inputs[0])) % len(shape)
    parts, offset = [], 0
    for v, h in zip(node.inputs[1:], held[1:]):
        grid = _cast(h, v.dtype, out.dtype) if h is not None else walk.operand(v, "fill", out.dtype)
        if grid.shape[axis]:
            parts.append((offset, grid))
        offset += grid.shape[axis]
    cuts = [set().union(*(g.cuts[a] for _, g in parts)) for a in range(len(shape))]
    cuts[axis] = {c + off for off, g in parts for c in g.cuts[axis]}

    def make(lower):
        off, grid = next((o, g) for o, g in reversed(parts) if o <= lower[axis])
        sub = tuple((a, 1, -off if a == axis else 0) for a in range(len(shape)))
        return walk.moved(grid.at([p - off if a == axis else p for a, p in enumerate(lower)]), sub)

    return build(shape, cuts, make)


def alloc(walk: Walk, node, held) -> Grid:
    if any(h is not None for h in held[1:]):
        raise Unsupported("a shape computed from the inputs")
    return broadcast(held[0], tuple(int(walk.values(s)) for s in node.inputs[1:]))


def first(walk: Walk, node, held) -> Grid:
    if any(h is not None for h in held[1:]):
        raise Unsupported(f"{node.op} of values computed from the inputs")
    return held[0]


def shape_only(walk: Walk, node, held) -> None:
    return None  # reads the shape, not the values


def reshape(walk: Walk, node, held) -> Grid:
    """Reshapes that only merge adjacent axes (and add or drop axes of length 1)."""
    if held[1] is not None:
        raise Unsupported("a shape computed from the inputs")
    grid = held[0]
    new = [int(s) for s in walk.values(node.inputs[1])]
    if -1 in new:
        known = int(np.prod([s for s in new if s != -1], dtype=np.int64))
        new[new.index(-1)] = int(np.prod(grid.shape, dtype=np.int64)) // max(known, 1)
    grid = _squeezed(walk, grid)
    groups, a = [], 0
    for n in (s for s in new if s != 1):
        start, size = a, 1
        while size < n and a < len(grid.shape):
            size, a = size * grid.shape[a], a + 1
        if size != n:
            raise Unsupported(f"a reshape to {tuple(new)} that splits an axis")
        groups.append((start, a))
    if a != len(grid.shape):
        raise Unsupported(f"a reshape to {tuple(new)}")
    for start, stop in reversed(groups):
        for _ in range(stop - start - 1):
            grid = _merged(walk, grid, start)
    return _expanded(walk, grid, tuple(new))


def _squeezed(walk: Walk, grid: Grid) -> Grid:
    kept = [a for a, n in enumerate(grid.shape) if n != 1]
    sub = tuple((kept.index(a), 1, 0) if a in kept else (-1, 0, 0) for a in range(len(grid.shape)))
    squeezed = Grid(tuple(grid.shape[a] for a in kept), tuple(grid.cuts[a] for a in kept),
                    grid.cells.reshape([grid.cells.shape[a] for a in kept]))
    return map_cells(squeezed, lambda e: walk.moved(e, sub))


def _expanded(walk: Walk, grid: Grid, shape: tuple) -> Grid:
    positions = [b for b, n in enumerate(shape) if n != 1]
    sub = tuple((positions[a], 1, 0) for a in range(len(grid.shape)))
    cells = grid.cells.reshape([grid.cells.shape[positions.index(b)] if b in positions else 1
                                for b in range(len(shape))])
    cuts = tuple(grid.cuts[positions.index(b)] if b in positions else (0, 1) for b in range(len(shape)))
    return map_cells(Grid(shape, cuts, cells), lambda e: walk.moved(e, sub))


def _merged(walk: Walk, grid: Grid, a: int) -> Grid:
    """Axes a and a+1 (lengths K and n) as one axis of length K*n: element q*n + r is (q, r)."""
    count, n = grid.shape[a], grid.shape[a + 1]
    shape = grid.shape[:a] + (count * n,) + grid.shape[a + 2:]
    cuts = list(grid.cuts[:a]) + [[q * n + c for q in range(count) for c in grid.cuts[a + 1]]] + \
        list(grid.cuts[a + 2:])

    def make(lower):
        q, r = divmod(lower[a], n)
        sub = tuple((b, 1, 0) if b < a else (-1, 0, q) if b == a else (a, 1, -q * n) if b == a + 1 else
                    (b - 1, 1, 0) for b in range(len(grid.shape)))
        return walk.moved(grid.at(lower[:a] + (q, r) + lower[a + 1:]), sub)

    return build(shape, cuts, make)


def convolution(walk: Walk, node, held) -> Grid:
    """convolve1d/convolve2d of an input-dependent array by a constant kernel: the sum of
    shifted terms times the kernel's nonzero taps ("full" mode; "valid" is a slice of it)."""
    core = type(node.op.core_op).__name__
    if held[0] is None or held[1] is not None or held[2] is not None:
        raise Unsupported(f"{core} whose kernel depends on the inputs")
    dims = 2 if "2d" in core else 1
    kernel = np.asarray(walk.values(node.inputs[1]))
    grid, out = held[0], node.outputs[0]
    if kernel.ndim != dims:
        raise Unsupported(f"{core} with a batch of kernels")
    full = bool(walk.values(node.inputs[2]))
    lead = len(grid.shape) - dims
    sizes = grid.shape[lead:]
    shape = grid.shape[:lead] + tuple(n + k - 1 for n, k in zip(sizes, kernel.shape))
    taps = [tuple(t) for t in np.argwhere(kernel != 0)]
    cuts = list(grid.cuts[:lead]) + [{c + t[d] for t in taps for c in grid.cuts[lead + d]} for d in range(dims)]
    make = _convolution_cell(walk, grid, kernel, taps, lead, out.dtype)
    result = build(shape, cuts, make)
    if full:
        return result
    return _valid(walk, result, sizes, kernel.shape, lead)


def _convolution_cell(walk: Walk, grid: Grid, kernel: np.ndarray, taps: list, lead: int, dtype: str):
    from pytensor.tensor.math import add, mul

    sizes = grid.shape[lead:]

    def make(lower):
        total = None
        for t in taps:
            inner = [p - s for p, s in zip(lower[lead:], t)]
            if not all(0 <= j < n for j, n in zip(inner, sizes)):
                continue
            sub = tuple((b, 1, 0 if b < lead else -t[b - lead]) for b in range(len(grid.shape)))
            term = ("op", mul, (("k", np.asarray(kernel[t], dtype).item(), dtype),
                                walk.moved(grid.at(list(lower[:lead]) + inner), sub)))
            total = term if total is None else ("op", add, (total, term))
        return total if total is not None else ("fill", 0, dtype)

    return make


def _valid(walk: Walk, grid: Grid, sizes: tuple, kernel: tuple, lead: int) -> Grid:
    start = [min(n, k) - 1 for n, k in zip(sizes, kernel)]
    length = [max(n, k) - min(n, k) + 1 for n, k in zip(sizes, kernel)]
    sub = tuple((b, 1, 0 if b < lead else start[b - lead]) for b in range(len(grid.shape)))
    shape = grid.shape[:lead] + tuple(length)
    cuts = list(grid.cuts[:lead]) + [[min(max(c - s, 0), m) for c in grid.cuts[lead + d]]
                                     for d, (s, m) in enumerate(zip(start, length))]

    def make(lower):
        point = list(lower[:lead]) + [p + s for p, s in zip(lower[lead:], start)]
        return walk.moved(grid.at(point), sub)

    return build(shape, cuts, make)


def blockwise(walk: Walk, node, held) -> Grid:
    if type(node.op.core_op).__name__ in ("Convolve1d", "Convolve2d"):
        return convolution(walk, node, held)
    raise Unsupported(f"{node.op}")


_RULES = (
    (Elemwise, elemwise), (DimShuffle, dimshuffle), (Subtensor, subtensor), (IncSubtensor, inc_subtensor),
    (Join, join), (Alloc, alloc), (Reshape, reshape), ((SpecifyShape, ViewOp, DeepCopyOp, CheckAndRaise), first),
    ((Shape, Shape_i), shape_only), (Blockwise, blockwise),
)


def _rule(op):
    for kinds, rule in _RULES:
        if isinstance(op, kinds):
            return rule
    return None

"""Running a ``StencilPlan`` (stencil.py): views of the inputs per box, one kernel call each.

On the CPU the arrays are NumPy's; where the kernels were compiled for CUDA they are
CuPy's (NumPy inputs are copied to the device once and the results back, as ``compile``'d
functions do), and the same views are taken of them.
"""
from __future__ import annotations

import numpy as np


def run(plan, arrays: list) -> list:
    """The requested orders of the diagonal, for the inputs ``arrays`` (one per traced input)."""
    if plan.device.startswith("cuda"):
        return _on_device(plan, arrays)
    with np.errstate(all="ignore"):
        sources = (arrays, plan.constants)
        results = [np.empty(plan.shape, plan.dtype) for _ in plan.orders]
        _all_tasks(plan, sources, results, np)
    return results


def _on_device(plan, arrays: list) -> list:
    from elemgrad_gpu.backends import array_module

    cp = array_module("cuda")
    host = any(isinstance(a, np.ndarray) for a in arrays)
    moved = [cp.asarray(a) for a in arrays]
    if plan._device_constants is None:
        plan._device_constants = [cp.asarray(c) for c in plan.constants]
    results = [cp.empty(plan.shape, dtype=plan.dtype) for _ in plan.orders]
    _all_tasks(plan, (moved, plan._device_constants), results, cp)
    return [cp.asnumpy(r) for r in results] if host else results


def _all_tasks(plan, sources, results: list, xp) -> None:
    for task in plan.tasks:
        if task.flat is not None:
            _flat(plan, task, sources, results, xp)
        else:
            _boxed(plan, task, sources, results, xp)


def _source(leaf: tuple, sources, xp, ndim: int):
    """The array a leaf reads (a fill: a one-element array of its number)."""
    arrays, constants = sources
    if leaf[0] == "in":
        return arrays[leaf[1]]
    if leaf[0] == "const":
        return constants[leaf[1]]
    return xp.asarray(np.full((1,) * ndim, leaf[1], dtype=leaf[2]))


def _filled(leaf: tuple, view, length: int, xp):
    """A fill as long as the call (not a single value: the kernel's specialization for
    single values would be compiled for it alone); other reads as they are."""
    return xp.broadcast_to(view, (length,)) if leaf[0] == "fill" and length > 1 else view


def _flat(plan, task, sources, results: list, xp) -> None:

    first, stop = task.flat
    region, kernel = task.region, task.kernel
    views = []
    for leaf in task.slots:
        array = _source(leaf, sources, xp, 1).reshape(-1)
        if array.size == 1:
            views.append(_filled(leaf, array, stop - first, xp))
            continue
        offset = flat_offset(plan, leaf, region.lower)
        views.append(array[first + offset:stop + offset])
    outs = [r.reshape(-1)[first:stop] for r in results]
    _call(kernel, views, outs, plan.orders, xp, flat=True)


def _boxed(plan, task, sources, results: list, xp) -> None:
    """A box on strided views, gathered into contiguous 1-d arrays (boxes run this way are
    the small ones: edges and corners; the kernels are then those of the flat calls)."""
    region, ndim = task.region, len(plan.shape)
    shape = tuple(hi - lo for lo, hi in zip(region.lower, region.upper))
    views = []
    for leaf in task.slots:
        view = _view(_source(leaf, sources, xp, ndim), leaf, region, ndim)
        if view.size == 1 and leaf[0] != "fill":
            views.append(view.reshape(-1))
        else:
            views.append(_gathered(xp.broadcast_to(view, shape), xp))
    box = tuple(slice(lo, hi) for lo, hi in zip(region.lower, region.upper))
    outs = [r[box] for r in results]
    flat_outs = [xp.empty(region.size, dtype=plan.dtype) for _ in results]
    _call(task.kernel, views, flat_outs, plan.orders, xp, flat=True)
    for out, flat in zip(outs, flat_outs):
        out[...] = flat.reshape(shape)


def _gathered(view, xp):
    """A C-contiguous 1-d copy of ``view``."""
    made = xp.empty(view.shape, dtype=view.dtype)
    made[...] = view
    return made.reshape(-1)


def _view(array, leaf: tuple, region, ndim: int):
    """The elements a leaf reads over the box, as a view broadcasting against the box."""
    if leaf[0] == "fill":
        return array
    index, axes = [], []
    for axis, sign, offset in leaf[2]:
        if axis < 0:
            index.append(offset)
            continue
        lo, hi = region.lower[axis], region.upper[axis]
        if sign == 1:
            index.append(slice(lo + offset, hi + offset))
        else:
            end = offset - hi
            index.append(slice(offset - lo, end if end >= 0 else None, -1))
        axes.append(axis)
    view = array[tuple(index)] if index else array
    if axes != sorted(axes):
        view = view.transpose(tuple(int(k) for k in np.argsort(axes)))
    present = set(axes)
    return view[tuple(slice(None) if a in present else None for a in range(ndim))]


def _call(kernel, views: list, outs: list, orders: list[int], xp, flat: bool) -> None:
    """The kernel's outputs written into ``outs`` (one per order); orders it does not
    compute (no diagonal leaf in the box) are zero."""
    computed = {}
    if kernel.constant is not None:
        computed = {0: kernel.constant}
    elif kernel.function is not None:
        direct = flat and len(kernel.computed) == len(orders) and all(v.dtype == outs[0].dtype for v in views)
        got = kernel.function(*views, out=outs if direct else None)  # else computed in f's own dtype, then cast
        got = got if isinstance(got, tuple) else (got,)
        computed = dict(zip(kernel.computed, got))
    for order, out in zip(orders, outs):
        value = computed.get(order)
        if value is None:
            out[...] = 0
        elif value is not out:
            out[...] = value


def flat_offset(plan, leaf: tuple, lower: tuple) -> int | None:
    """The flat offset of a plain-shift read of an array of the output's shape; 0 for a
    single value; None when the read is not a plain shift."""
    if leaf[0] == "fill":
        return 0
    shape = plan.source_shape(leaf)
    if int(np.prod(shape, dtype=np.int64)) == 1:
        return 0
    if tuple(shape) != plan.shape:
        return None
    strides = np.cumprod((1,) + plan.shape[:0:-1])[::-1]
    total = 0
    for a, (axis, sign, offset) in enumerate(leaf[2]):
        if axis == a and sign == 1:
            total += offset * int(strides[a])
        elif axis < 0:
            total += (offset - lower[a]) * int(strides[a])
        else:
            return None
    return total

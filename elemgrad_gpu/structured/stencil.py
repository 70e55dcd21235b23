"""The fused stencil kernel: the diagonal of a stencil-like f in one pass of our own kernels.

``regions.py``/``region_ops.py`` split the output into boxes, each one scalar expression
of shifted reads (leaves). Each distinct expression (its leaves numbered, the diagonal
leaf marked) is compiled once by ``elemgrad_gpu.compile``, the leaves as its inputs and
the diagonal leaf as ``wrt``: its value and derivatives are exactly y_i and d^k y_i/dx_i^k
on the box. A call then runs each box's kernel on zero-copy views of the inputs:

* a large box whose reads are all plain shifts of C-contiguous arrays of the output's
  shape (or single values) runs over ONE contiguous flat range, from its first element
  to its last, each read a flat slice shifted by its offset; every read stays in bounds
  (the first and last elements' reads are), and the elements of the range outside the
  box (the border columns of a 2-D interior) are overwritten next;
* every other box runs on strided views of exactly its elements.

The kernels are compiled for ``device`` (CPU C, or CUDA through CuPy on CuPy views of
the same arrays). Floating-point warnings are not raised (the flat range computes the
border columns with the interior formula before they are overwritten, as PyTensor's
structured plans do not raise them either).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from elemgrad_gpu.structured import regions as R
from elemgrad_gpu.structured import stencil_run
from elemgrad_gpu.structured.region_ops import analyse

ENGINE = "fused stencil kernel"


@dataclass
class Task:
    """One box's call: its kernel, the leaves in the kernel's input order, flat or strided."""

    region: R.Region
    kernel: object  # a Kernel
    slots: list
    flat: tuple | None = None  # (first, stop) flat positions, when run over a flat range


class Kernel:
    """One distinct expression compiled: its value and derivatives by the diagonal slot."""

    def __init__(self, tree: tuple, dtypes: tuple, diagonal: int | None, orders: list[int], device: str, ndim: int):
        import pytensor.tensor as pt

        from elemgrad_gpu.api import compile as compile_elementwise

        slots = [pt.tensor(f"s{k}", dtype=d, shape=(None,) * ndim) for k, d in enumerate(dtypes)]
        output = _rebuild(tree, slots, {})
        self.computed = [k for k in orders if diagonal is not None or k == 0]  # the others are zero
        self.constant = None
        if not slots:  # no leaf at all: one number
            self.constant, self.function = np.asarray(output.eval()), None
            return
        if output in slots:
            output = output.copy()
        if diagonal is None:
            self.function = compile_elementwise(output, inputs=slots, derivatives=[()], device=device) \
                if self.computed else None
        else:
            self.function = compile_elementwise(output, inputs=slots, wrt=f"s{diagonal}", orders=tuple(orders), device=device)

    @property
    def device(self) -> str:
        return "cpu" if self.function is None else self.function.device


def _rebuild(tree: tuple, slots: list, memo: dict):
    if tree in memo:
        return memo[tree]
    import pytensor.tensor as pt

    kind = tree[0]
    if kind == "slot":
        made = slots[tree[1]]
    elif kind == "k":
        made = pt.constant(np.asarray(tree[1], dtype=tree[2]))
    else:
        made = tree[1](*(_rebuild(c, slots, memo) for c in tree[2]))
    memo[tree] = made
    return made


def _slotted(expr: tuple, slots: list) -> tuple:
    """``expr`` with its leaves numbered as kernel inputs (appended to ``slots``): each read
    once, each fill at each place (so a box whose padding replaces reads shares the kernel
    of the box without padding)."""
    if expr[0] == "op":
        return ("op", expr[1], tuple(_slotted(c, slots) for c in expr[2]))
    if expr[0] == "k":
        return expr
    if expr[0] == "fill" or expr not in slots:
        slots.append(expr)
        return ("slot", len(slots) - 1)
    return ("slot", slots.index(expr))


class StencilPlan:
    """The regions of one shape and their kernels; calling it computes the requested orders."""

    def __init__(self, found: list, constants: list, inputs: list, shape: tuple, orders: list[int], device: str):
        self.shape, self.orders, self.dtype = shape, orders, inputs[0].dtype
        self.input_shapes = [tuple(v.type.shape) for v in inputs]
        self.input_dtypes = [v.dtype for v in inputs]
        self.constants = constants
        kernels: dict = {}
        tasks = [self._task(region, kernels, orders, device) for region in found]
        self.kernels = list(kernels.values())
        self.tasks = _flat_first(tasks, self)
        self.regions = len(found)
        self.device = next((k.device for k in self.kernels if k.function is not None), "cpu")
        self._device_constants = None

    def _task(self, region: R.Region, kernels: dict, orders: list[int], device: str) -> Task:
        slots: list = []
        tree = _slotted(region.expr, slots)
        dtypes = tuple(self._dtype_of(leaf) for leaf in slots)
        diagonal = None if region.diagonal is None else slots.index(region.diagonal)
        key = (tree, dtypes, diagonal)
        if key not in kernels:
            kernels[key] = Kernel(tree, dtypes, diagonal, orders, device, len(self.shape))
        return Task(region, kernels[key], slots)

    def _dtype_of(self, leaf: tuple) -> str:
        if leaf[0] == "in":
            return self.input_dtypes[leaf[1]]
        if leaf[0] == "const":
            return self.constants[leaf[1]].dtype.name
        return leaf[2]

    def source_shape(self, leaf: tuple) -> tuple:
        if leaf[0] == "in":
            return self.input_shapes[leaf[1]]
        return self.constants[leaf[1]].shape if leaf[0] == "const" else ()

    def __call__(self, *arrays) -> list:
        return stencil_run.run(self, list(arrays))


def _ravel(point: tuple, shape: tuple) -> int:
    return int(np.ravel_multi_index(point, shape)) if shape else 0


def _flat_first(tasks: list[Task], plan: StencilPlan) -> list[Task]:
    """Tasks over disjoint flat ranges first (largest boxes first), then the rest on strided views."""
    taken, flat, rest = [], [], []
    for task in sorted(tasks, key=lambda t: -t.region.size):
        region = task.region
        plain = region.size > 1 and all(stencil_run.flat_offset(plan, leaf, region.lower) is not None for leaf in task.slots)
        if plain:
            first = _ravel(region.lower, plan.shape)
            stop = _ravel(tuple(u - 1 for u in region.upper), plan.shape) + 1
            if all(stop <= a or b <= first for a, b in taken):
                taken.append((first, stop))
                task.flat = (first, stop)
                flat.append(task)
                continue
        rest.append(task)
    return flat + rest


def try_plan(output, x, inputs: list, shapes: dict, orders: list[int], device: str):
    """A ShapePlan of the fused stencil kernel, or None when the region analysis does not cover f."""
    from elemgrad_gpu.structured.plan import ShapePlan

    shape = tuple(shapes[x.name])
    if not shape:
        return None
    try:
        grid, constants = analyse(output, inputs, {v: tuple(shapes[v.name]) for v in inputs})
        if grid.shape != shape:
            return None
        found = R.final_regions(grid, inputs.index(x))
    except R.Unsupported:
        return None
    plan = StencilPlan(found, constants, inputs, shape, orders, device)
    return ShapePlan(f"stencil: {plan.regions} region{'s' * (plan.regions != 1)}", 1, function=plan, engine=ENGINE)

"""The CPU backend: the fused kernel as compiled C, a NumPy ufunc of our own loop.

It owes what ``elemgrad_gpu.backends.Backend`` lists: source from a FusedGraph, a kernel
from source (``CKernel``: ``run`` computes the outputs, ``bind`` makes the launch alone,
a callable of no arguments that recomputes given outputs from given inputs, for
``ElementwiseFunction.bind``; ``prepare`` makes, once, what a call decides from the
arguments' layout, for later calls on arrays laid out alike), how to read and cast
inputs, what a call's checks depend on in each argument (``signature``), and what to
hand back (``finisher``). NumPy's ufunc machinery broadcasts, walks strides, copies
overlaps and reports floating-point errors; the loop is ours, and where the operands
need none of that machinery (aligned, C-contiguous, no overlap) the kernel module calls
the loop itself (``CKernel._run``).
"""
from __future__ import annotations

import math
from functools import partial
from types import ModuleType
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from elemgrad_gpu import arrays
from elemgrad_gpu.backends import Prepared
from elemgrad_gpu.backends.c import compile as ccompile
from elemgrad_gpu.errors import InputError

if TYPE_CHECKING:
    from elemgrad_gpu.graph.fuse import FusedGraph
    from elemgrad_gpu.graph.hoist import Hoisted

# NumPy's limit on a ufunc's inputs plus outputs (NPY_MAXARGS): 64 since NumPy 2.0, 32 before.
MAX_ARGUMENTS = 64 if int(np.__version__.split(".")[0]) >= 2 else 32
# Outputs of 64 KiB to 32 MiB in all come from one allocation (_one_block); beyond 32 MiB,
# glibc's largest threshold for serving memory from its heap, it maps fresh pages anyway.
ONE_BLOCK_MIN, ONE_BLOCK_MAX = 1 << 16, 1 << 25


class CBackend:
    """Compiled C on the CPU (gcc or [elemgrad] cc), one loop over all elements."""

    name = "c"
    array_type = np.ndarray
    read = staticmethod(arrays.read_host)
    cast = staticmethod(arrays.cast_host)
    signature = staticmethod(arrays.host_signature)

    hoists = True  # calls with single-value inputs get a kernel that works on those once (hoist.py)
    hoist_from = 2  # any call of more than one element: hoisting costs the loop nothing
    variant = property(lambda self: f"vector_math={ccompile.vector_math()}", doc="What else shapes the source here.")

    @staticmethod
    def check_arguments(inputs: int, outputs: int) -> None:
        """Refuse at once, before differentiating, a kernel with more inputs and outputs than a
        NumPy ufunc, which runs it, can take (it may need extra inputs too: those are counted
        once it is fused, by ``source``)."""
        count = inputs + outputs
        if count > MAX_ARGUMENTS:
            raise InputError(
                f"this kernel would have {count} inputs and outputs ({inputs} inputs, {outputs} derivatives "
                f"asked for); NumPy's ufuncs, which run it on the CPU, take at most {MAX_ARGUMENTS}: ask for fewer "
                f"derivatives per compile (split them over several compile(..., derivatives=[...]) calls) or fewer "
                f"orders or inputs in wrt")

    def source(self, fused: FusedGraph, descriptions: list[str], hoisted: Hoisted | None = None) -> str:
        from elemgrad_gpu.backends.c import codegen

        count = len(fused.composite.inputs) + len(fused.composite.outputs)
        if count > MAX_ARGUMENTS:
            raise InputError(f"this kernel would have {count} inputs and outputs; NumPy's ufuncs, which run "
                             f"it on the CPU, take at most {MAX_ARGUMENTS}: ask for fewer derivatives per compile")
        return codegen.c_source(fused, descriptions, vector_math=ccompile.vector_math(), hoisted=hoisted)

    @staticmethod
    def computes_alike(base: str, hoisted: str) -> bool:
        """Whether the kernel ``hoisted`` (hoist.py) computes every value with the functions the
        kernel ``base`` uses: the compiler vectorized the block loops of both, and the loop of
        the hoisted values, with vectors of one size, so every C library call in them is to
        the same vector version. (Where a loop is not vectorized, its calls are to the scalar
        functions, and a value hoisted out of it could differ in its last bit.)"""
        from elemgrad_gpu.backends.c import codegen

        sizes = set()
        for source, loop in ((base, "block"), (hoisted, "block"), (hoisted, "once")):
            loops, lines = ccompile.vectorized_loops(source), codegen.loop_lines(source, loop)
            sizes.add(next((size for line, size in loops.items() if line in lines), None))
        return len(sizes) == 1 and None not in sizes

    def load(self, source: str, outputs: int, dtype: str) -> CKernel:
        """The kernel compiled from ``source`` (cached on disk) computing ``outputs`` arrays."""
        return CKernel(ccompile.load(source), outputs, dtype)

    @staticmethod
    def check_placement(outputs: Sequence) -> None:
        """Outputs on the CPU are where the kernel writes: nothing to refuse."""

    @staticmethod
    def to_host(array: np.ndarray) -> np.ndarray:
        return array

    @staticmethod
    def finisher(values: Sequence) -> Callable[[list], list]:
        """What turns the kernel's outputs into the caller's results: NumPy arrays, as computed."""
        return arrays.unchanged


class CKernel:
    """One compiled kernel computing ``outputs`` arrays of ``dtype``: its ufunc, and its
    loop called directly (``call`` and ``new``, elemwise.c) where the operands allow."""

    def __init__(self, module: ModuleType, outputs: int, dtype: str):
        self._ufunc, self._call, self._new = module.kernel, module.call, module.new
        self.entry = module.entry  # the loop's C address: int eg_entry(char **args, npy_intp n, const npy_intp *steps)
        self._outputs, self._dtype, self._itemsize = outputs, dtype, np.dtype(dtype).itemsize

    def run(self, inputs: Sequence[np.ndarray], shape: tuple[int, ...], out: Sequence | None = None) -> list:
        """The outputs computed from ``inputs``: into ``out`` when given, else new arrays of ``shape``."""
        return self._fresh(inputs, shape) if out is None else self._run(inputs, out)

    def bind(self, inputs: Sequence[np.ndarray], shape: tuple[int, ...], out: Sequence) -> Callable[[], list]:
        """The launch alone: recomputes ``out`` from the current values of ``inputs`` at each call."""
        return partial(self._run, list(inputs), list(out))

    def prepare(self, inputs: Sequence[np.ndarray], shape: tuple[int, ...], out: Sequence | None) -> Prepared:
        """The call on arrays laid out as these (the checks done): into given outputs or new ones."""
        if out is None:
            return lambda inputs, out: self._fresh(inputs, shape)
        return self._run

    def _run(self, inputs: Sequence[np.ndarray], out: Sequence[np.ndarray]) -> list[np.ndarray]:
        """The loop on ``inputs`` into ``out``: called directly where the layout allows and no
        output shares memory with another operand, else through the ufunc, which copies
        what overlaps."""
        raised = self._call(*inputs, *out)
        if raised is None or raised and _reported(raised):
            self._ufunc(*inputs, out=tuple(out))
        return list(out)

    def _fresh(self, inputs: Sequence[np.ndarray], shape: tuple[int, ...]) -> list[np.ndarray]:
        """The loop on ``inputs`` into new C-contiguous outputs of ``shape``."""
        if self._outputs > 1 and ONE_BLOCK_MIN <= self._outputs * math.prod(shape) * self._itemsize <= ONE_BLOCK_MAX:
            return self._run(inputs, _one_block(self._outputs, shape, self._dtype))
        made = self._new(shape, *inputs)
        if made is None:  # a layout the loop is not called directly on: the ufunc's
            out = [np.empty(shape, self._dtype) for _ in range(self._outputs)]
            self._ufunc(*inputs, out=tuple(out))
            return out
        raised, *out = made
        if raised and _reported(raised):
            self._ufunc(*inputs, out=tuple(out))
        return out


_ERRORS = ((1, "divide"), (2, "over"), (8, "invalid"))  # NumPy's UFUNC_FPE_* bits and np.geterr()'s names


def _reported(raised: int) -> bool:
    """Whether NumPy's error state acts on any of the ``raised`` floating-point errors: the
    loop called directly raised them, so the ufunc computes the same values again and
    reports them as NumPy does (warning, raising or calling back)."""
    state = np.geterr()
    return any(raised & bit and state[name] != "ignore" for bit, name in _ERRORS)


def _one_block(count: int, shape: tuple[int, ...], dtype: str) -> list[np.ndarray]:
    """``count`` C-contiguous outputs of ``shape``: views of one allocation.

    One block instead of several keeps the C library's allocator from handing the
    memory back to the system after each call and faulting it in again at the next
    (by how much: docs/PERFORMANCE.md, Measurements behind the code). The outputs
    share the block: it is freed when the last of them is.
    """
    block = np.empty((count, *shape), dtype)
    return [block[m, ...] for m in range(count)]

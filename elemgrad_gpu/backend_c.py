"""The CPU backend: the fused kernel as compiled C, a NumPy ufunc of our own loop.

A backend turns a FusedGraph into source and into a ``Kernel``: a callable taking the
input arrays (already of the kernel's dtype, broadcasting together) and returning the
outputs. NumPy's ufunc machinery broadcasts, walks strides and allocates; the loop
body is ours. The CUDA backend plugs in beside it with the same two methods.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from elemgrad_gpu import ccompile, codegen
from elemgrad_gpu.errors import InputError
from elemgrad_gpu.fuse import FusedGraph

Kernel = Callable[[Sequence[np.ndarray]], list[np.ndarray]]
MAX_ARGUMENTS = 64  # NumPy's limit on a ufunc's inputs plus outputs (NPY_MAXARGS)


class CBackend:
    """Compiled C on the CPU (gcc or $CC), one loop over all elements."""

    name = "c"

    def source(self, fused: FusedGraph, descriptions: list[str]) -> str:
        return codegen.c_source(fused, descriptions)

    def compile(self, fused: FusedGraph, descriptions: list[str]) -> Kernel:
        count = len(fused.composite.inputs) + len(fused.composite.outputs)
        if count > MAX_ARGUMENTS:
            raise InputError(f"this kernel would have {count} inputs and outputs; NumPy's ufuncs, which run "
                             f"it on the CPU, take at most {MAX_ARGUMENTS}: ask for fewer derivatives per compile")
        ufunc = ccompile.load(self.source(fused, descriptions)).kernel
        single = ufunc.nout == 1

        def kernel(arrays: Sequence[np.ndarray]) -> list[np.ndarray]:
            outputs = ufunc(*arrays)
            return [outputs] if single else list(outputs)

        return kernel

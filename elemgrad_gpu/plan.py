"""Plan: what one call signature needs, traced, verified, differentiated and fused.

``make_plan`` runs the pipeline (build -> verify -> differentiate -> simplify -> fuse)
for one dtype and ndim; it is the only place the call path imports PyTensor. A plan
read back from the disk (``plan_store``) has the generated source but no graph.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Sequence

if TYPE_CHECKING:
    from elemgrad_gpu.build import Source
    from elemgrad_gpu.fuse import FusedGraph
    from elemgrad_gpu.hoist import Hoisted

MultiIndex = tuple[str, ...]  # the inputs a partial derivative is taken by, () for the value


@dataclass
class Plan:
    """Everything compiled for one call signature."""

    descriptions: list[str]  # a readable formula per output
    outputs: int
    dtype: str
    fused: FusedGraph | None = None  # None for a plan read back from the disk
    prelude: Callable | None = None  # computes the aux inputs, when the graph has any
    hoisted: Hoisted | None = None  # the body split for calls with single-value inputs (hoist.py)
    sources: dict[str, str] = field(default_factory=dict)  # generated source per backend name
    backend: Any = None  # where the kernel runs: the device's backend, or the CPU's after a fallback
    kernel: Callable | None = None


def make_plan(source: Source, indices: Sequence[MultiIndex], dtype: str, ndim: int) -> Plan:
    """Trace ``source`` at ``dtype``/``ndim``, verify it, differentiate by ``indices`` and fuse."""
    import pytensor
    from pytensor.compile.mode import Mode

    from elemgrad_gpu.differentiate import partial_derivatives
    from elemgrad_gpu.formula import formula
    from elemgrad_gpu.fuse import fuse, simplify
    from elemgrad_gpu.kinks import restore_pytensor_ops, use_kink_conventions
    from elemgrad_gpu.verify import verify_elementwise

    inputs, y = source.trace(dtype, ndim)
    (y,) = use_kink_conventions([y])  # maximum, minimum, clip, pow: derivatives by selection
    env = dict(zip(source.names, inputs))
    for name in dict.fromkeys(n for index in indices for n in index):
        verify_elementwise([y], env[name], x_name=name, what="f")
    outputs = simplify(restore_pytensor_ops(partial_derivatives(y, env, indices)))
    fused = fuse(inputs, outputs, dtype)
    prelude = None
    if fused.aux:
        mode = Mode(linker="cvm", optimizer="fast_run")
        prelude = pytensor.function(inputs, fused.aux, mode=mode, on_unused_input="ignore")
    descriptions = [formula(out, dict(zip(inputs, source.names))) for out in outputs]
    return Plan(descriptions, len(outputs), dtype, fused, prelude)

"""Plan: what one call signature needs, traced, verified, differentiated and fused.

``make_plan`` runs the pipeline (build -> verify -> differentiate -> simplify -> fuse)
for one dtype and ndim; it is the only place the call path imports PyTensor. A Plan is
frozen: what is made from it later (sources, kernel) is kept by its specialization
(``runtime/specialization.py``). A plan read back from the disk (``plan_store``) has no
graph until its specialization traces one.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

from elemgrad_gpu.expr.language import MultiIndex

if TYPE_CHECKING:
    from elemgrad_gpu.graph.build import Source
    from elemgrad_gpu.graph.fuse import FusedGraph
    from elemgrad_gpu.graph.hoist import Hoisted

__all__ = ["MultiIndex", "Plan", "make_plan"]


@dataclass(frozen=True)
class Plan:
    """What one call signature computes: traced, verified, differentiated and fused."""

    descriptions: tuple[str, ...]  # a readable formula per output
    outputs: int
    dtype: str
    fused: FusedGraph | None = None  # None for a plan read back from the disk
    prelude: Callable | None = None  # computes the aux inputs, when the graph has any
    hoisted: Hoisted | None = None  # the body split for calls with single-value inputs (hoist.py)


def make_plan(source: Source, indices: Sequence[MultiIndex], dtype: str, ndim: int) -> Plan:
    """Trace ``source`` at ``dtype``/``ndim``, verify it, differentiate by ``indices`` and fuse."""
    import pytensor
    from pytensor.compile.mode import Mode

    from elemgrad_gpu.graph.differentiate import partial_derivatives
    from elemgrad_gpu.graph.formula import formula
    from elemgrad_gpu.graph.fuse import fuse, simplify
    from elemgrad_gpu.graph.verify import verify_elementwise

    inputs, y = source.trace(dtype, ndim)
    env = dict(zip(source.names, inputs))
    for name in dict.fromkeys(n for index in indices for n in index):
        verify_elementwise([y], env[name], x_name=name, what="f")
    outputs = simplify(partial_derivatives(y, env, indices))
    fused = fuse(inputs, outputs, dtype)
    prelude = None
    if fused.aux:
        mode = Mode(linker="cvm", optimizer="fast_run")
        prelude = pytensor.function(inputs, fused.aux, mode=mode, on_unused_input="ignore")
    descriptions = [formula(out, dict(zip(inputs, source.names))) for out in outputs]
    return Plan(tuple(descriptions), len(outputs), dtype, fused, prelude)

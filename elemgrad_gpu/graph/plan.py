"""Plan: what one call signature needs, traced, verified, differentiated and fused.

``make_plan`` runs the pipeline (build -> verify -> differentiate -> simplify -> fuse)
for one dtype and ndim; it is the only place the call path imports PyTensor. Derivatives
of order 3 and up in one variable come from Taylor mode (``taylor.py``) instead, unless an
operation of f has no Taylor rule. A Plan is frozen: what is made from it later (sources,
kernel) is kept by its specialization (``runtime/specialization.py``). A plan read back
from the disk (``plan_store``) has no graph until its specialization traces one.
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
    """Trace ``source`` at ``dtype``/``ndim``, verify it, differentiate by ``indices`` and fuse.

    Within the node and time budget of ``budget.py``, with no stack traces recorded.
    """
    from elemgrad_gpu.graph.budget import no_stack_traces

    with no_stack_traces():
        return _make_plan(source, indices, dtype, ndim)


def _make_plan(source: Source, indices: Sequence[MultiIndex], dtype: str, ndim: int) -> Plan:
    import pytensor
    from pytensor.compile.mode import Mode

    from elemgrad_gpu.graph.budget import Budget, check_polygamma_orders
    from elemgrad_gpu.graph.ccode import check_c_code
    from elemgrad_gpu.graph.differentiate import partial_derivatives
    from elemgrad_gpu.graph.formula import formula
    from elemgrad_gpu.graph.fuse import fuse, simplify
    from elemgrad_gpu.graph.kinks import restore_pytensor_ops, use_kink_conventions
    from elemgrad_gpu.graph.substitute import use_our_ops
    from elemgrad_gpu.graph.verify import verify_elementwise

    inputs, ys = source.traced_for_call(dtype, ndim)
    # PyTensor's own ops replaced by ours where registered (substitute.py), then maximum, minimum,
    # clip and pow by ours, whose derivatives are by selection (kinks.py)
    ys = use_kink_conventions(use_our_ops(ys))
    env = dict(zip(source.names, inputs))
    for k, y in enumerate(ys):
        what = "f" if len(ys) == 1 else f"output {k} of f"
        for name in dict.fromkeys(n for index in indices for n in index):
            verify_elementwise([y], env[name], x_name=name, what=what)
        check_polygamma_orders(y, env, indices)
    names = dict(zip(inputs, source.names))
    fused, descriptions = None, None
    if len(ys) == 1:  # Taylor mode takes one function; several go symbolic, within the budget
        fused, descriptions = _taylor_plan(inputs, ys[0], indices, source.names, dtype, names)
    if fused is None:  # no derivative of Taylor mode, or an operation without a rule
        budget = Budget()
        derived = [d for y in ys for d in partial_derivatives(y, env, indices, budget)]  # output-major
        outputs = simplify(restore_pytensor_ops(derived), budget)
        fused = fuse(inputs, outputs, dtype)
        descriptions = [formula(out, names) for out in outputs]
    check_c_code(fused.composite, source.described())
    prelude = None
    if fused.aux:
        mode = Mode(linker="cvm", optimizer="fast_run")
        prelude = pytensor.function(inputs, fused.aux, mode=mode, on_unused_input="ignore")
    return Plan(tuple(descriptions), len(descriptions), dtype, fused, prelude)


def _taylor_plan(inputs, y, indices: Sequence[MultiIndex], input_names: Sequence[str], dtype: str, names: dict):
    """The fused graph and descriptions with Taylor mode (taylor.py) for the derivatives its rule
    takes, the rest symbolic; (None, None) when it takes none or an operation has no Taylor rule."""
    from elemgrad_gpu.graph.budget import Budget
    from elemgrad_gpu.graph.differentiate import partial_derivatives
    from elemgrad_gpu.graph.formula import formula
    from elemgrad_gpu.graph.fuse import fuse_scalars, simplify
    from elemgrad_gpu.graph.kinks import restore_pytensor_ops
    from elemgrad_gpu.graph.taylor import NoTaylorRule, taylor_derivatives, uses_taylor

    taylor = [i for i, index in enumerate(indices) if uses_taylor(index)]
    if not taylor:
        return None, None
    symbolic = [index for i, index in enumerate(indices) if i not in taylor]
    env = dict(zip(input_names, inputs))
    f = formula(y, names)  # as traced, before simplification
    budget = Budget()  # orders 1 and 2 stay symbolic, within the budget
    # the kink ops go back to PyTensor's for the Taylor walk: its rules for maximum, minimum
    # and clip select the coefficients of the chosen argument, as the kink rule does
    *outputs, value = simplify(restore_pytensor_ops(partial_derivatives(y, env, symbolic, budget) + [y]), budget)
    body = fuse_scalars(inputs, outputs + [value], dtype)
    orders: dict[str, int] = {}
    for i in taylor:
        orders[indices[i][0]] = max(orders.get(indices[i][0], 0), len(indices[i]))
    try:
        series = {name: taylor_derivatives(body, len(outputs), input_names.index(name), order)
                  for name, order in orders.items()}
    except NoTaylorRule:
        return None, None
    results, descriptions, done = [], [], iter(zip(body.results, outputs))
    for index in indices:
        if uses_taylor(index):
            results.append(series[index[0]][len(index)])
            descriptions.append(f"d^{len(index)}/d{index[0]}^{len(index)} [{f}] (Taylor mode)")
        else:
            result, output = next(done)
            results.append(result)
            descriptions.append(formula(output, names))
    return body.fused(results), descriptions

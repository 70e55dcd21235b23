"""Hoist: the work on single-value inputs, done once per call instead of once per element.

A call whose parameters are single values (mu and sigma of a log-density) would compute
``log(sigma)`` and ``sigma**2`` again for every element. For such calls the fused
Composite is split in two: ``once`` computes, from those inputs alone, every value the
rest of the body needs of them; ``each``, the per-element body, reads those values as
extra inputs. Together they perform exactly the operations of the whole body, on the
same values, in the same order; the C kernel (``backends/c/elemwise.c``) evaluates
``once`` with the same vector (or scalar) functions as the blocks it serves, so a
parameter given as one value, and the same value broadcast to a full array, still give
bitwise identical results.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import pytensor.scalar as ps
from pytensor.graph.basic import Apply, Constant, Variable


@dataclass(frozen=True)
class Hoisted:
    """A fused body split at its single-value inputs."""

    scalars: tuple[int, ...]  # the body's inputs that are single values in the calls served
    once: ps.Composite  # those inputs -> the hoisted values
    each: ps.Composite  # every input of the body, then the hoisted values -> the outputs


def hoist(body: ps.Composite, scalars: Sequence[int]) -> Hoisted | None:
    """``body`` split so that what depends on the inputs ``scalars`` alone is computed once.

    None when there is nothing to hoist (no operation depends on those inputs alone).
    """
    graph = body.fgraph
    order = graph.toposort()
    alone = _depending_only_on({graph.inputs[j] for j in scalars}, order)
    hoisted = _needed_by_the_rest(alone, order, graph.outputs)
    if not hoisted:
        return None
    once_inputs = [graph.inputs[j].type() for j in scalars]
    values = _rebuild([n for n in order if n.outputs[0] in alone],
                      {graph.inputs[j]: v for j, v in zip(scalars, once_inputs)})
    once = ps.Composite(once_inputs, [_result(values[v], once_inputs) for v in hoisted])
    each_inputs = [v.type() for v in [*graph.inputs, *hoisted]]
    values = _rebuild([n for n in order if not set(n.outputs) <= alone],
                      dict(zip([*graph.inputs, *hoisted], each_inputs)))
    each = ps.Composite(each_inputs, [_result(values[v], each_inputs) for v in graph.outputs])
    return Hoisted(tuple(scalars), once, each)


def _depending_only_on(inputs: set[Variable], order: list[Apply]) -> set[Variable]:
    """``inputs`` and every floating-point variable computed from them and constants alone.

    Conditions (bool) stay in the per-element body: with a hoisted bool input, the
    per-element Composite of ``x**p * log1p(p**2)`` failed to generate code ("orphans")
    after ``pow(x, y)`` had been compiled in the same process (PyTensor's frozen graphs
    are shared between Composites; the cause is not pinned down further)."""
    alone = set(inputs)
    for node in order:
        floating = all(v.type.dtype.startswith("float") for v in node.outputs)
        if floating and all(v in alone or isinstance(v, Constant) for v in node.inputs):
            alone.update(node.outputs)
    return alone


def _needed_by_the_rest(alone: set[Variable], order: list[Apply], outputs: Sequence[Variable]) -> list[Variable]:
    """The computed variables of ``alone`` that other operations read, or that are outputs."""
    needed = [v for node in order if not set(node.outputs) <= alone for v in node.inputs]
    return [v for v in dict.fromkeys([*needed, *outputs]) if v in alone and v.owner is not None]


def _rebuild(nodes: list[Apply], values: dict[Variable, Variable]) -> dict[Variable, Variable]:
    """``nodes`` applied again to new variables: ``values`` maps old variables to new ones."""
    for node in nodes:
        new = node.op.make_node(*[v if isinstance(v, Constant) else values[v] for v in node.inputs])
        values.update(zip(node.outputs, new.outputs))
    return values


def _result(v: Variable, inputs: list[Variable]) -> Variable:
    """An output of a Composite: an input handed on must be wrapped (PyTensor's rule)."""
    return ps.identity(v) if v in inputs else v

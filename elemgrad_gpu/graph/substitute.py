"""PyTensor's own ops in a user's graph, replaced by ours before the graph is verified.

A PyTensor user writes ``pt.gammainc(a, x)``, ``pt.jv(v, x)`` or ``pt.special.xlogy(x, y)``;
where PyTensor's op has no C code, no gradient in an argument, a gradient we cannot fuse
(a ``ScalarLoop``), or values we do not trust, the module that builds our version of the
function registers a substitute here, and the graph compiles unchanged.

A substitute is registered per PyTensor scalar op class (the ``scalar_op`` of an
``Elemwise``), or per op class for an op that is no ``Elemwise`` (PyTensor 3's ``XLogY``,
an ``OpFromGraph``); ``pytensor_classes`` finds classes by dotted path, skipping those
the installed PyTensor lacks::

    @substitutes(pytensor.scalar.math.Erfcx)
    def _erfcx(node):  # node: the Apply node; returns its replacement outputs, or None
        return [erfcx(node.inputs[0])]

``use_our_ops`` runs right after tracing (graph/plan.py), before verification and
differentiation, on a copy: the user's graph is never modified.
"""
from __future__ import annotations

import importlib
from typing import Callable

SUBSTITUTES: dict[type, Callable] = {}  # PyTensor (scalar) op class -> node -> replacement outputs or None


def substitutes(*op_classes: type) -> Callable[[Callable], Callable]:
    """Register the decorated function as the substitute for Elemwise nodes of ``op_classes``."""
    def register(substitute: Callable) -> Callable:
        for op_class in op_classes:
            SUBSTITUTES[op_class] = substitute
        return substitute
    return register


def pytensor_classes(*paths: str) -> tuple[type, ...]:
    """The classes named by dotted ``paths`` ("pytensor.tensor.special.XLogY") that exist here:
    PyTensor 2.38 and 3 name some of their ops differently."""
    found = []
    for path in paths:
        module, _, name = path.rpartition(".")
        try:
            found.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):
            continue
    return tuple(found)


def _substitute(node):
    """Our replacement for ``node``'s outputs, when its scalar op (or its op) has a substitute."""
    for op in (getattr(node.op, "scalar_op", None), node.op):
        for op_class in type(op).__mro__ if op is not None else ():
            if op_class in SUBSTITUTES:
                return SUBSTITUTES[op_class](node)
    return None


def use_our_ops(outputs: list) -> list:
    """``outputs`` with every PyTensor op that has a registered substitute replaced by ours."""
    from pytensor.graph.fg import FunctionGraph
    from pytensor.graph.rewriting.basic import in2out, node_rewriter

    import elemgrad_gpu.graph.functions  # noqa: F401  (imports every row's module: they register here)

    if not SUBSTITUTES:
        return list(outputs)
    fgraph = FunctionGraph(outputs=list(outputs), clone=True, copy_inputs=False)
    in2out(node_rewriter(None)(lambda fgraph, node: _substitute(node))).rewrite(fgraph)
    return list(fgraph.outputs)

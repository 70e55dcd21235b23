"""Before a kernel is generated: every operation of the fused loop must have C code.

The loop body is PyTensor's C code for each scalar operation (``backends/codegen.py``).
An operation without any (a custom ``ScalarOp`` that defines only ``impl``, an op of
PyTensor's that computes by SciPy alone) would fail deep inside code generation with
PyTensor's ``MethodNotDefined`` or an empty ``NotImplementedError``; ``check_c_code``
finds it right after fusing and says which, and what to do, as an ``ExpressionError``.
"""
from __future__ import annotations

import pytensor.scalar as ps
from pytensor.graph.utils import MethodNotDefined

from elemgrad_gpu.errors import ExpressionError


def check_c_code(composite: ps.Composite, function: str) -> None:
    """Raise an ExpressionError naming the first operation of ``composite`` without C code
    (``function`` names what the user compiled, for the message)."""
    missing = _without_c_code(composite)
    if missing is None:
        return
    raise ExpressionError(
        f"{function} uses the operation {missing}, which has no C code (PyTensor computes it in Python "
        f"only), so it cannot run in a compiled kernel. Write it with elemgrad_gpu's functions (eg.NAME, "
        f"docs/EXPRESSIONS.md), or give the operation a c_code method"
    )


def _without_c_code(composite: ps.Composite) -> str | None:
    """The name of the first scalar operation of ``composite`` (nested ones too) without C code."""
    for node in composite.fgraph.toposort():
        if isinstance(node.op, ps.Composite):
            inner = _without_c_code(node.op)
            if inner is not None:
                return inner
            continue
        names_in = [f"i{k}" for k in range(len(node.inputs))]
        names_out = [f"o{k}" for k in range(len(node.outputs))]
        try:
            node.op.c_code(node, "eg_check", names_in, names_out, {"fail": "return;"})
        except (MethodNotDefined, NotImplementedError):
            return getattr(node.op, "name", None) or type(node.op).__name__
    return None

"""Generate code, what every backend shares: the fused Composite's scalar C code for one element.

The per-element body is PyTensor's own C code for the scalar graph (the same code
Theano's GPU backend compiled as device code), so every backend runs one body: each
backend's own ``codegen.py`` puts it into the loop template beside it (``c/elemwise.c``:
a NumPy ufunc loop for the CPU; ``cuda/elemwise.cu``: grid-stride CUDA kernels).
"""
from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytensor.scalar as ps

from elemgrad_gpu.errors import ExpressionError
from elemgrad_gpu.graph.fuse import FusedGraph

CTYPES = {"float32": "float", "float64": "double"}
_FLOAT_LITERAL = re.compile(r"(?<![\w.])((?:\d+\.\d*|\.\d+)(?:[eE][-+]?\d+)?|\d+[eE][-+]?\d+)(?![\w.])")


@cache
def template(path: Path) -> str:
    """The text of the template at ``path`` (read once per process)."""
    return path.read_text()


def element_code(composite: ps.Composite, names_in: list[str], names_out: list[str],
                 name: str = "eg") -> tuple[str, str]:
    """(support code of this node, body) computing ``names_out`` from ``names_in`` for one element."""
    # The node takes the composite's own input types (a hoisted value may be a bool): given
    # other types, Composite.make_node rebuilds its graph, and PyTensor's rebuild then reassigns
    # the inputs of the globally shared (interned) nodes of that graph, breaking every later
    # Composite with the same nodes in this process.
    refuse_external_c(composite)
    node = composite.make_node(*[t() for t in composite.inputs_type])
    # Only integer division fails, and every value in the loop is floating point.
    body = composite.c_code(node, name, names_in, names_out, {"fail": "return;"})
    return composite.c_support_code_apply(node, name), body


def _scalar_ops(composite: ps.Composite):
    """The scalar ops of ``composite``, those inside nested Composites included."""
    for node in composite.fgraph.toposort():
        if isinstance(node.op, ps.Composite):
            yield from _scalar_ops(node.op)
        else:
            yield node.op


def refuse_external_c(composite: ps.Composite) -> None:
    """Refuse an op whose C code needs header directories, libraries or compiler flags of its own.

    A kernel is one self-contained C text, compiled by gcc as C on the CPU and by NVRTC
    on the GPU: neither can use an op's own include path (PyTensor's ``Erfcx`` includes the
    C++ ``Faddeeva.hh`` from one) or link its libraries, so such an op gets a clear error
    here, before any compiler runs, rather than a compiler failure.
    """
    for op in _scalar_ops(composite):
        needs = [f"{what} {values}" for what, values in (
            ("header directories", op.c_header_dirs()), ("libraries", op.c_libraries()),
            ("library directories", op.c_lib_dirs()), ("compiler arguments", op.c_compile_args())) if values]
        if needs:
            raise ExpressionError(
                f"the operation {op} ({type(op).__module__}.{type(op).__name__}) has C code that needs "
                f"{', '.join(needs)}; elemgrad_gpu compiles each kernel as one self-contained C text (gcc on "
                f"the CPU, NVRTC on the GPU) and cannot use them: write the function with elemgrad_gpu's "
                f"own vocabulary (docs/EXPRESSIONS.md) instead")


def float_literals(code: str) -> str:
    """``code`` with every floating literal (``2.0``, ``1e-5``) made a float (``2.0f``)."""
    return _FLOAT_LITERAL.sub(r"\1f", code)


def fields(fused: FusedGraph, descriptions: list[str], names_in: list[str], names_out: list[str],
            body: ps.Composite | None = None) -> dict:
    """The template's fields for the per-element ``body`` (the fused Composite unless given:
    a hoisted kernel's ``each``, whose operations are the fused ones' too)."""
    support, code = element_code(body or fused.composite, names_in, names_out)
    return dict(
        outputs_comment="\n".join(f" *   output {m} = {text}" for m, text in enumerate(descriptions)),
        support_code="\n".join([fused.composite.c_support_code(), support]),
        body=code,
        ctype=CTYPES[fused.dtype],
        n_in=len(fused.composite.inputs),
        n_out=len(names_out),
    )

"""Generate code: the fused Composite's scalar C code inside a loop template from kernels/.

The per-element body is PyTensor's own C code for the scalar graph (the same code
Theano's GPU backend compiled as device code), so every backend shares one body.
"""
from __future__ import annotations

from functools import cache
from string import Template

import pytensor.scalar as ps

from elemgrad_gpu.fuse import FusedGraph
from elemgrad_gpu.kernels_dir import kernel_path

_CTYPES = {"float32": "float", "float64": "double"}
_NPY_TYPES = {"float32": "NPY_FLOAT", "float64": "NPY_DOUBLE"}


@cache
def _read(name: str) -> str:
    return kernel_path(name).read_text()


def element_code(fused: FusedGraph, inputs: str = "v", outputs: str = "r") -> tuple[str, str]:
    """(support code, body) computing outputs[m] from inputs[j] for one element."""
    composite = fused.composite
    node = composite.make_node(*[ps.get_scalar_type(fused.dtype)() for _ in composite.inputs])
    names_in = [f"{inputs}[{j}]" for j in range(len(composite.inputs))]
    names_out = [f"{outputs}[{m}]" for m in range(len(composite.outputs))]
    # Only integer division fails, and every value in the loop is floating point.
    body = composite.c_code(node, "eg", names_in, names_out, {"fail": "return;"})
    support = "\n".join([composite.c_support_code(), composite.c_support_code_apply(node, "eg")])
    return support, body


def _headers(fused: FusedGraph) -> str:
    """The scalar ops' own headers, less those the template includes."""
    names = [h.strip("<>") for h in fused.composite.c_headers()]
    return "\n".join(f"#include <{h}>" for h in dict.fromkeys(names) if h != "math.h")


def c_source(fused: FusedGraph, descriptions: list[str]) -> str:
    """The C source of the fused kernel for ``fused`` (one loop, all outputs)."""
    support, body = element_code(fused)
    return Template(_read("elemwise.c")).substitute(
        outputs_comment="\n".join(f" *   r[{m}] = {text}" for m, text in enumerate(descriptions)),
        headers=_headers(fused),
        support_code=support,
        ctype=_CTYPES[fused.dtype],
        n_in=len(fused.composite.inputs),
        n_out=len(fused.composite.outputs),
        type_codes=", ".join([_NPY_TYPES[fused.dtype]] * (len(fused.composite.inputs) + len(fused.composite.outputs))),
        body=body,
    )

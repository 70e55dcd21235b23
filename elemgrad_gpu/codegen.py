"""Generate code: the fused Composite's scalar C code inside a loop template from kernels/.

The per-element body is PyTensor's own C code for the scalar graph (the same code
Theano's GPU backend compiled as device code), so every backend shares one body:
``kernels/elemwise.c`` wraps it in a NumPy ufunc loop for the CPU and
``kernels/elemwise.cu`` in grid-stride CUDA kernels. In float32 CUDA code every
floating literal of the body is made a float literal, so no float64 math creeps in.
"""
from __future__ import annotations

import re
from functools import cache
from string import Template

import pytensor.scalar as ps

from elemgrad_gpu.fuse import FusedGraph
from elemgrad_gpu.kernels_dir import kernel_path

_CTYPES = {"float32": "float", "float64": "double"}
_NPY_TYPES = {"float32": "NPY_FLOAT", "float64": "NPY_DOUBLE"}
_FLOAT_LITERAL = re.compile(r"(?<![\w.])((?:\d+\.\d*|\.\d+)(?:[eE][-+]?\d+)?|\d+[eE][-+]?\d+)(?![\w.])")


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


def float_literals(code: str) -> str:
    """``code`` with every floating literal (``2.0``, ``1e-5``) made a float (``2.0f``)."""
    return _FLOAT_LITERAL.sub(r"\1f", code)


def _fields(fused: FusedGraph, descriptions: list[str]) -> dict[str, object]:
    support, body = element_code(fused)
    return dict(
        outputs_comment="\n".join(f" *   r[{m}] = {text}" for m, text in enumerate(descriptions)),
        support_code=support,
        body=body,
        ctype=_CTYPES[fused.dtype],
        n_in=len(fused.composite.inputs),
        n_out=len(fused.composite.outputs),
    )


def c_source(fused: FusedGraph, descriptions: list[str]) -> str:
    """The C source of the CPU kernel: a NumPy ufunc whose loop computes every output."""
    fields = _fields(fused, descriptions)
    names = [h.strip("<>") for h in fused.composite.c_headers()]
    return Template(_read("elemwise.c")).substitute(
        fields,
        headers="\n".join(f"#include <{h}>" for h in dict.fromkeys(names) if h != "math.h"),
        type_codes=", ".join([_NPY_TYPES[fused.dtype]] * (fields["n_in"] + fields["n_out"])),
    )


def cuda_source(fused: FusedGraph, descriptions: list[str]) -> str:
    """The CUDA source: contiguous and strided grid-stride kernels over 64-bit indices."""
    fields = _fields(fused, descriptions)
    if fused.dtype == "float32":
        fields["body"] = float_literals(fields["body"])
    n_in, n_out = fields["n_in"], fields["n_out"]
    inputs = [f"const eg_real *__restrict__ in{j}" for j in range(n_in)]
    outputs = [f"eg_real *__restrict__ out{m}" for m in range(n_out)]
    steps = [f"const long long step{j}" for j in range(n_in)]
    return Template(_read("elemwise.cu")).substitute(
        fields,
        scalar_types=_read("scalar_types.h"),
        contiguous_params=", ".join([p for pair in zip(inputs, steps) for p in pair] + outputs),
        strided_params=", ".join(inputs + outputs),
        contiguous_loads="\n".join(f"        v[{j}] = in{j}[i * step{j}];" for j in range(n_in)),
        strided_loads="\n".join(f"        v[{j}] = in{j}[offset[{j}]];" for j in range(n_in)),
        stores="\n".join(f"        out{m}[i] = r[{m}];" for m in range(n_out)),
    )

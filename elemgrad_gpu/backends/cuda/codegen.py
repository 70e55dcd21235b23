"""Generate code for CUDA: the element body (``backends/codegen.py``) in ``elemwise.cu`` beside this module.

Vectorized, contiguous and strided grid-stride kernels over 64-bit indices. In float32
CUDA code every floating literal of the body is made a float literal, so no float64
math creeps in.
"""
from __future__ import annotations

from pathlib import Path
from string import Template

from elemgrad_gpu.backends.codegen import fields as body_fields, float_literals, template
from elemgrad_gpu.graph.fuse import FusedGraph

TEMPLATE = Path(__file__).with_name("elemwise.cu")
SCALAR_TYPES = Path(__file__).with_name("scalar_types.h")


def cuda_source(fused: FusedGraph, descriptions: list[str]) -> str:
    """The CUDA source: vectorized, contiguous and strided grid-stride kernels over 64-bit indices."""
    n_in, n_out = len(fused.composite.inputs), len(fused.composite.outputs)
    fields = body_fields(fused, descriptions, [f"v[{j}]" for j in range(n_in)], [f"r[{m}]" for m in range(n_out)])
    if fused.dtype == "float32":
        fields["body"] = float_literals(fields["body"])
    inputs = [f"const eg_real *__restrict__ in{j}" for j in range(n_in)]
    outputs = [f"eg_real *__restrict__ out{m}" for m in range(n_out)]
    steps = [f"const long long step{j}" for j in range(n_in)]
    return Template(template(TEMPLATE)).substitute(
        fields,
        scalar_types=template(SCALAR_TYPES),
        contiguous_params=", ".join(steps + inputs + outputs),
        strided_params=", ".join(inputs + outputs),
        contiguous_loads="\n".join(f"        v[{j}] = in{j}[i * step{j}];" for j in range(n_in)),
        strided_loads="\n".join(f"        v[{j}] = in{j}[offset[{j}]];" for j in range(n_in)),
        stores="\n".join(f"        out{m}[i] = r[{m}];" for m in range(n_out)),
        vector_scalars="\n".join(f"    if (!step{j}) for (int l = 0; l < EG_VEC; ++l) x[{j}].e[l] = in{j}[0];"
                                 for j in range(n_in)),
        vector_loads="\n".join(f"        if (step{j}) x[{j}] = reinterpret_cast<const eg_vec *>(in{j})[k];"
                               for j in range(n_in)),
        vector_stores="\n".join(f"        reinterpret_cast<eg_vec *>(out{m})[k] = y[{m}];" for m in range(n_out)),
    )

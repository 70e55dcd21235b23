"""Generate code for CUDA: the element body (``backends/codegen.py``) in ``elemwise.cu`` beside this module.

Vectorized, contiguous and strided grid-stride kernels over 64-bit indices. In float32
CUDA code every floating literal of the body is made a float literal, so no float64
math creeps in.

With ``hoisted`` (``graph/hoist.py``), the work on the single-value inputs is done once
per call: a kernel ``eg_once`` of one thread computes the hoisted values from those
inputs into a small device buffer, and the element kernels read them from it (their
last parameter) instead of computing them per element. Both run the operations of the
body as the kernel without hoisting does, compiled alike (``NVRTC_OPTIONS``: no
contraction of a*b+c into one rounding), so the results are bitwise those of the same
values given as broadcast arrays. The source says so in a marker line that
``CudaBackend.load`` reads (``HOISTED``), since a stored plan keeps only the source.
"""
from __future__ import annotations

import re
from pathlib import Path
from string import Template

from elemgrad_gpu.backends.codegen import element_code, fields as body_fields, float_literals, template
from elemgrad_gpu.graph.fuse import FusedGraph

TEMPLATE = Path(__file__).with_name("elemwise.cu")
SCALAR_TYPES = Path(__file__).with_name("scalar_types.h")
HOISTED = re.compile(r"/\* eg:hoisted once-inputs=([\d,]+) values=(\d+) \*/")


def cuda_source(fused: FusedGraph, descriptions: list[str], hoisted=None) -> str:
    """The CUDA source: vectorized, contiguous and strided grid-stride kernels over 64-bit
    indices (and, with ``hoisted``, the ``eg_once`` kernel computing the hoisted values)."""
    n_in, n_out = len(fused.composite.inputs), len(fused.composite.outputs)
    n_hoisted = len(hoisted.once.outputs) if hoisted else 0
    names_in = [f"v[{j}]" for j in range(n_in + n_hoisted)]
    fields = body_fields(fused, descriptions, names_in, [f"r[{m}]" for m in range(n_out)],
                         hoisted.each if hoisted else None)
    fields.update(_once_fields(hoisted) if hoisted else dict(once_kernel="", hoisted_reads="", hoisted_copies=""))
    if fused.dtype == "float32":
        fields["body"] = float_literals(fields["body"])
        fields["once_kernel"] = float_literals(fields["once_kernel"])
    inputs = [f"const eg_real *__restrict__ in{j}" for j in range(n_in)]
    outputs = [f"eg_real *__restrict__ out{m}" for m in range(n_out)]
    extra = ["const eg_real *__restrict__ hoisted"] if hoisted else []
    steps = [f"const long long step{j}" for j in range(n_in)]
    return Template(template(TEMPLATE)).substitute(
        fields,
        n_hoisted=n_hoisted,
        scalar_types=template(SCALAR_TYPES),
        contiguous_params=", ".join(steps + inputs + outputs + extra),
        strided_params=", ".join(inputs + outputs + extra),
        contiguous_loads="\n".join(f"        v[{j}] = in{j}[i * step{j}];" for j in range(n_in)),
        strided_loads="\n".join(f"        v[{j}] = in{j}[offset[{j}]];" for j in range(n_in)),
        stores="\n".join(f"        out{m}[i] = r[{m}];" for m in range(n_out)),
        vector_scalars="\n".join(f"    if (!step{j}) for (int l = 0; l < EG_VEC; ++l) x[{j}].e[l] = in{j}[0];"
                                 for j in range(n_in)),
        vector_loads="\n".join(f"        if (step{j}) x[{j}] = reinterpret_cast<const eg_vec *>(in{j})[k];"
                               for j in range(n_in)),
        vector_stores="\n".join(f"        reinterpret_cast<eg_vec *>(out{m})[k] = y[{m}];" for m in range(n_out)),
    )


def _once_fields(hoisted) -> dict:
    """The template's fields for a hoisted body: the ``eg_once`` kernel, each thread's read
    of the hoisted values, and their copy into ``v`` after the inputs."""
    count = len(hoisted.once.outputs)
    support, body = element_code(hoisted.once, [f"u[{s}]" for s in range(len(hoisted.scalars))],
                                 [f"h[{t}]" for t in range(count)], name="eg_once")
    params = ", ".join([f"const eg_real *__restrict__ in{j}" for j in hoisted.scalars]
                       + ["eg_real *__restrict__ hoisted"])
    reads = "\n".join(f"        u[{s}] = in{j}[0];" for s, j in enumerate(hoisted.scalars))
    writes = "\n".join(f"        hoisted[{t}] = h[{t}];" for t in range(count))
    marker = f"/* eg:hoisted once-inputs={','.join(map(str, hoisted.scalars))} values={count} */"
    kernel = f"""
{marker}
{support}
/* The hoisted values from the single-value inputs (u), into h. */
static __device__ __forceinline__ void eg_once_element(const eg_real *u, eg_real *h)
{{
{body}
}}

/* Once per call, before the element kernels: one thread writes the hoisted values. */
extern "C" __global__ void eg_once({params})
{{
    if (blockIdx.x == 0 && threadIdx.x == 0) {{
        eg_real u[{len(hoisted.scalars)}], h[EG_NHOIST];
{reads}
        eg_once_element(u, h);
{writes}
    }}
}}
"""
    return dict(once_kernel=kernel,
                hoisted_reads=f"    eg_real h[EG_NHOIST];\n    for (int t = 0; t < EG_NHOIST; ++t) h[t] = hoisted[t];",
                hoisted_copies="        for (int t = 0; t < EG_NHOIST; ++t) v[EG_NIN + t] = h[t];")


def hoisted_layout(source: str) -> tuple[tuple[int, ...], int] | None:
    """From a generated source: the inputs ``eg_once`` reads and how many values it writes; None without hoisting."""
    found = HOISTED.search(source)
    if found is None:
        return None
    return tuple(int(j) for j in found.group(1).split(",")), int(found.group(2))

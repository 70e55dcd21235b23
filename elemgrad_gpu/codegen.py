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
# glibc's libmvec has vector versions of these (x86_64, glibc >= 2.35); math.h declares
# them only under -ffast-math, so the C kernel declares them itself.
_VECTOR_MATH = {1: "acos acosh asin asinh atan atanh cbrt cos cosh erf erfc exp exp10 exp2 expm1 log log10 "
                   "log1p log2 sin sinh tan tanh", 2: "atan2 hypot pow"}
_FLOAT_LITERAL = re.compile(r"(?<![\w.])((?:\d+\.\d*|\.\d+)(?:[eE][-+]?\d+)?|\d+[eE][-+]?\d+)(?![\w.])")


@cache
def _read(name: str) -> str:
    return kernel_path(name).read_text()


def element_code(fused: FusedGraph, names_in: list[str], names_out: list[str]) -> tuple[str, str]:
    """(support code, body) computing the outputs ``names_out`` from ``names_in`` for one element."""
    composite = fused.composite
    node = composite.make_node(*[ps.get_scalar_type(fused.dtype)() for _ in composite.inputs])
    # Only integer division fails, and every value in the loop is floating point.
    body = composite.c_code(node, "eg", names_in, names_out, {"fail": "return;"})
    support = "\n".join([composite.c_support_code(), composite.c_support_code_apply(node, "eg")])
    return support, body


_LIBM = ("acos acosh asin asinh atan atan2 atanh cbrt ceil copysign cos cosh erf erfc exp exp10 exp2 expm1 fabs "
         "floor fmax fmin fmod hypot lgamma log log10 log1p log2 pow round sin sinh sqrt tan tanh tgamma trunc").split()
_LIBM_CALL = re.compile(rf"\b({'|'.join(_LIBM)})\s*\(")
_TANH_CALL = re.compile(r"\b(tanhf?)\s*\(")  # the C kernel's tanh is eg_tanh (kernels/elemwise.c)


def float_math(code: str) -> str:
    """C ``code`` computing in float: float literals, and libm's float functions (``tanhf``)."""
    return _LIBM_CALL.sub(r"\1f(", float_literals(code))


def float_literals(code: str) -> str:
    """``code`` with every floating literal (``2.0``, ``1e-5``) made a float (``2.0f``)."""
    return _FLOAT_LITERAL.sub(r"\1f", code)


def _fields(fused: FusedGraph, descriptions: list[str], names_in: list[str], names_out: list[str]) -> dict:
    support, body = element_code(fused, names_in, names_out)
    return dict(
        outputs_comment="\n".join(f" *   output {m} = {text}" for m, text in enumerate(descriptions)),
        support_code=support,
        body=body,
        ctype=_CTYPES[fused.dtype],
        n_in=len(names_in),
        n_out=len(names_out),
    )


def _vector_math_declarations(ctype: str) -> str:
    suffix = "f" if ctype == "float" else ""
    return "\n".join(f"#pragma omp declare simd notinbranch\n{ctype} {name}{suffix}({', '.join([ctype] * arity)});"
                     for arity, names in _VECTOR_MATH.items() for name in names.split())


def c_source(fused: FusedGraph, descriptions: list[str], vector_math: bool = False) -> str:
    """The C source of the CPU kernel: a NumPy ufunc whose loop computes every output.

    With ``vector_math``, the libm functions that glibc's libmvec vectorizes are
    declared as SIMD functions, so the block loop calls their vector versions.
    """
    n_in, n_out = len(fused.composite.inputs), len(fused.composite.outputs)
    ctype = _CTYPES[fused.dtype]
    fields = _fields(fused, descriptions, [f"v{j}" for j in range(n_in)], [f"(*r{m})" for m in range(n_out)])
    if fused.dtype == "float32":
        fields["body"] = float_math(fields["body"])
    fields["body"] = _TANH_CALL.sub(r"eg_\1(", fields["body"])
    names = [h.strip("<>") for h in fused.composite.c_headers()]
    return Template(_read("elemwise.c")).substitute(
        fields,
        headers="\n".join(f"#include <{h}>" for h in dict.fromkeys(names) if h != "math.h"),
        vector_math=_vector_math_declarations(ctype) if vector_math else "",
        element_params=", ".join([f"const {ctype} v{j}" for j in range(n_in)] + [f"{ctype} *r{m}" for m in range(n_out)]),
        element_arguments=", ".join([f"in[{j}][i]" for j in range(n_in)] + [f"&r{m}" for m in range(n_out)]),
        result_names=", ".join(f"r{m}" for m in range(n_out)),
        stores="\n".join(f"            out[{m}][i] = r{m};" for m in range(n_out)),
        type_codes=", ".join([_NPY_TYPES[fused.dtype]] * (fields["n_in"] + fields["n_out"])),
    )


def cuda_source(fused: FusedGraph, descriptions: list[str]) -> str:
    """The CUDA source: vectorized, contiguous and strided grid-stride kernels over 64-bit indices."""
    n_in, n_out = len(fused.composite.inputs), len(fused.composite.outputs)
    fields = _fields(fused, descriptions, [f"v[{j}]" for j in range(n_in)], [f"r[{m}]" for m in range(n_out)])
    if fused.dtype == "float32":
        fields["body"] = float_literals(fields["body"])
    inputs = [f"const eg_real *__restrict__ in{j}" for j in range(n_in)]
    outputs = [f"eg_real *__restrict__ out{m}" for m in range(n_out)]
    steps = [f"const long long step{j}" for j in range(n_in)]
    return Template(_read("elemwise.cu")).substitute(
        fields,
        scalar_types=_read("scalar_types.h"),
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

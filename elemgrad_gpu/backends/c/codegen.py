"""Generate code for the CPU: the element body (``backends/codegen.py``) in ``elemwise.c`` beside this module.

``elemwise.c`` makes a NumPy ufunc whose loop computes every output. In float32 code
every floating literal is a float literal and every C library call the float version
(``tanhf``); the vocabulary's rows say which C library functions there are, and which
glibc's libmvec vectorizes.
"""
from __future__ import annotations

import re
from pathlib import Path
from string import Template

from elemgrad_gpu.backends.codegen import CTYPES, element_code, fields as body_fields, float_literals, template
from elemgrad_gpu.expr.vocabulary import c_library_functions
from elemgrad_gpu.graph.fuse import FusedGraph
from elemgrad_gpu.graph.hoist import Hoisted

TEMPLATE = Path(__file__).with_name("elemwise.c")
_NPY_TYPES = {"float32": "NPY_FLOAT", "float64": "NPY_DOUBLE"}
# glibc's libmvec has vector versions of some (x86_64, glibc >= 2.35): the vocabulary's rows
# say which. math.h declares them only under -ffast-math, so the C kernel declares them itself,
# const (with -fno-math-errno they touch no memory): a loop mixing a call with a select, as our
# tanh has, is then still vectorized.
_C_FUNCTIONS = c_library_functions()  # name -> (arity, has a vector version)
_VECTOR_MATH = {arity: " ".join(sorted(n for n, (a, vector) in _C_FUNCTIONS.items() if vector and a == arity))
                for arity in (1, 2)}
_LIBM = sorted(_C_FUNCTIONS)  # their double versions, made float ones (tanhf) in float32 code
_LIBM_CALL = re.compile(rf"\b({'|'.join(_LIBM)})\s*\(")
_TANH_CALL = re.compile(r"\b(tanhf?)\s*\(")  # the C kernel's tanh is eg_tanh (elemwise.c)


def float_math(code: str) -> str:
    """C ``code`` computing in float: float literals, and libm's float functions (``tanhf``)."""
    return _LIBM_CALL.sub(r"\1f(", float_literals(code))


def _vector_math_declarations(ctype: str) -> str:
    suffix = "f" if ctype == "float" else ""
    return "\n".join(f"#pragma omp declare simd notinbranch\n"
                     f"{ctype} {name}{suffix}({', '.join([ctype] * arity)}) __attribute__((const));"
                     for arity, names in _VECTOR_MATH.items() for name in names.split())


def c_source(fused: FusedGraph, descriptions: list[str], vector_math: bool = False,
             hoisted: Hoisted | None = None) -> str:
    """The C source of the CPU kernel: a NumPy ufunc whose loop computes every output.

    With ``vector_math``, the libm functions that glibc's libmvec vectorizes are
    declared as SIMD functions, so the block loop calls their vector versions. With
    ``hoisted``, the work on the single-value inputs is done once per call (hoist.py).
    """
    n_in, n_out = len(fused.composite.inputs), len(fused.composite.outputs)
    n_hoisted = len(hoisted.once.outputs) if hoisted else 0
    ctype = CTYPES[fused.dtype]
    names_in = [f"v{j}" for j in range(n_in)] + [f"h{t}" for t in range(n_hoisted)]
    fields = body_fields(fused, descriptions, names_in, [f"(*r{m})" for m in range(n_out)], hoisted and hoisted.each)
    if hoisted:
        fields.update(_once_fields(hoisted, fused.dtype, ctype))
        fields["support_code"] += "\n" + fields.pop("once_support")
    else:
        fields.update(n_once=0, once_inputs="", once_params="void", once_body="", once_results="eg_unused",
                      once_arguments="", once_stores="", once_scalar_stores="")
    for key in ("body", "once_body"):
        if fused.dtype == "float32":
            fields[key] = float_math(fields[key])
        fields[key] = _TANH_CALL.sub(r"eg_\1(", fields[key])
    names = [h.strip("<>") for h in fused.composite.c_headers()]
    return Template(template(TEMPLATE)).substitute(
        fields,
        headers="\n".join(f"#include <{h}>" for h in dict.fromkeys(names) if h != "math.h"),
        vector_math=_vector_math_declarations(ctype) if vector_math else "",
        n_hoisted=n_hoisted,
        element_params=", ".join([f"const {ctype} {v}" for v in names_in] + [f"{ctype} *r{m}" for m in range(n_out)]),
        element_arguments=", ".join([f"in[{j}][i]" for j in range(n_in)] + [f"hoisted[{t}]" for t in range(n_hoisted)]
                                    + [f"&r{m}" for m in range(n_out)]),
        result_names=", ".join(f"r{m}" for m in range(n_out)),
        stores="\n".join(f"            out[{m}][i] = r{m};" for m in range(n_out)),
        type_codes=", ".join([_NPY_TYPES[fused.dtype]] * (n_in + n_out)),
    )


def _once_fields(hoisted: Hoisted, dtype: str, ctype: str) -> dict:
    """The template's fields for ``eg_once_element``: the body computing the hoisted values."""
    count, n_once = len(hoisted.once.outputs), len(hoisted.scalars)
    support, body = element_code(hoisted.once, [f"u{s}" for s in range(n_once)],
                                 [f"(*h{t})" for t in range(count)], name="eg_once")
    return dict(
        n_once=n_once,
        once_inputs=", ".join(map(str, hoisted.scalars)),
        once_params=", ".join([f"const {ctype} u{s}" for s in range(n_once)]
                              + [f"{ctype} *h{t}" for t in range(count)]),
        once_body=body,
        once_support=support,
        once_results=", ".join(f"h{t}" for t in range(count)),
        once_arguments=", ".join([f"lanes[{s}][i]" for s in range(n_once)] + [f"&h{t}" for t in range(count)]),
        once_stores="\n".join(f"        values[{t}][i] = h{t};" for t in range(count)),
        once_scalar_stores="\n".join(f"    values[{t}] = h{t};" for t in range(count)),
    )


def loop_lines(source: str, loop: str) -> range:
    """The line numbers, in C ``source``, of the kernel's ``loop`` ("block" or "once"): from
    its ``for`` to its closing brace (a compiler may place the loop at any of them)."""
    lines = source.splitlines()
    first = next(k for k, line in enumerate(lines) if f"/* eg:{loop}-loop */" in line)
    last = next(k for k in range(first, len(lines)) if lines[k] == "    }")
    return range(first + 1, last + 2)

"""Every generated CUDA kernel compiles with NVRTC for sm_80 and sm_90, no GPU needed.

float32 kernels stay in float32: no double literals or double casts in the element
body, and, for functions whose CUDA math has no float64 slow path, no f64 instruction
in the PTX at all.
"""
import re

import pytest

import elemgrad_gpu as eg
from cases import CASES

ARCHES = ("sm_80", "sm_90")
MULTI_INPUT = [
    ("-(x - mu)**2 / (2*s**2) - log(s) - 0.9189385332046727", [(), ("x",), ("mu",), ("s", "s"), ("x", "mu", "s")]),
    ("pow(x, y) + arctan2(y, x) * hypot(x, y) + where(x > y, maximum(x, y), minimum(x, y))",
     [(), ("x",), ("y",), ("x", "y"), ("x", "x", "y", "y")]),
]
NO_F64_SLOW_PATH = ["tanh(x)**2", "exp(x)", "log1p(x)", "sigmoid(x)", "softplus(x)", "sqrt(x)", "erf(x)",
                    "0.5*x*(1 + tanh(0.7978845608*(x + 0.044715*x**3)))"]
UNSUFFIXED_FLOAT = re.compile(r"(?<![\w.])(\d+\.\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w.f])")


def element_body(source: str) -> str:
    return source.split("eg_element(const eg_real *v, eg_real *r)")[1].split("extern \"C\"")[0]


def assert_float32_body(source: str) -> None:
    body = element_body(source)
    assert "double" not in body and "npy_float64" not in body
    assert not UNSUFFIXED_FLOAT.findall(body), UNSUFFIXED_FLOAT.findall(body)


# The special functions' cases (from logit on: issue 15's families, whose headers are long) compile each
# dtype for one architecture (float32 for sm_80, float64 for sm_90): NVRTC's time for them is most of
# this module's, and each family's own tests compile its kernels for both.
FIRST_FAMILY_CASE = [c[0] for c in CASES].index("logit(x)")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("position, text", list(enumerate(c[0] for c in CASES)), ids=lambda v: str(v))
def test_every_function_orders_0_to_4_compiles(compile_ptx, position, text, dtype):
    source = eg.compile(text, orders=(0, 1, 2, 3, 4)).source("cuda", dtype=dtype)
    if dtype == "float32":
        assert_float32_body(source)
    arches = ARCHES if position < FIRST_FAMILY_CASE else (ARCHES[0] if dtype == "float32" else ARCHES[1],)
    for arch in arches:
        ptx = compile_ptx(source, arch)
        assert ".entry eg_contiguous" in ptx and ".entry eg_strided" in ptx


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("text, derivatives", MULTI_INPUT)
def test_multi_input_kernels_compile(compile_ptx, text, derivatives, dtype):
    source = eg.compile(text, derivatives=derivatives).source("cuda", dtype=dtype)
    if dtype == "float32":
        assert_float32_body(source)
    for arch in ARCHES:
        compile_ptx(source, arch)


@pytest.mark.parametrize("text", NO_F64_SLOW_PATH)
def test_float32_kernels_do_no_float64_math(compile_ptx, text):
    ptx = compile_ptx(eg.compile(text, orders=(0, 1, 2)).source("cuda", dtype="float32"), "sm_90")
    assert ".f64" not in ptx


@pytest.mark.parametrize("dtype, vector", [("float32", "v4.f32"), ("float64", "v2.f64")])
def test_the_vectorized_kernel_moves_16_bytes_per_load_and_store(compile_ptx, dtype, vector):
    source = eg.compile("tanh(x)**2 * mu", wrt="x", orders=(0, 1)).source("cuda", dtype=dtype)
    ptx = compile_ptx(source, "sm_90")
    start = ptx.index(".entry eg_vectorized")
    end = ptx.find(".entry", start + 1)
    body = ptx[start:end if end > 0 else None]
    assert re.search(rf"ld\.global(\.nc)?\.{re.escape(vector)}", body)
    assert re.search(rf"st\.global\.{re.escape(vector)}", body)


def test_cuda_source_is_available_without_a_gpu():
    fn = eg.compile("tanh(x)**2", orders=(0, 1))
    source = fn.source("cuda", dtype="float32")
    assert "__global__" in source and "tanhf" in source or "tanh(" in source
    assert "long long i" in source  # 64-bit indexing

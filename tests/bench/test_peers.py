"""elemgrad_gpu.bench.peers: every peer the benchmarks time computes what the closed form says.

The benchmarks check their results too, but run only when named; here each installed
CPU peer is checked at a few points, and the hand-written CUDA bodies of the CuPy
peer compile with NVRTC (no GPU needed), float32 ones without float64 math.
"""
import numpy as np
import pytest

from elemgrad_gpu.bench.peers import FUNCTIONS, TOOLS, agreement, reference

CPU_TOOLS = ("elemgrad_gpu", "numpy", "pytensor", "jax", "pytorch")  # torch.compile: compiles for tens of seconds
CASES = [(name, order) for name, function in FUNCTIONS.items() for order in function.by_hand]
OPTIONS = {"elemgrad_gpu": {"device": "cpu"}, "jax": {"device": "cpu"}}


@pytest.mark.parametrize("dtype, rtol", [("float64", 1e-12), ("float32", 1e-5)])
@pytest.mark.parametrize("name, order", CASES)
@pytest.mark.parametrize("tool", CPU_TOOLS)
def test_each_peer_matches_the_closed_form(tool, name, order, dtype, rtol):
    module, build = TOOLS[tool]
    pytest.importorskip(module)
    x = np.linspace(-4, 4, 101, dtype=dtype)
    result = build(FUNCTIONS[name], dtype, order, **OPTIONS.get(tool, {}))(x)()
    assert agreement(result, reference(FUNCTIONS[name], x, order), rtol) == "ok"
    assert {np.asarray(a).dtype.name for a in result} == {dtype}


def test_agreement_names_the_output_that_is_off():
    x = np.linspace(-1, 1, 11)
    value, derivative = reference(FUNCTIONS["tanh2"], x, 1)
    assert agreement((value, derivative), (value, derivative), 1e-12) == "ok"
    assert agreement((value, 2 * np.tanh(x)), (value, derivative), 1e-12).startswith("MISMATCH: derivative")
    assert agreement((value,), (value, derivative), 1e-12).startswith("MISMATCH: 1 outputs")


def cuda_kernel(name: str, order: int, ctype: str) -> str:
    """The CuPy peer's body for ``name`` inside a plain CUDA kernel, as ElementwiseKernel would wrap it."""
    function = FUNCTIONS[name]
    outputs = ("y", "dy", "d2y")[: order + 1]
    params = "".join(f", T {p}" for p in function.params)
    return (f"typedef {ctype} T;\nextern \"C\" __global__ void k(const T *xs, T *out{params}, long long n) {{\n"
            f"  long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x;\n  if (i >= n) return;\n"
            f"  T x = xs[i]; T {', '.join(outputs)};\n  {function.cuda[order]}\n"
            + "".join(f"  out[{k} * n + i] = {o};\n" for k, o in enumerate(outputs)) + "}\n")


@pytest.mark.parametrize("name, order", CASES)
def test_cuda_by_hand_bodies_compile(compile_ptx, name, order):
    assert ".f64" not in compile_ptx(cuda_kernel(name, order, "float"), "sm_90")
    assert ".entry k" in compile_ptx(cuda_kernel(name, order, "double"), "sm_90")

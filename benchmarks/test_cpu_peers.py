"""CPU: value and derivatives, elemgrad_gpu beside its peers, in one pytest-benchmark run.

    pytest benchmarks/test_cpu_peers.py --benchmark-json=run.json && python benchmarks/report.py run.json

Functions (value + first derivative): tanh(x)^2, softplus(x), GELU (tanh form) and the
Gaussian log-density with scalar mu and sigma; tanh(x)^2 also with the second
derivative. float64 and float32; n = 10^3 to 10^7, and 10^8 with --bench-large
(opt-in: a float64 case takes up to about 10 GB of memory, and the large cases minutes).
Tools: elemgrad_gpu (device cpu), NumPy by hand, PyTensor grad(sum) (C backend), JAX
jit(vmap(value_and_grad)) on the CPU (x64 for float64), PyTorch eager autograd and
torch.compile; a peer that is not installed is skipped, saying so. Each result is
checked against the closed form (rtol 1e-12 float64, 1e-5 float32). One group per
function, derivatives, dtype and n: compare medians within a group. Check the suite
quickly with --benchmark-disable (each case runs once).
"""
import pytest

from elemgrad_gpu.cli.demo import full_jacobian_diagonal
from suite import CPU_SIZES, LARGE, Case, cases, check, problem, record, run_case

TOOLS = ("elemgrad_gpu", "numpy", "pytensor", "jax", "pytorch", "torch.compile")
ON_THE_CPU = {"elemgrad_gpu": {"device": "cpu"}, "jax": {"device": "cpu"}}  # not a GPU where there is one


def timed(benchmark, call):
    """pytest-benchmark's own calibration: rounds and iterations to fill --benchmark-max-time."""
    return benchmark(call)


@pytest.mark.parametrize("case", cases(CPU_SIZES, TOOLS, large=LARGE))
def test_cpu(benchmark, case: Case):
    run_case(benchmark, case, timed, **ON_THE_CPU.get(case.tool, {}))


@pytest.mark.parametrize("n", (1_000, 3_000, 10_000))
def test_full_jacobian_by_scan(benchmark, n):
    """The approach this package replaces, to show its O(n^2) growth: the n x n Jacobian, then its diagonal."""
    case = Case("tanh2", 1, "float64", n, "pytensor full Jacobian (scan)")
    x, (_, derivative) = problem(case.function, case.order, case.dtype, n)
    diagonal = full_jacobian_diagonal(n)
    record(benchmark, case, bytes=2 * x.nbytes, outputs="derivative only")
    result = benchmark.pedantic(diagonal, args=(x,), rounds=3, warmup_rounds=1)
    check([result], (derivative,), case.dtype)

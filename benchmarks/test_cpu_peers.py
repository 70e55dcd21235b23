"""CPU: value + first derivative of tanh(x)^2, elemgrad_gpu beside its peers, same run.

    .venv/bin/pytest benchmarks/ --benchmark-columns=median,min,rounds --benchmark-sort=name

Groups are per size; compare medians within a group.
"""
import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from pytensor.compile.mode import Mode

import elemgrad_gpu as eg
from peers import numpy_by_hand, pytensor_grad_of_sum

SIZES = (10 ** 3, 10 ** 5, 10 ** 7)
TOOLS = {
    "elemgrad_gpu": lambda: eg.compile("tanh(x)**2", orders=(0, 1)),
    "numpy by hand": lambda: numpy_by_hand,
    "pytensor grad(sum) C": pytensor_grad_of_sum,
}


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("tool", TOOLS)
def test_value_and_grad_tanh_squared(benchmark, tool, n):
    benchmark.group = f"tanh(x)^2 vg float64 n={n:.0e}"
    x = np.linspace(-3, 3, n)
    function = TOOLS[tool]()
    value, slope = benchmark(function, x)
    t = np.tanh(x)
    np.testing.assert_allclose(slope, 2 * t * (1 - t * t), rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("n", (1_000, 3_000))
def test_full_jacobian_by_scan(benchmark, n):
    """The approach this package replaces, to show its O(n^2) growth."""
    benchmark.group = "full Jacobian by scan, then diagonal"
    x = pt.vector("x")
    jacobian = pytensor.gradient.jacobian(pt.tanh(x) ** 2, x, vectorize=False)
    function = pytensor.function([x], pt.diagonal(jacobian), mode=Mode(linker="cvm", optimizer="fast_run"))
    benchmark.pedantic(function, args=(np.linspace(-3, 3, n),), rounds=3)

"""Taylor mode: orders 0..8 of one function against orders (0, 1), at n = 10^6 float64 on the CPU.

    pytest benchmarks/test_taylor_orders.py --benchmark-max-time=0.5

Orders 3..8 come from truncated Taylor series (elemgrad_gpu/taylor.py) in the same fused
kernel as orders 0..2. One group per function: compare the medians of "0..8" and "0,1"
within it, with outputs given (``out=``: the kernel's own time) and new (NumPy also
allocates 9 arrays of 8 MB against 2, which on a small VM dominates). Each result is
checked once against the closed form of its first derivative. Kept short: 5 functions,
n = 10^6 only.
"""
import numpy as np
import pytest

import elemgrad_gpu as eg

N = 1_000_000
CASES = {  # expression: (range of x, first derivative by hand)
    "sigmoid(x)": ((-4, 4), lambda x: np.exp(-x) / (1 + np.exp(-x)) ** 2),
    "hypot(x, 1)": ((-4, 4), lambda x: x / np.hypot(x, 1)),
    "arccosh(x)": ((1.05, 8), lambda x: 1 / np.sqrt(x * x - 1)),
    "erfinv(x)": ((-0.95, 0.95), None),
    "tanh(tanh(x))": ((-4, 4), lambda x: (1 - np.tanh(np.tanh(x)) ** 2) * (1 - np.tanh(x) ** 2)),
}
ORDERS = {"0,1": (0, 1), "0..8": tuple(range(9))}


@pytest.mark.parametrize("outputs", ["given", "new"])
@pytest.mark.parametrize("orders", list(ORDERS))
@pytest.mark.parametrize("text", list(CASES))
def test_taylor_orders(benchmark, text, orders, outputs):
    (lo, hi), slope = CASES[text]
    x = np.linspace(lo, hi, N)
    fn = eg.compile(text, orders=ORDERS[orders], device="cpu")
    results = fn(x)
    if slope is not None:
        np.testing.assert_allclose(results[1], slope(x), rtol=1e-12, atol=1e-14)
    benchmark.group = f"taylor {text} n={N:.0e} out={outputs}"
    if outputs == "given":
        benchmark(lambda: fn(x, out=results))
    else:
        benchmark(lambda: fn(x))

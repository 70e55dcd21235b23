"""The CPU peers of the benchmarks, shared by test_cpu_peers.py and interleaved.py."""
import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.compile.mode import Mode


def numpy_by_hand(x):
    """Value and derivative of tanh(x)^2, written by hand with NumPy."""
    t = np.tanh(x)
    return t * t, 2 * t * (1 - t * t)


def pytensor_grad_of_sum():
    """PyTensor's C backend on [y, grad(sum(y), x)] for y = tanh(x)^2."""
    x = pt.vector("x")
    y = pt.tanh(x) ** 2
    function = pytensor.function([x], [y, pytensor.grad(y.sum(), x)], mode=Mode(linker="cvm", optimizer="fast_run"))
    function.trust_input = True
    return function

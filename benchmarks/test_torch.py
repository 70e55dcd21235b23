"""fn.to_torch() in eager PyTorch and inside torch.compile against PyTorch's own (not run in CI).

CPU, float64. At n = 10^7: the value and the gradient of the sum of tanh(x)^2 and of the
Gaussian log-density with scalar parameters (mu, s as 0-d tensors that need gradients):
ours (the custom op, its gradient by the op of the next order) in eager autograd against
eager autograd of the same function written in torch; then both inside
torch.compile(fullgraph=True), compiled in an untimed first call. At n = 1,000: the
per-call cost of the op (forward only; x needing no gradient, then x needing one) against
calling fn itself.
    pytest benchmarks/test_torch.py --benchmark-columns=median,iqr,rounds
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import elemgrad_gpu as eg  # noqa: E402

N = 10 ** 7
PARAMS = (0.3, 1.7)
OURS = {"tanh2": "tanh(x)**2", "gaussian": "-(x - mu)**2 / (2*s**2) - log(s)"}


def tanh2(x):
    return torch.tanh(x) ** 2


def gaussian(x, mu, s):
    return -((x - mu) ** 2) / (2 * s**2) - torch.log(s)


THEIRS = {"tanh2": tanh2, "gaussian": gaussian}


def step(f):
    """The value and the gradient of its sum by every input: one training step's work."""
    def value_and_grad(*args):
        y = f(*args)
        return y, torch.autograd.grad(y.sum(), args)
    return value_and_grad


def program(name: str, way: str):
    f = eg.compile(OURS[name], orders=0, device="cpu").to_torch() if way.startswith("elemgrad") else THEIRS[name]
    if way.endswith("compile"):
        f = torch.compile(f, fullgraph=True)
    return step(f)


def leaves(name: str):
    x = torch.tensor(np.random.default_rng(0).normal(size=N), requires_grad=True)
    if name == "tanh2":
        return (x,)
    return (x, *(torch.tensor(p, dtype=torch.float64, requires_grad=True) for p in PARAMS))


@pytest.mark.parametrize("way", ["elemgrad_gpu", "torch_eager", "elemgrad_gpu_compile", "torch_compile"])
@pytest.mark.parametrize("name", ["tanh2", "gaussian"])
def test_value_and_grad_n_1e7(benchmark, name, way):
    args = leaves(name)
    run = program(name, way)
    run(*args)  # compiled (torch.compile, our kernels) outside the timing
    benchmark(run, *args)


@pytest.mark.parametrize("way", ["torch_op", "torch_op_requires_grad", "fn_itself"])
def test_per_call_n_1000(benchmark, way):
    """The forward call alone; torch_op_requires_grad: x needs a gradient, so the call goes
    through the op and records its autograd node (no backward is run)."""
    x = np.random.default_rng(0).normal(size=1000)
    fn = eg.compile(OURS["tanh2"], orders=0, device="cpu")
    call, arg = (fn, x) if way == "fn_itself" else (fn.to_torch(), torch.tensor(x))
    if way == "torch_op_requires_grad":
        arg.requires_grad_()
    call(arg)
    benchmark(call, arg)

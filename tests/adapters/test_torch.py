"""fn.to_torch(): the fused kernel as a PyTorch custom op (adapters/torch_op.py).

References: the same function written in torch, its values and torch.autograd's own
gradients, at 1e-12 in float64 and 1e-5 in float32. CI installs PyTorch's CPU build beside the
test extra (.ci/run), so these run there; skipped where PyTorch is not installed (it is not in
the test extra, where pip would take its CUDA build, several GB).
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import elemgrad_gpu as eg  # noqa: E402
from elemgrad_gpu.errors import DeviceError, InputError, InputTypeError  # noqa: E402

X = np.random.default_rng(5).normal(size=30)
F64 = dict(rtol=1e-12, atol=1e-12)


def gaussian(x, mu, s):
    return -((x - mu) ** 2) / (2 * s**2) - torch.log(s)


@pytest.fixture(scope="module")
def gauss():
    return eg.compile("-(x - mu)**2 / (2*s**2) - log(s)", orders=0, device="cpu").to_torch()


def leaves():
    return (torch.tensor(X, requires_grad=True), torch.tensor(0.3, dtype=torch.float64, requires_grad=True),
            torch.tensor(1.7, dtype=torch.float64, requires_grad=True))


def test_values_gradients_and_second_order_match_torchs_own(gauss):
    ours, theirs = leaves(), leaves()
    y, ref = gauss(*ours), gaussian(*theirs)
    np.testing.assert_allclose(y.detach(), ref.detach(), **F64)
    g = torch.autograd.grad(y.sum(), ours, create_graph=True)
    gr = torch.autograd.grad(ref.sum(), theirs, create_graph=True)
    for a, b in zip(g, gr):
        np.testing.assert_allclose(a.detach(), b.detach(), **F64)
    for k in range(3):  # every second derivative, through the op of the next order
        h = torch.autograd.grad(g[k].sum(), ours, allow_unused=True, retain_graph=True)
        hr = torch.autograd.grad(gr[k].sum(), theirs, allow_unused=True, retain_graph=True)
        for a, b in zip(h, hr):
            np.testing.assert_allclose(0 if a is None else a, 0 if b is None else b, **F64)


def test_float32_and_broadcasting_a_column_against_a_row():
    f = eg.compile("tanh(x - y)**2", orders=0, device="cpu").to_torch()
    x = torch.tensor(X[:4], dtype=torch.float32).reshape(4, 1).requires_grad_()
    y = torch.tensor(X[4:7], dtype=torch.float32).requires_grad_()
    out = f(x, y)
    assert out.dtype == torch.float32 and out.shape == (4, 3)
    gx, gy = torch.autograd.grad(out.sum(), (x, y))
    x2, y2 = x.detach().clone().requires_grad_(), y.detach().clone().requires_grad_()
    wx, wy = torch.autograd.grad((torch.tanh(x2 - y2) ** 2).sum(), (x2, y2))
    np.testing.assert_allclose(gx, wx, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(gy, wy, rtol=1e-5, atol=1e-5)


def test_the_kernel_reads_and_writes_the_tensors_memory(gauss, monkeypatch):
    seen = {}
    call = type(gauss.function).__call__

    def spy(self, *args, **kwargs):
        seen["in"], seen["out"] = [a.ctypes.data for a in args], kwargs["out"].ctypes.data
        return call(self, *args, **kwargs)

    monkeypatch.setattr(type(gauss.function), "__call__", spy)
    x, mu, s = torch.tensor(X), torch.tensor(0.3, dtype=torch.float64), torch.tensor(1.7, dtype=torch.float64)
    out = gauss(x, mu, s)
    assert seen["in"] == [x.data_ptr(), mu.data_ptr(), s.data_ptr()] and seen["out"] == out.data_ptr()
    np.testing.assert_allclose(out, gaussian(x, mu, s), **F64)


def test_opcheck(gauss):
    x, mu, s = leaves()
    torch.library.opcheck(gauss.op, ([x, mu, s],))
    torch.library.opcheck(gauss.op, ([x.detach(), mu.detach(), s.detach()],))


def test_torch_compile_keeps_the_op_whole(gauss):
    def loss(x, mu, s):
        return (gauss(torch.sin(x), mu, s) ** 2).mean()

    compiled = torch.compile(loss, fullgraph=True)
    ours, theirs = leaves(), leaves()
    value = compiled(*ours)
    ref = (gaussian(torch.sin(theirs[0]), *theirs[1:]) ** 2).mean()
    np.testing.assert_allclose(value.detach(), ref.detach(), **F64)
    for a, b in zip(torch.autograd.grad(value, ours), torch.autograd.grad(ref, theirs)):
        np.testing.assert_allclose(a, b, **F64)


def test_errors(gauss):
    with pytest.raises(InputError, match="takes 3 inputs"):
        gauss(torch.ones(2))
    with pytest.raises(InputError, match="do not broadcast"):
        gauss(torch.ones(2), torch.ones(3), 1.0)
    with pytest.raises(InputTypeError, match="complex"):
        gauss(torch.ones(2, dtype=torch.complex128), 0.0, 1.0)


def test_a_gpu_function_is_refused(monkeypatch):
    from cuda_emulator import emulated_cupy
    from elemgrad_gpu.backends.cuda import backend as backend_cuda

    emulated = emulated_cupy()
    monkeypatch.setattr(backend_cuda, "cupy", lambda: emulated)
    backend_cuda.status.cache_clear()
    try:
        with pytest.raises(DeviceError, match="device='cpu'"):
            eg.compile("tanh(x)", orders=0, device="cuda").to_torch()
    finally:
        backend_cuda.status.cache_clear()


def test_only_the_inputs_asked_for_are_differentiated_and_proved():
    import pytensor.tensor as pt

    f = eg.compile(lambda x, w: x * pt.sum(w), orders=0, device="cpu").to_torch()
    x, w = torch.tensor(X, requires_grad=True), torch.tensor(X[::-1].copy())
    (gx,) = torch.autograd.grad(f(x, w).sum(), (x,))  # w is not asked for: fine
    np.testing.assert_allclose(gx, np.full_like(X, X.sum()), **F64)
    w.requires_grad_()
    with pytest.raises(eg.NotElementwiseError, match="not elementwise in 'w'"):
        torch.autograd.grad(f(x, w).sum(), (w,))

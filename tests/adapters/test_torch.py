"""fn.to_torch(): the fused kernel as a PyTorch custom op (adapters/torch_op.py).

References: the same function written in torch, its values and torch.autograd's own
gradients, at 1e-12 in float64 and 1e-5 in float32. CI installs PyTorch's CPU build beside the
test extra (.ci/run), so these run there; skipped where PyTorch is not installed (it is not in
the test extra, where pip would take its CUDA build, several GB).
"""
from pathlib import Path

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
        result = call(self, *args, **kwargs)
        seen["in"], seen["out"] = [a.ctypes.data for a in args], kwargs.get("out", result).ctypes.data
        return result

    monkeypatch.setattr(type(gauss.function), "__call__", spy)
    x, mu, s = torch.tensor(X), torch.tensor(0.3, dtype=torch.float64), torch.tensor(1.7, dtype=torch.float64)
    for args in ((x, mu, s), (x.requires_grad_(), mu, s)):  # called directly; through the op
        out = gauss(*args)
        assert seen["in"] == [x.data_ptr(), mu.data_ptr(), s.data_ptr()] and seen["out"] == out.data_ptr()
        np.testing.assert_allclose(out.detach(), gaussian(x, mu, s).detach(), **F64)


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


@pytest.fixture
def emulated_gpu(monkeypatch):
    """CuPy replaced by the CUDA emulator (tests/cuda_emulator.py): kernels compiled for a GPU run
    on the CPU, launches record their stream; CPU tensors stand in for PyTorch's CUDA tensors."""
    from cuda_emulator import emulated_cupy
    from elemgrad_gpu.adapters import torch_op
    from elemgrad_gpu.backends.cuda import backend as backend_cuda

    emulated = emulated_cupy()
    monkeypatch.setattr(backend_cuda, "cupy", lambda: emulated)
    monkeypatch.setattr(torch_op, "_gpu", lambda device: torch.device("cpu"))
    monkeypatch.setattr(torch_op, "_stream", lambda device: 0x5EED)  # PyTorch's current stream, as a pointer
    backend_cuda.status.cache_clear()
    yield emulated
    backend_cuda.status.cache_clear()


def test_a_gpu_function_runs_on_pytorchs_current_stream_through_dlpack(emulated_gpu):
    """The op of a function compiled for a GPU: its tensors' memory through DLPack (the outputs
    written in place: the values show in the op's own output tensors), scalar parameters as
    one-value CPU tensors, the kernel launched on PyTorch's current stream; its gradients' op too."""
    op = eg.compile("-(x - mu)**2 / (2*s**2) - log(s)", orders=0, device="cuda").to_torch()
    assert op.device == torch.device("cuda:0")
    x, mu, s = (t.detach() for t in leaves())
    (y,) = op._compute_cuda([x, mu, s])
    np.testing.assert_allclose(y, gaussian(x, mu, s), **F64)
    assert emulated_gpu.cuda.launched_on == [0x5EED]
    slopes = op.derived((0, 1, 2))._compute_cuda([x, mu, s])
    ours, theirs = leaves(), leaves()
    want = torch.autograd.grad(gaussian(*theirs).sum(), theirs)
    for slope, total in zip(slopes, want):  # d/dx elementwise; d/dmu, d/ds summed over x
        np.testing.assert_allclose(slope.sum() if total.ndim == 0 else slope, total, **F64)
    assert emulated_gpu.cuda.launched_on == [0x5EED] * 2


def test_a_gpu_function_refuses_tensors_it_cannot_read(emulated_gpu):
    op = eg.compile("tanh(x)", orders=0, device="cuda").to_torch()
    with pytest.raises(DeviceError, match=r"is on cpu; this function runs on cuda:0: \.to\('cuda:0'\)"):
        op(torch.ones(3))
    with pytest.raises(InputTypeError, match="complex"):
        op(torch.ones(3, dtype=torch.complex64))


@pytest.mark.gpu
def test_on_a_gpu_values_gradients_compile_and_opcheck_on_a_side_stream():
    """On a real GPU (PyTorch's CUDA build): the op on CUDA tensors, launched on a stream that is
    not the default one, against PyTorch's own values and gradients; opcheck; torch.compile."""
    if not torch.cuda.is_available():
        pytest.skip("this PyTorch has no CUDA device")
    op = eg.compile("-(x - mu)**2 / (2*s**2) - log(s)", orders=0, device="cuda").to_torch()
    side = torch.cuda.Stream()
    with torch.cuda.stream(side):
        ours = [t.detach().cuda().requires_grad_() for t in leaves()]
        theirs = [t.detach().cuda().requires_grad_() for t in leaves()]
        y, ref = op(*ours), gaussian(*theirs)
        g = torch.autograd.grad(y.sum(), ours, create_graph=True)
        gr = torch.autograd.grad(ref.sum(), theirs, create_graph=True)
        h = torch.autograd.grad(g[2], ours[2])  # second order, through the op of the next order
        hr = torch.autograd.grad(gr[2], theirs[2])
    side.synchronize()
    for a, b in zip((y, *g, *h), (ref, *gr, *hr)):
        np.testing.assert_allclose(a.detach().cpu(), b.detach().cpu(), **F64)
    torch.library.opcheck(op.op, ([t.detach() for t in ours],))
    compiled = torch.compile(lambda x, mu, s: op(torch.sin(x), mu, s).mean(), fullgraph=True)
    np.testing.assert_allclose(compiled(*ours).detach().cpu(), gaussian(torch.sin(theirs[0]), *theirs[1:]).mean()
                               .detach().cpu(), **F64)
    cpu_op = eg.compile("tanh(x)", orders=0, device="cpu").to_torch()
    with pytest.raises(DeviceError, match=r"\.cpu\(\)"):
        cpu_op(ours[0])


def test_only_the_inputs_asked_for_are_differentiated_and_proved():
    import pytensor.tensor as pt

    f = eg.compile(lambda x, w: x * pt.sum(w), orders=0, device="cpu").to_torch()
    x, w = torch.tensor(X, requires_grad=True), torch.tensor(X[::-1].copy())
    (gx,) = torch.autograd.grad(f(x, w).sum(), (x,))  # w is not asked for: fine
    np.testing.assert_allclose(gx, np.full_like(X, X.sum()), **F64)
    w.requires_grad_()
    with pytest.raises(eg.NotElementwiseError, match="not elementwise in 'w'"):
        torch.autograd.grad(f(x, w).sum(), (w,))


CACHED_PROGRAM = """
import sys
from pathlib import Path

import numpy as np
import torch
import elemgrad_gpu as eg

tanh2 = eg.compile("tanh(x)**2", orders=0, device="cpu").to_torch()
if sys.argv[1] == "second":  # another op defined first: it must not take a name the first process gave
    other = eg.compile("sin(x)", orders=0, device="cpu").to_torch()
    other(torch.ones(2))
x = torch.linspace(-2, 2, 9, dtype=torch.float64, requires_grad=True)
(g,) = torch.autograd.grad(torch.compile(tanh2, fullgraph=True)(x).sum(), (x,))
t = np.tanh(x.detach().numpy())
np.testing.assert_allclose(g.numpy(), 2 * t * (1 - t**2), rtol=1e-12, atol=1e-12)
"""


def test_torch_compiles_cache_shared_by_two_processes_runs_each_functions_own_ops(tmp_path):
    """torch.compile keeps compiled forward and backward graphs on disk, keyed by the ops' names,
    and a graph loaded from there is not traced again: an op's name must stand for the same
    function in every process, and the op of the next order must exist before the loaded
    backward runs. The second process defines another op first, then loads the first one's graph."""
    import os
    import subprocess
    import sys

    script = tmp_path / "program.py"
    script.write_text(CACHED_PROGRAM)
    env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": str(tmp_path / "cache"),
           "PYTHONPATH": os.pathsep.join([str(Path(eg.__file__).parents[1]), os.environ.get("PYTHONPATH", "")])}
    for which in ("first", "second"):
        result = subprocess.run([sys.executable, str(script), which], env=env, capture_output=True, text=True,
                                timeout=600)
        assert result.returncode == 0, f"{which} process:\n{result.stderr[-3000:]}"


@pytest.mark.skipif(not Path("/proc/self/smaps").exists(), reason="the page flags are read from Linux's /proc")
def test_large_outputs_are_marked_for_huge_pages_before_their_first_touch():
    """PyTorch's fresh outputs would be faulted in 4 KiB pages: the op advises huge pages
    (2 MiB, 'hg' in the mapping's flags, /proc/self/smaps) on a large output's aligned inside."""
    from page_flags import vm_flags

    f = eg.compile("tanh(x)**2", orders=0, device="cpu").to_torch()
    y = f(torch.zeros(1 << 21, dtype=torch.float64))  # 16 MiB
    assert "hg" in vm_flags(y.data_ptr() + (4 << 20))
    assert float(y.abs().max()) == 0.0


def test_an_op_is_named_by_what_defines_its_function():
    """The same function compiled twice is one op (a name is defined once per process); functions
    that differ only in what Python computes per call (a reduction of another input) are two."""
    import pytensor.tensor as pt

    first = eg.compile("tanh(x)**2", orders=0, device="cpu").to_torch()
    assert eg.compile("tanh(x)**2", orders=0, device="cpu").to_torch() is first
    assert eg.compile("tanh(x)**2", orders=(0, 1), device="cpu").to_torch().name != first.name
    total = eg.compile(lambda x, w: x * pt.sum(w), orders=0, device="cpu").to_torch()
    largest = eg.compile(lambda x, w: x * pt.max(w), orders=0, device="cpu").to_torch()
    x, w = torch.tensor(X[:5]), torch.tensor(X[5:10])
    np.testing.assert_allclose(total(x, w), X[:5] * X[5:10].sum(), **F64)
    np.testing.assert_allclose(largest(x, w), X[:5] * X[5:10].max(), **F64)


def test_a_training_step_with_the_op_follows_torchs_own():
    """A small model trained by torch.optim: a layer's output through softplus(.)**2 (the op, with
    its parameters' gradients flowing back through it) and a Gaussian likelihood (the op again, its
    mu and log-scale learned); five Adam steps against the same model written in torch, gradients
    and parameters compared at every step (1e-12, float64)."""
    softplus2 = eg.compile("softplus(x)**2", orders=0, device="cpu").to_torch()
    gauss = eg.compile("-(x - mu)**2 / (2*s**2) - log(s)", orders=0, device="cpu").to_torch()
    rng = np.random.default_rng(19)
    data = torch.tensor(rng.normal(size=(64, 3)))
    target = torch.tensor(rng.normal(1.0, 0.5, size=64))

    def model(layer, mu, log_s, ours: bool):
        h = data @ layer
        features = softplus2(h) if ours else torch.nn.functional.softplus(h) ** 2
        s = torch.exp(log_s)
        logp = gauss(target - features, mu, s) if ours else gaussian(target - features, mu, s)
        return -logp.mean()

    def parameters():
        torch.manual_seed(0)
        return [torch.randn(3, dtype=torch.float64, requires_grad=True),
                torch.tensor(0.1, dtype=torch.float64, requires_grad=True),
                torch.tensor(-0.2, dtype=torch.float64, requires_grad=True)]

    ours, theirs = parameters(), parameters()
    optimizers = torch.optim.Adam(ours, lr=0.05), torch.optim.Adam(theirs, lr=0.05)
    for _ in range(5):
        for optimizer, params, flag in zip(optimizers, (ours, theirs), (True, False)):
            optimizer.zero_grad()
            model(*params, ours=flag).backward()
        for a, b in zip(ours, theirs):
            np.testing.assert_allclose(a.grad, b.grad, **F64)
        for optimizer in optimizers:
            optimizer.step()
        for a, b in zip(ours, theirs):
            np.testing.assert_allclose(a.detach(), b.detach(), **F64)
    assert abs(ours[1].item() - 0.1) > 1e-3  # the parameters moved
def test_plain_eager_calls_run_the_kernel_without_the_op_and_gradients_still_flow(gauss, monkeypatch):
    """Where no input needs a gradient (or grad mode is off) in plain eager PyTorch, a call runs
    the kernel directly, without the op: the same values as torch's own, new resizable tensors,
    in float64 and float32; inputs that need gradients, or a dispatch mode, go through the op,
    and the gradients are torch.autograd's own."""
    from torch.utils._python_dispatch import TorchDispatchMode

    through_op = []
    op = gauss.op
    monkeypatch.setattr(gauss, "op", lambda inputs: through_op.append(1) or op(inputs))
    plain = [t.detach() for t in leaves()]
    for dtype, tol in ((torch.float64, F64), (torch.float32, dict(rtol=1e-5, atol=1e-5))):
        args = [t.to(dtype) for t in plain]
        y = gauss(*args)
        assert y.dtype == dtype and not y.requires_grad
        np.testing.assert_allclose(y, gaussian(*args), **tol)
    with torch.no_grad():
        y = gauss(*leaves())
    with torch.inference_mode():
        z = gauss(*plain)
    assert not through_op and not y.requires_grad and z.is_inference()
    np.testing.assert_allclose(y, gaussian(*plain), **F64)
    np.testing.assert_allclose(z, gaussian(*plain), **F64)
    assert y.data_ptr() not in [t.data_ptr() for t in plain]  # a new tensor

    ours, theirs = leaves(), leaves()
    (gmu,) = torch.autograd.grad(gauss(plain[0], ours[1], plain[2]).sum(), (ours[1],))
    (want,) = torch.autograd.grad(gaussian(plain[0], theirs[1], plain[2]).sum(), (theirs[1],))
    np.testing.assert_allclose(gmu, want, **F64)
    assert len(through_op) == 1

    class Seen(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            through_op.append(str(func))
            return func(*args, **(kwargs or {}))

    with Seen():
        np.testing.assert_allclose(gauss(*plain), gaussian(*plain), **F64)
    assert any(gauss.name.split("::")[1] in name for name in through_op if isinstance(name, str))
    gauss(plain[0].float(), plain[1], plain[2])  # mixed dtypes: the op converts
    assert through_op[-1] == 1
    with torch.profiler.profile() as profiled:  # a profiler sees the op
        gauss(*plain)
    assert any(gauss.name.split("::")[1] in event.name for event in profiled.events())
    compiled = torch.compile(lambda *args: gauss(*args) * 2, fullgraph=True)  # traced: the op, no graph break
    np.testing.assert_allclose(compiled(*plain), 2 * gaussian(*plain), **F64)


def test_python_numbers_take_the_tensors_dtype_unrounded(gauss):
    """gauss(x, 0.3, 1.7) with a float64 x: 0.3 and 1.7 as float64, as torch's own x - 0.3 reads
    them (they were rounded through float32, PyTorch's default dtype, first); a float32 x stays float32."""
    x = torch.tensor(X)
    np.testing.assert_allclose(gauss(x, 0.3, 1.7), gaussian(x, 0.3, torch.tensor(1.7, dtype=torch.float64)), **F64)
    y = gauss(x.float(), 0.3, 2)
    assert y.dtype == torch.float32
    np.testing.assert_allclose(y, gaussian(x.float(), 0.3, torch.tensor(2.0)), rtol=1e-5, atol=1e-5)


def test_a_direct_call_of_values_and_slopes_broadcasting_a_column_against_a_row():
    """Orders (0, 1) of tanh(x - y)^2 (the value and d/dx), x a column and y a row needing no
    gradient: the direct path's outputs (fn's own arrays as tensors) against torch's own."""
    f = eg.compile("tanh(x - y)**2", orders=(0, 1), device="cpu").to_torch()
    x, y = torch.tensor(X[:4]).reshape(4, 1), torch.tensor(X[4:7])
    outputs = f(x, y)
    assert len(outputs) == f.n_outputs == 2 and all(t.shape == (4, 3) for t in outputs)
    xs, ys = x.clone().requires_grad_(), y.clone().requires_grad_()
    value = torch.tanh(xs - ys) ** 2
    dx = torch.autograd.grad(value.sum(), xs, retain_graph=True)[0]  # each row's sum of d/dx
    np.testing.assert_allclose(outputs[0], value.detach(), **F64)
    np.testing.assert_allclose(outputs[1].sum(1, keepdim=True), dx, **F64)

"""fn.as_op(): the fused kernel as a PyTensor Op (adapters/pytensor_op.py), in every PyTensor mode.

References: the same function written as a plain PyTensor graph, its values and PyTensor's own
gradients (pytensor.grad), compiled by PyTensor itself.
"""
import pickle
import warnings

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from pytensor.compile.mode import Mode

import elemgrad_gpu as eg
from elemgrad_gpu.errors import InputError, InputTypeError
from pytensor.gradient import NullTypeGradError

MODES = {"numba": Mode(linker="numba"), "cvm": Mode(linker="cvm"), "py": Mode(linker="py")}
RNG = np.random.default_rng(7)
X = RNG.normal(size=50)


def student_t(x, mu, s):
    """A heavy-tailed log-density (Student-t, 4 degrees of freedom, without its constant)."""
    return -2.5 * pt.log1p(((x - mu) / s) ** 2 / 4) - pt.log(s)


def compiled(outputs, inputs, mode):
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # Numba's object-mode fallback warns: never here
        return pytensor.function(inputs, outputs, mode=MODES[mode])


@pytest.mark.parametrize("mode", MODES)
def test_value_gradient_and_hessian_match_pytensors_own(mode):
    x, mu, s = pt.dvector("x"), pt.dscalar("mu"), pt.dscalar("s")
    op = eg.compile(student_t, orders=0, device="cpu").as_op()
    ours = op(x, mu, s).sum()
    plain = student_t(x, mu, s).sum()
    outputs = lambda y: [y, *pytensor.grad(y, [x, mu, s]), pytensor.grad(pytensor.grad(y, mu), s),
                         pytensor.grad(pytensor.grad(y, s), s)]
    got = compiled(outputs(ours), [x, mu, s], mode)(X, 0.3, 1.4)
    want = pytensor.function([x, mu, s], outputs(plain))(X, 0.3, 1.4)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("mode", ["numba", "cvm"])
def test_broadcasting_rows_and_columns_and_float32(mode):
    a, b = pt.fmatrix("a"), pt.frow("b")
    op = eg.compile(lambda a, b: pt.exp(a * b), orders=0, device="cpu").as_op()
    y = op(a, b)
    assert y.type.dtype == "float32"
    A, B = RNG.normal(size=(3, 4)).astype(np.float32), RNG.normal(size=(1, 4)).astype(np.float32)
    value, ga, gb = compiled([y, *pytensor.grad(y.sum(), [a, b])], [a, b], mode)(A, B)
    assert value.dtype == ga.dtype == gb.dtype == np.float32 and gb.shape == (1, 4)
    np.testing.assert_allclose(value, np.exp(A * B), rtol=1e-6)
    np.testing.assert_allclose(ga, B * np.exp(A * B), rtol=1e-5)
    np.testing.assert_allclose(gb, (A * np.exp(A * B)).sum(axis=0, keepdims=True), rtol=1e-5)


def test_a_list_of_graph_outputs_gives_one_op_with_several_outputs():
    x = pt.dvector("x")
    op = eg.compile([pt.sin(x), pt.cos(x)], orders=(0, 1), device="cpu").as_op()
    sin, dsin, cos, dcos = op(x)
    total = (sin * cos + dsin).sum()
    got = compiled([total, pytensor.grad(total, x)], [x], "numba")(X)
    assert np.isclose(got[0], (np.sin(X) * np.cos(X) + np.cos(X)).sum(), rtol=1e-14)
    np.testing.assert_allclose(got[1], np.cos(2 * X) - np.sin(X), rtol=1e-12, atol=1e-14)


def test_integer_inputs_are_cast_and_get_no_gradient():
    x, k = pt.dvector("x"), pt.lscalar("k")
    op = eg.compile(lambda x, k: x * k, orders=0, device="cpu").as_op()
    y = op(x, k).sum()
    gx, gk = compiled(pytensor.grad(y, [x, k]), [x, k], "numba")(X, 3)
    np.testing.assert_array_equal(gx, np.full_like(X, 3.0))
    assert gk == 0


def test_a_gradient_by_an_input_that_is_not_elementwise_is_refused_at_grad_time():
    x, w = pt.dvector("x"), pt.dvector("w")
    op = eg.compile(lambda x, w: x * pt.sum(w), orders=0, device="cpu").as_op()
    y = op(x, w).sum()
    pytensor.grad(y, x)  # elementwise in x: fine
    with pytest.raises(NullTypeGradError, match="not elementwise in 'w'"):
        pytensor.grad(y, w)


def test_errors_before_any_work():
    x = pt.dvector("x")
    op = eg.compile(x * 2, orders=0, device="cpu").as_op()
    with pytest.raises(InputError, match="takes 1 inputs"):
        op(x, x)
    with pytest.raises(InputError, match="1-d variable"):
        op(pt.dmatrix("m"))
    with pytest.raises(InputTypeError, match="complex"):
        op(pt.zvector("z"))


def test_broadcasting_a_dimension_not_declared_broadcastable_is_refused_as_pytensor_does():
    c, d = pt.dvector("c"), pt.dvector("d")
    op = eg.compile(lambda a, b: a * b, orders=0, device="cpu").as_op()
    f = pytensor.function([c, d], op(c, d), mode=MODES["cvm"])
    np.testing.assert_array_equal(f(np.ones(3), np.full(3, 2.0)), np.full(3, 2.0))
    with pytest.raises(InputError, match="does not say it broadcasts"):
        f(np.ones(3), np.ones(1))


def test_a_compiled_graph_with_the_op_pickles():
    x = pt.dvector("x")
    op = eg.compile("tanh(x)**2", orders=0, device="cpu").as_op()
    f = pytensor.function([x], pytensor.grad(op(x).sum(), x), mode=MODES["numba"])
    g = pickle.loads(pickle.dumps(f))
    np.testing.assert_allclose(g(X), 2 * np.tanh(X) / np.cosh(X) ** 2, rtol=1e-13)


@pytest.fixture(params=["emulated", pytest.param("cupy", marks=pytest.mark.gpu)])
def emulated_gpu(request, monkeypatch):
    """device="cuda": on the GPU through CuPy (marked gpu: benchmarks/gpu_check.sh), or on the CPU
    emulation of CuPy (tests/cuda_emulator.py) in CuPy's place."""
    from cuda_emulator import emulated_cupy
    from elemgrad_gpu.backends.cuda import backend as backend_cuda

    if request.param == "cupy":
        yield pytest.importorskip("cupy")
        return
    emulated = emulated_cupy()
    monkeypatch.setattr(backend_cuda, "cupy", lambda: emulated)
    backend_cuda.status.cache_clear()
    yield emulated
    backend_cuda.status.cache_clear()


@pytest.mark.parametrize("mode", ["numba", "cvm"])
def test_on_a_gpu_device_the_op_takes_and_gives_host_arrays(emulated_gpu, mode):
    x, mu = pt.dvector("x"), pt.dscalar("mu")
    fn = eg.compile(lambda x, mu: pt.tanh(x - mu) ** 2, orders=0, device="cuda")
    assert fn.device.startswith("cuda")
    y = fn.as_op()(x, mu)
    value, gx, gmu = compiled([y, *pytensor.grad(y.sum(), [x, mu])], [x, mu], mode)(X, 0.25)
    assert type(value) is np.ndarray and type(gx) is np.ndarray
    t = np.tanh(X - 0.25)
    np.testing.assert_allclose(value, t ** 2, rtol=1e-12)
    np.testing.assert_allclose(gx, 2 * t * (1 - t ** 2), rtol=1e-12, atol=1e-14)
    assert gmu == pytest.approx(-(2 * t * (1 - t ** 2)).sum(), rel=1e-12)


def test_floating_point_errors_give_inf_and_nan_silently_as_pytensors_own_ops():
    x = pt.dvector("x")
    op = eg.compile("log(x)", orders=0, device="cpu").as_op()
    f = pytensor.function([x], [op(x), pt.log(x)], mode=MODES["cvm"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ours, theirs = f(np.array([0.0, -1.0, 1.0]))
    np.testing.assert_array_equal(ours, theirs)  # -inf, nan, 0

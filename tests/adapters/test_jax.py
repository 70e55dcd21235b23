"""fn.to_jax(): the fused kernel as a JAX function through XLA's FFI (adapters/jax_primitive.py).

References: the same function written in jax.numpy, its values and JAX's own derivatives
(jax.grad, jax.hessian, jax.jvp, jax.vmap), at 1e-12 in float64 and 1e-5 in float32.
"""
import os
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import elemgrad_gpu as eg
from elemgrad_gpu.adapters import jax_primitive
from elemgrad_gpu.errors import DeviceError, InputError, InputTypeError

jax.config.update("jax_enable_x64", True)
X = np.random.default_rng(3).normal(size=40)
F64, F32 = dict(rtol=1e-12, atol=1e-12), dict(rtol=1e-5, atol=1e-5)


def gaussian(x, mu, s):
    """The Gaussian log-density, without its constant, in jax.numpy."""
    return -((x - mu) ** 2) / (2 * s**2) - jnp.log(s)


@pytest.fixture(scope="module")
def tanh2():
    return eg.compile("tanh(x)**2", orders=0, device="cpu").to_jax()


@pytest.fixture(scope="module")
def gauss():
    return eg.compile("-(x - mu)**2 / (2*s**2) - log(s)", orders=0, device="cpu").to_jax()


def test_values_gradient_and_hessian_match_jaxs_own(tanh2):
    x = jnp.asarray(X)
    ours, theirs = (lambda x: tanh2(x).sum()), (lambda x: (jnp.tanh(x) ** 2).sum())
    np.testing.assert_allclose(tanh2(x), jnp.tanh(x) ** 2, **F64)
    np.testing.assert_allclose(jax.grad(ours)(x), jax.grad(theirs)(x), **F64)
    np.testing.assert_allclose(jax.hessian(ours)(x[:8]), jax.hessian(theirs)(x[:8]), **F64)
    third = lambda f: jax.grad(lambda x: jax.grad(jax.grad(f))(x))  # noqa: E731 - order 3, elementwise
    np.testing.assert_allclose(jax.vmap(third(tanh2))(x), jax.vmap(third(lambda x: jnp.tanh(x) ** 2))(x), **F64)


def test_jvp_vmap_and_jacobians(tanh2):
    x, t = jnp.asarray(X), jnp.asarray(X[::-1].copy())
    theirs = lambda x: jnp.tanh(x) ** 2  # noqa: E731
    for got, want in zip(jax.jvp(tanh2, (x,), (t,)), jax.jvp(theirs, (x,), (t,))):
        np.testing.assert_allclose(got, want, **F64)
    np.testing.assert_allclose(jax.vmap(jax.grad(tanh2))(x), jax.vmap(jax.grad(theirs))(x), **F64)
    m = x.reshape(5, 8)
    np.testing.assert_allclose(jax.vmap(tanh2)(m), theirs(m), **F64)
    np.testing.assert_allclose(jax.jacfwd(tanh2)(x[:6]), jax.jacfwd(theirs)(x[:6]), **F64)
    np.testing.assert_allclose(jax.jacrev(tanh2)(x[:6]), jax.jacrev(theirs)(x[:6]), **F64)


def test_scalar_parameters_broadcast_and_get_summed_gradients(gauss):
    x = jnp.asarray(X)
    ours = lambda x, mu, s: gauss(x, mu, s).sum()  # noqa: E731
    theirs = lambda x, mu, s: gaussian(x, mu, s).sum()  # noqa: E731
    args = (x, 0.3, 1.7)
    np.testing.assert_allclose(gauss(*args), gaussian(*args), **F64)
    for got, want in zip(jax.grad(ours, argnums=(0, 1, 2))(*args), jax.grad(theirs, argnums=(0, 1, 2))(*args)):
        np.testing.assert_allclose(got, want, **F64)
    got, want = jax.hessian(ours, argnums=(1, 2))(*args), jax.hessian(theirs, argnums=(1, 2))(*args)
    np.testing.assert_allclose(np.array(got), np.array(want), **F64)
    column = x[:6].reshape(6, 1)  # a (6, 1) by (3,) broadcast
    mus = jnp.array([0.0, 0.5, -1.0])
    np.testing.assert_allclose(jax.grad(ours, argnums=1)(column, mus, 1.7), jax.grad(theirs, argnums=1)(column, mus, 1.7),
                               **F64)


def test_float32_stays_float32(gauss):
    x = jnp.asarray(X, dtype=jnp.float32)
    mu, s = jnp.float32(0.3), jnp.float32(1.7)
    y = gauss(x, mu, s)
    assert y.dtype == jnp.float32
    np.testing.assert_allclose(y, gaussian(x, mu, s), **F32)
    grads = jax.grad(lambda *a: gauss(*a).sum(), argnums=(0, 2))(x, mu, s)
    want = jax.grad(lambda *a: gaussian(*a).sum(), argnums=(0, 2))(x, mu, s)
    assert grads[0].dtype == jnp.float32
    for got, ref in zip(grads, want):
        np.testing.assert_allclose(got, ref, **F32)


def test_integer_inputs_compute_in_jaxs_default_float(tanh2):
    y = tanh2(jnp.arange(3))
    assert y.dtype == jnp.float64
    np.testing.assert_allclose(y, jnp.tanh(jnp.arange(3.0)) ** 2, **F64)


def test_several_outputs_each_differentiable():
    both = eg.compile("sin(x)*y", orders=(0, 1), wrt=("x", "y"), device="cpu").to_jax()
    x, y = jnp.asarray(X), 2.5
    value, dx, dy = both(x, y)
    np.testing.assert_allclose(value, jnp.sin(x) * y, **F64)
    np.testing.assert_allclose(dx, jnp.cos(x) * y, **F64)
    np.testing.assert_allclose(dy, jnp.sin(x), **F64)
    np.testing.assert_allclose(jax.grad(lambda x: both(x, y)[1].sum())(x), -jnp.sin(x) * y, **F64)
    np.testing.assert_allclose(jax.grad(lambda y: both(x, y)[2].sum())(y), 0.0, **F64)


def test_jit_of_a_larger_program_compiles_once_with_no_host_callback(gauss):
    @jax.jit
    def loss(x, mu, s):
        return jnp.mean(gauss(jnp.sin(x), mu, s) ** 2)

    x = jnp.asarray(X)
    value, grads = jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2)))(x, 0.3, 1.7)
    reference = jax.value_and_grad(lambda x, mu, s: jnp.mean(gaussian(jnp.sin(x), mu, s) ** 2), argnums=(0, 1, 2))
    want_value, want_grads = reference(x, 0.3, 1.7)
    np.testing.assert_allclose(value, want_value, **F64)
    for got, want in zip(grads, want_grads):
        np.testing.assert_allclose(got, want, **F64)
    loss(x, 0.3, 1.7), loss(x + 1, 0.4, 1.2)
    assert loss._cache_size() == 1
    text = jax.jit(jax.grad(loss)).lower(x, 0.3, 1.7).as_text()
    assert "custom_call @elemgrad_elementwise" in text
    assert "callback" not in text.lower()
    # the kernel is named by its key, never by an address
    assert re.search(r'kernel = "eg_[0-9a-f]{32}"', text) and not re.search(r"0x[0-9a-f]{6,}", text)


def test_a_key_not_loaded_in_this_process_is_a_clear_error(tanh2):
    tanh2(jnp.ones(2))  # loads the handler library
    call = jax.ffi.ffi_call(jax_primitive.TARGET, jax.ShapeDtypeStruct((3,), jnp.float64))
    with pytest.raises(Exception, match="not loaded in this process"):
        call(jnp.ones(3), kernel="eg_nosuchkernel", n_inputs=np.int64(1), n_outputs=np.int64(1)).block_until_ready()


def test_errors_before_any_work(tanh2, gauss):
    with pytest.raises(InputError, match="takes 1 inputs"):
        tanh2(jnp.ones(2), jnp.ones(2))
    with pytest.raises(InputError, match="do not broadcast"):
        gauss(jnp.ones(2), jnp.ones(3), 1.0)
    with pytest.raises(InputTypeError, match="complex"):
        tanh2(jnp.ones(2, dtype=jnp.complex128))
    with pytest.raises(InputTypeError, match="must be an array"):
        tanh2("abc")


def test_float64_with_jaxs_64_bit_types_off_names_the_fix():
    fn = eg.compile("tanh(x)", orders=0, device="cpu", dtype="float64").to_jax()
    jax.config.update("jax_enable_x64", False)
    try:
        with pytest.raises(InputTypeError, match="jax_enable_x64"):
            fn(jnp.ones(2))
    finally:
        jax.config.update("jax_enable_x64", True)


def test_a_function_that_needs_python_at_each_call_is_refused_naming_the_fix():
    import pytensor.tensor as pt

    f = eg.compile(lambda x, w: x * pt.sum(w), orders=0, device="cpu").to_jax()
    with pytest.raises(InputError, match="extra inputs in Python.*as_op"):
        f(jnp.ones(3), jnp.ones(3))


@pytest.fixture
def emulated_gpu(monkeypatch):
    """CuPy replaced by the CUDA emulator (tests/cuda_emulator.py): functions compile for a GPU here."""
    from cuda_emulator import emulated_cupy
    from elemgrad_gpu.backends.cuda import backend as backend_cuda

    monkeypatch.setattr(backend_cuda, "cupy", lambda: emulated_cupy())
    backend_cuda.status.cache_clear()
    before = set(jax_primitive._registered)
    yield
    backend_cuda.status.cache_clear()
    jax_primitive._registered.intersection_update(before)  # the emulator's handles: registered again on a GPU


def test_a_gpu_function_lowers_to_the_cuda_handler_with_its_kernels_registered(emulated_gpu):
    """A function compiled for a GPU: a program lowered for CUDA calls the target's CUDA handler
    (no GPU needed to lower it), naming its kernels by key and GPU; the key's three kernel handles
    are in the handler library's CUDA table. A CPU array is refused; a program run on the CPU
    finds no CPU kernel under that key, and says so."""
    fn = eg.compile("tanh(x)**2", orders=0, device="cuda")
    f = fn.to_jax()
    x = jnp.asarray(X)
    text = jax.jit(jax.value_and_grad(lambda x: f(x).sum())).trace(x).lower(lowering_platforms=("cuda",)).as_text()
    keys = re.findall(r'kernel = "(eg_[0-9a-f]{32}_cuda0)"', text)
    assert "custom_call @elemgrad_elementwise" in text and len(keys) == 1  # value and slope: one kernel
    derived = fn.differentiated(["x"], keep=True)
    key, handles, threads, cap = derived.cuda_kernel("float64", 1)
    assert key == keys[0] and set(handles) == set(jax_primitive.CUDA_KERNELS) and threads > 0
    assert key in jax_primitive._registered
    with pytest.raises(DeviceError, match=r"on cpu; this function runs on the GPU.*device='cpu'"):
        f(x)
    with pytest.raises(Exception, match="not loaded in this process"):
        jax.jit(lambda x: f(x))(x).block_until_ready()  # a tracer: lowered for this CPU


def test_the_cuda_handler_compiles_without_cuda_and_loads_the_driver_only_when_launching():
    """The handler library has the CUDA handler beside the CPU one, built here with no CUDA header
    or library (the driver's functions are looked up in libcuda.so.1 at the first launch)."""
    library = jax_primitive._handler()
    assert hasattr(library, "EgElementwiseCuda") and hasattr(library, "eg_jax_register_cuda")
    source = jax_primitive.SOURCE.read_text()
    assert "#include <cuda" not in source and 'dlopen("libcuda.so.1"' in source


@pytest.mark.gpu
def test_on_a_gpu_values_gradients_and_vmap_match_jaxs_own():
    """On a real GPU (a CUDA jaxlib): the kernel on XLA's stream against JAX's own, including
    vmap over scalar parameters (the strided kernel) and a second derivative."""
    if not any(d.platform == "gpu" for d in jax.devices()):
        pytest.skip("this jaxlib has no CUDA device")
    gauss = eg.compile("-(x - mu)**2 / (2*s**2) - log(s)", orders=0, device="cuda").to_jax()
    gpu = jax.devices("gpu")[0]
    x, mus = jax.device_put(jnp.asarray(X), gpu), jax.device_put(jnp.array([0.0, 0.5, -1.0]), gpu)
    ours = lambda x, mu, s: gauss(x, mu, s).sum()  # noqa: E731
    theirs = lambda x, mu, s: gaussian(x, mu, s).sum()  # noqa: E731
    for transform in (lambda f: jax.value_and_grad(f, argnums=(0, 1, 2)), lambda f: jax.hessian(f, argnums=2)):
        got, want = jax.jit(transform(ours))(x, 0.3, 1.7), jax.jit(transform(theirs))(x, 0.3, 1.7)
        for a, b in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)):
            np.testing.assert_allclose(a, b, **F64)
    got = jax.vmap(jax.value_and_grad(ours, argnums=(0, 1)), in_axes=(None, 0, None))(x, mus, 1.3)
    want = jax.vmap(jax.value_and_grad(theirs, argnums=(0, 1)), in_axes=(None, 0, None))(x, mus, 1.3)
    for a, b in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)):
        np.testing.assert_allclose(a, b, **F64)


def intact(path):
    descriptor = jax_primitive._verified(path)
    if descriptor is not None:
        os.close(descriptor)
    return descriptor is not None


def test_the_handler_library_is_loaded_from_the_verified_cache(tmp_path, monkeypatch):
    """A fresh cache builds the library once, with its MAC; a tampered one is rebuilt, never loaded."""
    from elemgrad_gpu import cache

    monkeypatch.setenv("THEANO_FLAGS", f"elemgrad__cache_dir={tmp_path}")
    cache.forget()
    path = jax_primitive._library_path()
    assert jax_primitive._verified(path) is None
    library = jax_primitive._load_or_build()
    assert hasattr(library, "EgElementwise") and intact(path)
    path.write_bytes(path.read_bytes() + b"\0")  # someone changed it: its MAC no longer matches
    assert not intact(path)
    jax_primitive._load_or_build()
    assert intact(path) and path.parent == tmp_path / "c"
    monkeypatch.delenv("THEANO_FLAGS")
    cache.forget()


def test_a_list_of_graph_outputs_keeps_each_outputs_tangent_apart():
    import pytensor.tensor as pt

    x, y = pt.dvector("x"), pt.dvector("y")
    f = eg.compile([pt.sin(x) * y, pt.cos(x) + y**2], orders=(0, 1), device="cpu").to_jax()
    xs, ys = jnp.asarray(X), jnp.asarray(X[::-1].copy())

    def total(x, y, outputs):
        s, ds, c, dc = outputs(x, y)
        return (s * c + 3 * ds - dc).sum()

    def theirs(x, y):
        return (jnp.sin(x) * y, jnp.cos(x) * y, jnp.cos(x) + y**2, -jnp.sin(x))

    for got, want in zip(jax.grad(total, argnums=(0, 1))(xs, ys, f), jax.grad(total, argnums=(0, 1))(xs, ys, theirs)):
        np.testing.assert_allclose(got, want, **F64)
    hess = jax.hessian(total, argnums=(0, 1))
    got, want = hess(xs[:5], ys[:5], f), hess(xs[:5], ys[:5], theirs)
    np.testing.assert_allclose(np.array(got), np.array(want), **F64)


def test_a_jax_array_on_a_gpu_is_refused(tanh2, monkeypatch):
    """No GPU here: the array's devices() answer as an array on a GPU's would."""
    x = jnp.ones(3)

    class Gpu:
        platform = "gpu"

    monkeypatch.setattr(type(x), "devices", lambda self: {Gpu()})
    with pytest.raises(DeviceError, match="jax.device_put"):
        tanh2(x)


def test_vmap_over_scalar_parameters_reads_each_once_per_row(gauss):
    """Under vmap a scalar parameter becomes (B, 1): the handler reads it with step 0 per row."""
    x, mus, ss = jnp.asarray(X[:12]).reshape(3, 4), jnp.array([0.0, 0.5, -1.0, 2.0]), jnp.array([1.0, 2.0, 0.5, 1.5])
    ours = lambda x, mu, s: gauss(x, mu, s).sum()  # noqa: E731
    theirs = lambda x, mu, s: gaussian(x, mu, s).sum()  # noqa: E731
    cases = [((None, 0, 0), (x, mus, ss)), ((None, 0, None), (x, mus, 1.3)), ((1, None, 0), (x, 0.2, ss))]
    for axes, args in cases:
        got = jax.vmap(jax.value_and_grad(ours, argnums=(0, 1, 2)), in_axes=axes)(*args)
        want = jax.vmap(jax.value_and_grad(theirs, argnums=(0, 1, 2)), in_axes=axes)(*args)
        for a, b in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)):
            np.testing.assert_allclose(a, b, **F64)
    nested = jax.vmap(jax.vmap(gauss, in_axes=(0, None, 0)), in_axes=(None, 0, None))(x, mus[:2], ss[:3])
    np.testing.assert_allclose(nested, jax.vmap(jax.vmap(gaussian, in_axes=(0, None, 0)), in_axes=(None, 0, None))(
        x, mus[:2], ss[:3]), **F64)


@pytest.mark.skipif(not os.path.exists("/proc/self/smaps"), reason="the page flags are read from Linux's /proc")
def test_large_outputs_are_marked_for_huge_pages_before_their_first_touch(tanh2):
    """XLA's fresh outputs would be faulted in 4 KiB pages: the handler advises huge pages (2 MiB,
    'hg' in the mapping's flags) on a large output's aligned inside, as NumPy does for its arrays."""
    from page_flags import vm_flags

    y = tanh2(jnp.zeros(1 << 21))  # 16 MiB
    address = y.unsafe_buffer_pointer() + (4 << 20)  # inside the 2 MiB-aligned part
    assert "hg" in vm_flags(address)
    np.testing.assert_allclose(y[:3], 0.0, atol=0)


def test_nested_grads_compute_each_distinct_derivative_once():
    """jax.grad nested four times: each level's tangent keeps the last level's outputs, which repeat
    (16 asked, 5 distinct: orders 0 to 4); the one kernel call computes the 5, and the fourth
    derivative matches JAX's own nesting on jnp.tanh and SymPy's closed form."""
    f = eg.compile("tanh(x)**2", orders=0, device="cpu").to_jax()
    g, own = f, lambda x: jnp.tanh(x) ** 2
    for _ in range(4):
        g, own = jax.grad(g), jax.grad(own)
    x = jnp.asarray(X)
    text = jax.jit(jax.vmap(g)).lower(x).compile().as_text()
    calls = [line for line in text.splitlines() if "custom-call(" in line]
    assert len(calls) == 1 and calls[0].split("custom-call(")[0].count("f64[40]") == 5
    t = np.tanh(X)
    np.testing.assert_allclose(jax.vmap(g)(x), -8 * (1 - t * t) * (15 * t ** 4 - 15 * t * t + 2), **F64)
    np.testing.assert_allclose(jax.vmap(g)(x), jax.vmap(own)(x), **F64)


def test_mixed_partials_in_either_order_are_one_output():
    """d/dx d/dy and d/dy d/dx of x*sin(y) come from one kernel output; hessian against JAX's own."""
    f = eg.compile("x * sin(y)", orders=0, device="cpu").to_jax()
    function = eg.compile("x * sin(y)", orders=0, device="cpu").differentiated(["x", "y"], keep=True)
    nested = function.differentiated(["x", "y"], keep=True)
    computed, pick = nested.distinct()
    assert nested.n_outputs == 9 and computed.n_outputs == 6
    assert nested.derivatives[5] == ("y", "x") and nested.derivatives[7] == ("x", "y") and pick[5] == pick[7]
    h = jax.hessian(lambda v: f(v[0], v[1]).sum())(jnp.array([0.7, 1.3]))
    want = jax.hessian(lambda v: v[0] * jnp.sin(v[1]))(jnp.array([0.7, 1.3]))
    np.testing.assert_allclose(h, want, **F64)


def test_a_jax_program_fitting_parameters_follows_jaxs_own():
    """A jitted program: gradient descent (lax.fori_loop, 20 steps) on the negative Gaussian
    log-likelihood of data through tanh(w * x)**2 features, the primitive used twice (features and
    likelihood); parameters and the final gradient against the same program in jax.numpy (1e-12)."""
    features = eg.compile("tanh(x)**2", orders=0, device="cpu").to_jax()
    gauss = eg.compile("-(x - mu)**2 / (2*s**2) - log(s)", orders=0, device="cpu").to_jax()
    x = jnp.asarray(X)
    y = jnp.asarray(np.random.default_rng(4).normal(0.5, 0.3, size=X.size))

    def loss(params, ours):
        w, mu, log_s = params
        h = features(w * x) if ours else jnp.tanh(w * x) ** 2
        r = y - h
        return -(gauss(r, mu, jnp.exp(log_s)) if ours else gaussian(r, mu, jnp.exp(log_s))).mean()

    def fit(ours):
        step = lambda i, p: tuple(a - 0.1 * g for a, g in zip(p, jax.grad(loss)(p, ours)))  # noqa: E731
        return jax.jit(lambda p: jax.lax.fori_loop(0, 20, step, p))

    start = (jnp.float64(0.8), jnp.float64(0.0), jnp.float64(0.1))
    got, want = fit(True)(start), fit(False)(start)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, **F64)
    for a, b in zip(jax.grad(loss)(got, True), jax.grad(loss)(want, False)):
        np.testing.assert_allclose(a, b, **F64)
    assert abs(float(got[0]) - 0.8) > 1e-3  # the parameters moved

"""Structured Jacobians: the diagonal of a tridiagonal stencil, beside one evaluation of f
and beside JAX's jit(vmap(jvp)) over the same two colours written by hand.

    pytest benchmarks/test_structured.py --benchmark-max-time=0.5

f(x) = sin(x[i+1] - 2 x[i] + x[i-1]) + x_i^3 with zero ends (one concatenation), float64,
n = 10^6 (group "tridiagonal"); and at the issue's size, n = 10^7 (groups "tridiagonal_1e7"
and "laplacian_1e7": the 2-D periodic 5-point Laplacian plus u^3 on a 3162 x 3162 grid),
beside f's value alone (PyTensor's compiled f, and our fused stencil kernel's value), the
colouring engine (one PyTensor function, 2 passes) and JAX's jit(vmap(jvp)) over the two
colours written by hand. Medians within a group compare directly. Each result is checked
against the closed form of the diagonal.
"""
import numpy as np
import pytest

N = 10**6


def stencil_pt(x):
    import pytensor.tensor as pt

    inner = pt.sin(x[2:] - 2 * x[1:-1] + x[:-2])
    zero = pt.zeros((1,), dtype=x.dtype)
    return pt.concatenate([zero, inner, zero]) + x ** 3


def closed_form(x):
    d = np.zeros_like(x)
    d[1:-1] = -2 * np.cos(x[2:] - 2 * x[1:-1] + x[:-2])
    return d + 3 * x ** 2


@pytest.fixture(scope="module")
def x():
    return np.random.default_rng(0).uniform(-1, 1, N)


@pytest.mark.benchmark(group="tridiagonal")
def test_elemgrad_diagonal(benchmark, x):
    import elemgrad_gpu as eg

    fn = eg.jacobian_diagonal(stencil_pt, device="cpu")
    fn(x)
    got = benchmark(fn, x)
    assert fn.passes == 1 and fn.engine == "fused stencil kernel"
    np.testing.assert_allclose(got, closed_form(x), rtol=1e-12, atol=1e-12)


@pytest.mark.benchmark(group="tridiagonal")
def test_value_of_f_pytensor(benchmark, x):
    import pytensor
    import pytensor.tensor as pt

    xv = pt.tensor("x", dtype="float64", shape=(N,))
    f = pytensor.function([xv], stencil_pt(xv))
    benchmark(f, x)


@pytest.mark.benchmark(group="tridiagonal")
def test_value_of_f_numpy(benchmark, x):
    def f(x):
        y = x ** 3
        y[1:-1] += np.sin(x[2:] - 2 * x[1:-1] + x[:-2])
        return y

    benchmark(f, x)


@pytest.mark.benchmark(group="tridiagonal")
def test_jax_vmap_jvp_two_colours(benchmark, x):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy

    def f(x):
        inner = jnp.sin(x[2:] - 2 * x[1:-1] + x[:-2])
        return jnp.concatenate([jnp.zeros(1), inner, jnp.zeros(1)]) + x ** 3

    got = benchmark_jax_colours(benchmark, f, x, np.arange(N) % 2)
    np.testing.assert_allclose(got, closed_form(x), rtol=1e-12, atol=1e-12)


def benchmark_jax_colours(benchmark, f, x: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """JAX's diagonal over hand-written colours (``colours``: each element's, 0 or 1): one jitted
    program, jit(vmap(jvp)) of f with each colour's seed, read at each element's own colour;
    compiled outside the timing. The diagonal it computed."""
    import jax

    jnp = jax.numpy
    seeds = jnp.asarray(np.stack([colours == c for c in range(2)]).astype(np.float64))

    @jax.jit
    def diagonal(x):
        tangents = jax.vmap(lambda s: jax.jvp(f, (x,), (s,))[1])(seeds)
        return jnp.sum(tangents * seeds, axis=0)

    xj = jax.device_put(x, jax.devices("cpu")[0])
    diagonal(xj).block_until_ready()
    return np.asarray(benchmark(lambda: diagonal(xj).block_until_ready()))


@pytest.mark.benchmark(group="detection")
def test_detection_and_colouring_10_7(benchmark):
    """Pattern proof and colouring of a 10^7-element 1-D stencil (no compile), each round fresh."""
    import elemgrad_gpu as eg
    from elemgrad_gpu.structured import colouring
    from elemgrad_gpu.structured.plan import prove, trace

    source = eg.jacobian_diagonal(stencil_pt).source
    shapes = {"x": (10**7,)}

    def detect():
        inputs, output = trace(source, "float64", shapes)
        return colouring.colour(prove(output, inputs[0], inputs, shapes), shapes["x"])

    colours = benchmark.pedantic(detect, rounds=3, iterations=1)
    assert colours.max() + 1 == 2


N7 = 10**7
SIDE = 3162  # 3162^2 = 9,998,244 elements


def laplacian_pt(u):
    import pytensor.tensor as pt

    up = pt.pad(u, 1, mode="wrap")
    return up[2:, 1:-1] + up[:-2, 1:-1] + up[1:-1, 2:] + up[1:-1, :-2] - 4 * u + u ** 3


def laplacian_jax(u):
    import jax.numpy as jnp

    return (jnp.roll(u, 1, 0) + jnp.roll(u, -1, 0) + jnp.roll(u, 1, 1) + jnp.roll(u, -1, 1) - 4 * u + u ** 3)


def stencil_jax(x):
    import jax.numpy as jnp

    inner = jnp.sin(x[2:] - 2 * x[1:-1] + x[:-2])
    return jnp.concatenate([jnp.zeros(1), inner, jnp.zeros(1)]) + x ** 3


CASES_1E7 = {  # group: (f, shape, JAX f, closed form of the diagonal, the two colours)
    "tridiagonal_1e7": (stencil_pt, (N7,), stencil_jax, closed_form, lambda s: np.arange(s[0]) % 2),
    "laplacian_1e7": (laplacian_pt, (SIDE, SIDE), laplacian_jax, lambda u: -4 + 3 * u ** 2,
                      lambda s: np.add.outer(np.arange(s[0]), np.arange(s[1])) % 2),
}


@pytest.fixture(scope="module", params=list(CASES_1E7))
def big(request):
    f, shape, f_jax, diagonal, colours = CASES_1E7[request.param]
    return request.param, f, np.random.default_rng(0).uniform(-1, 1, shape), f_jax, diagonal, colours


def test_1e7_elemgrad_diagonal(benchmark, big):
    import elemgrad_gpu as eg

    group, f, x, _, diagonal, _ = big
    benchmark.group = group
    fn = eg.jacobian_diagonal(f, device="cpu")
    fn(x)
    got = benchmark(fn, x)
    assert fn.passes == 1 and fn.engine == "fused stencil kernel"
    np.testing.assert_allclose(got, diagonal(x), rtol=1e-12, atol=1e-12)


def test_1e7_elemgrad_value(benchmark, big):
    """f's value alone through the same fused stencil kernel (orders=0)."""
    import elemgrad_gpu as eg

    group, f, x, *_ = big
    benchmark.group = group
    fn = eg.jacobian_diagonal(f, orders=0, device="cpu")
    fn(x)
    benchmark(fn, x)


def test_1e7_value_of_f_pytensor(benchmark, big):
    import pytensor
    import pytensor.tensor as pt

    group, f, x, *_ = big
    benchmark.group = group
    xv = pt.tensor("x", dtype="float64", shape=x.shape)
    function = pytensor.function([xv], f(xv))
    benchmark(function, x)


def test_1e7_colouring_engine(benchmark, big):
    """The colouring engine (2 forward passes in one PyTensor function), which the stencil kernel replaced here."""
    import elemgrad_gpu as eg
    from elemgrad_gpu.structured.plan import colour_plan, trace

    group, f, x, _, diagonal, _ = big
    benchmark.group = group
    source = eg.jacobian_diagonal(f).source
    shapes = {source.names[0]: x.shape}
    inputs, output = trace(source, "float64", shapes)
    plan = colour_plan(output, inputs[0], inputs, shapes, [1])
    assert plan.passes == 2
    got = benchmark(lambda: plan.function(x, *plan.extra)[0])
    np.testing.assert_allclose(got, diagonal(x), rtol=1e-12, atol=1e-12)


def test_1e7_jax_vmap_jvp_two_colours(benchmark, big):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    group, _, x, f_jax, diagonal, colours = big
    benchmark.group = group
    got = benchmark_jax_colours(benchmark, f_jax, x, colours(x.shape))
    np.testing.assert_allclose(got, diagonal(x), rtol=1e-12, atol=1e-12)

"""Structured Jacobians beside asdex, JAX's automatic sparse differentiation.

asdex (https://github.com/adrhill/asdex) detects the full Jacobian's sparsity pattern from
the jaxpr, colours its columns and computes the compressed Jacobian with one jvp per
colour; it has no diagonal-only mode, so its best route to diag(J) is the compressed
Jacobian B (colours x n) read at each column's own colour, B[colour[j], j], jitted. Ours
is ``eg.jacobian_diagonal``. Three problems, float64:

* the tridiagonal stencil of benchmarks/test_structured.py, n = 10^6;
* a 2-D 5-point Laplacian with zero padding plus u^3, 1000 x 1000;
* the 2-D Brusselator right-hand side (periodic), (2, 700, 700).

    pytest benchmarks/test_structured_asdex.py --benchmark-max-time=1 --benchmark-min-rounds=5

Each group compares the two at one size; every result is checked against the other
framework's (two independent derivations) and the pass counts are recorded in
``extra_info`` (``asdex_colours``, ``passes``, detection seconds). asdex's detection
and colouring is timed once (it takes seconds at these sizes), ours once per shape too.
Skipped where asdex is not installed (it is no dependency).
"""
import time

import numpy as np
import pytest

N_1D, N_2D, N_BRUSS = 10**6, 1000, 700


def stencil_pt(x):
    import pytensor.tensor as pt

    inner = pt.sin(x[2:] - 2 * x[1:-1] + x[:-2])
    zero = pt.zeros((1,), dtype=x.dtype)
    return pt.concatenate([zero, inner, zero]) + x ** 3


def stencil_jax(x):
    import jax.numpy as jnp

    inner = jnp.sin(x[2:] - 2 * x[1:-1] + x[:-2])
    return jnp.concatenate([jnp.zeros(1), inner, jnp.zeros(1)]) + x ** 3


def laplacian_pt(u):
    import pytensor.tensor as pt

    p = pt.pad(u, 1)
    return p[2:, 1:-1] + p[:-2, 1:-1] + p[1:-1, 2:] + p[1:-1, :-2] - 4 * u + u ** 3


def laplacian_jax(u):
    import jax.numpy as jnp

    p = jnp.pad(u, 1)
    return p[2:, 1:-1] + p[:-2, 1:-1] + p[1:-1, 2:] + p[1:-1, :-2] - 4 * u + u ** 3


def brusselator(np_like, pad):
    def f(x):
        u, v = x[0], x[1]

        def lap(w):
            wp = pad(w)
            return wp[2:, 1:-1] + wp[:-2, 1:-1] + wp[1:-1, 2:] + wp[1:-1, :-2] - 4 * w

        du = 1.0 + u ** 2 * v - 4.4 * u + 10.0 * lap(u)
        dv = 3.4 * u - u ** 2 * v + 10.0 * lap(v)
        return np_like.stack([du, dv])
    return f


def brusselator_pt(x):
    import pytensor.tensor as pt

    return brusselator(pt, lambda w: pt.pad(w, 1, mode="wrap"))(x)


def brusselator_jax(x):
    import jax.numpy as jnp

    return brusselator(jnp, lambda w: jnp.pad(w, 1, mode="wrap"))(x)


CASES = {
    "tridiagonal 1e6": (stencil_pt, stencil_jax, (N_1D,)),
    "laplacian 1000x1000": (laplacian_pt, laplacian_jax, (N_2D, N_2D)),
    "brusselator 2x700x700": (brusselator_pt, brusselator_jax, (2, N_BRUSS, N_BRUSS)),
}


def _x(shape):
    return np.random.default_rng(16).uniform(-1, 1, shape)


_ASDEX: dict = {}


def asdex_diagonal(name):
    """asdex's jitted diagonal route for one case (detection and colouring done once, timed)."""
    if name not in _ASDEX:
        asdex = pytest.importorskip("asdex")
        jax = pytest.importorskip("jax")
        jax.config.update("jax_enable_x64", True)
        _, f_jax, shape = CASES[name]
        x = _x(shape)
        start = time.perf_counter()
        colouring = asdex.jacobian_coloring(lambda z: f_jax(z.reshape(shape)).ravel(), x.ravel())
        detect = time.perf_counter() - start
        compressed = asdex.compressed_jacobian_from_coloring(lambda z: f_jax(z.reshape(shape)).ravel(), colouring)
        colours = jax.numpy.asarray(colouring.colors)
        columns = jax.numpy.arange(x.size)

        @jax.jit
        def diagonal(z):
            return compressed(z.ravel())[colours, columns].reshape(shape)

        _ASDEX[name] = (diagonal, colouring.num_colors, detect)
    return _ASDEX[name]


@pytest.mark.parametrize("name", list(CASES))
def test_asdex(benchmark, name):
    import jax

    diagonal, colours, detect = asdex_diagonal(name)
    x = _x(CASES[name][2])
    xj = jax.device_put(x, jax.devices("cpu")[0])
    diagonal(xj).block_until_ready()
    benchmark.group = name
    benchmark.extra_info.update(asdex_colours=colours, detection_s=round(detect, 2))
    got = benchmark(lambda: diagonal(xj).block_until_ready())
    want = _ours(name)[0](x)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-12, atol=1e-12)


_OURS: dict = {}


def _ours(name):
    if name not in _OURS:
        import elemgrad_gpu as eg

        f_pt, _, shape = CASES[name]
        fn = eg.jacobian_diagonal(f_pt, device="cpu")
        start = time.perf_counter()
        fn.plan_for(shape)
        _OURS[name] = (fn, time.perf_counter() - start)
    return _OURS[name]


@pytest.mark.parametrize("name", list(CASES))
def test_elemgrad(benchmark, name):
    fn, plan_seconds = _ours(name)
    x = _x(CASES[name][2])
    fn(x)
    benchmark.group = name
    got = benchmark(fn, x)
    benchmark.extra_info.update(passes=fn.passes, method=fn.method, engine=fn.engine,
                                plan_s=round(plan_seconds, 2))
    if pytest.importorskip("asdex"):
        import jax

        want = asdex_diagonal(name)[0](jax.device_put(x, jax.devices("cpu")[0]))
        np.testing.assert_allclose(got, np.asarray(want), rtol=1e-12, atol=1e-12)

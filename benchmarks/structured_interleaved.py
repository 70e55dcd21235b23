"""Interleaved timing of the 10^7 structured-Jacobian benchmarks (benchmarks/test_structured.py).

    PYTHONPATH=$PWD python benchmarks/structured_interleaved.py tridiagonal_1e7 laplacian_1e7

Each round times every method once, in turn, 0.3 s apart (JAX's worker threads idle again
before the next method starts), so that a busy moment of a shared machine falls on all methods
alike; prints a Markdown row per method: median, interquartile range, and the ratio to f's
value through our fused stencil kernel. Each diagonal is checked against its closed form first.
"""
import sys
import time

import numpy as np

import test_structured as cases

ROUNDS = 9


def methods(group: str) -> dict:
    import jax
    import pytensor
    import pytensor.tensor as pt

    import elemgrad_gpu as eg
    from elemgrad_gpu.structured.plan import colour_plan, trace

    jax.config.update("jax_enable_x64", True)
    f, shape, f_jax, diagonal, colours = cases.CASES_1E7[group]
    x = np.random.default_rng(0).uniform(-1, 1, shape)
    ours, value = eg.jacobian_diagonal(f, device="cpu"), eg.jacobian_diagonal(f, orders=0, device="cpu")
    np.testing.assert_allclose(ours(x), diagonal(x), rtol=1e-12, atol=1e-12)
    xv = pt.tensor("x", dtype="float64", shape=shape)
    pytensor_f = pytensor.function([xv], f(xv))
    source = ours.source
    shapes = {source.names[0]: shape}
    inputs, output = trace(source, "float64", shapes)
    coloured = colour_plan(output, inputs[0], inputs, shapes, [1])
    jax_diagonal, xj = _jax_diagonal(f_jax, colours(shape)), jax.device_put(x)
    return {"`jacobian_diagonal(f)`: fused stencil kernel, 1 pass": lambda: ours(x),
            "f's value through the same kernel (`orders=0`)": lambda: value(x),
            "f, PyTensor FAST_RUN function": lambda: pytensor_f(x),
            "colouring engine, 2 passes (PyTensor function)": lambda: coloured.function(x, *coloured.extra),
            "JAX `jit(vmap(jvp))`, 2 colours by hand": lambda: jax_diagonal(xj).block_until_ready()}


def _jax_diagonal(f_jax, colours: np.ndarray):
    import jax
    import jax.numpy as jnp

    seeds = jnp.asarray(np.stack([colours == c for c in range(2)]).astype(np.float64))

    @jax.jit
    def diagonal(x):
        tangents = jax.vmap(lambda s: jax.jvp(f_jax, (x,), (s,))[1])(seeds)
        return jnp.sum(tangents * seeds, axis=0)

    return diagonal


def main(groups: list[str]) -> None:
    for group in groups:
        timed = methods(group)
        for method in timed.values():  # compiled and warm before timing
            method()
        times = {name: [] for name in timed}
        for _ in range(ROUNDS):
            for name, method in timed.items():
                time.sleep(0.3)
                start = time.perf_counter()
                method()
                times[name].append(time.perf_counter() - start)
        base = np.median(times["f's value through the same kernel (`orders=0`)"])
        for name, spent in times.items():
            q1, median, q3 = np.percentile(spent, [25, 50, 75]) * 1e3
            print(f"| {group} | {name} | {median:.1f} ms | {q1:.1f}-{q3:.1f} ms | {median / base / 1e3:.2f} |")


if __name__ == "__main__":
    main(sys.argv[1:] or list(cases.CASES_1E7))

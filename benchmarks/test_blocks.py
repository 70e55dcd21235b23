"""Per-row Jacobian blocks: elemgrad_gpu.jacobian_blocks beside JAX's jit(vmap(jacfwd(f))) on the CPU.

    pytest benchmarks/test_blocks.py --benchmark-group-by=param:case

f is the per-row softmax (k_out = k_in = k). n = 10^5 rows of k = 3, 8 and 32, float64
and float32 (k = 3 also at n = 10^6; k = 8 and 32 at n = 10^6 with --bench-large). Each result is checked against the closed form
diag(s) - s s^T before it is timed. Compilation is done before timing (a warm-up call).
"""
import numpy as np
import pytest

CASES = [(n, k, dtype) for k in (3, 8, 32) for dtype in ("float64", "float32") for n in (10 ** 5,)]
CASES += [(10 ** 6, 3, "float64"), (10 ** 6, 3, "float32")]
# the sizes for k = 8 and 32 (GBs of blocks: 10^6 x 32 x 32 float32 is 4 GB), with --bench-large;
# k = 32 in float64 (8 GB of blocks, twice that for JAX's intermediates) does not fit this 24 GB machine
LARGE = [(10 ** 6, 8, "float64"), (10 ** 6, 8, "float32"), (10 ** 6, 32, "float32")]
CASES += [pytest.param(*case, marks=pytest.mark.large) for case in LARGE]
TOLERANCE = {"float64": 1e-12, "float32": 1e-5}


def reference(x: np.ndarray) -> np.ndarray:
    e = np.exp(x.astype(np.float64) - x.max(-1, keepdims=True))
    s = e / e.sum(-1, keepdims=True)
    return s[:, :, None] * np.eye(x.shape[-1]) - s[:, :, None] * s[:, None, :]


def blocks_elemgrad():
    import pytensor.tensor as pt

    import elemgrad_gpu as eg

    return eg.jacobian_blocks(lambda x: pt.special.softmax(x, axis=-1), device="cpu")


def blocks_jax(dtype: str):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", dtype == "float64")
    jax.config.update("jax_platform_name", "cpu")
    fn = jax.jit(jax.vmap(jax.jacfwd(lambda r: jax.nn.softmax(r))))
    return lambda x: fn(x).block_until_ready()


@pytest.mark.parametrize("tool", ["elemgrad_gpu", "jax"])
@pytest.mark.parametrize("n, k, dtype", CASES, ids=lambda v: str(v))
def test_softmax_blocks(benchmark, tool, n, k, dtype):
    x = np.random.default_rng(0).normal(size=(n, k)).astype(dtype)
    fn = blocks_elemgrad() if tool == "elemgrad_gpu" else blocks_jax(dtype)
    result = np.asarray(fn(x))  # compiles; then checked
    assert result.dtype == dtype
    np.testing.assert_allclose(result[:1000], reference(x[:1000]), atol=TOLERANCE[dtype], rtol=TOLERANCE[dtype])
    benchmark.extra_info.update(case=f"n={n} k={k} {dtype}", tool=tool)
    benchmark.pedantic(fn, args=(x,), rounds=5, warmup_rounds=1)

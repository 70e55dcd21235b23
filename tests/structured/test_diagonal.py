"""jacobian_diagonal against an independent reference: PyTensor's full Jacobian, then its diagonal.

Order 2 is checked against d/dx_i of the diagonal of the full Jacobian (itself a full
Jacobian of PyTensor's), which is d2y_i/dx_i2. Pass counts are the issue's targets.
"""
import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
import scipy.sparse as sp
from pytensor.tensor.signal import convolve1d, convolve2d

import elemgrad_gpu as eg
from elemgrad_gpu.errors import DeviceError, InputError, NotElementwiseError, StructureError


def reference(f, x: np.ndarray, order: int = 1) -> np.ndarray:
    """diag of PyTensor's full Jacobian (order 1) or of the Jacobian of that diagonal (order 2), in float64."""
    xv = pt.tensor("x", dtype="float64", shape=x.shape)
    y = f(xv).ravel()
    def jacobian(y):
        full = pytensor.gradient.jacobian(y, xv, vectorize=True, disconnected_inputs="ignore")
        return pt.diagonal(full.reshape((x.size, x.size)))

    diagonal = jacobian(y)
    if order == 2:
        diagonal = jacobian(diagonal)
    return pytensor.function([xv], diagonal, mode="FAST_COMPILE")(x.astype("float64")).reshape(x.shape)


def zero_padded_second_difference(x):
    return pt.concatenate([pt.zeros((1,), dtype=x.dtype), x[2:] - 2 * x[1:-1] + x[:-2], pt.zeros((1,), dtype=x.dtype)])


def periodic_second_difference(x):
    xp = pt.concatenate([x[-1:], x, x[:1]])
    return pt.sin(xp[2:] - 2 * xp[1:-1] + xp[:-2]) + x ** 3


def first_difference_zero_pad(x):
    return pt.exp(pt.pad(x, (1, 0), mode="constant")[1:] - pt.pad(x, (1, 0), mode="constant")[:-1])


def first_difference_periodic(x):
    return pt.tanh(x - pt.roll(x, 1)) * x


def squared_difference_ends(x):
    d = x[1:] - x[:-1]
    return pt.concatenate([d ** 2, x[-1:] ** 2])


def convolution(x):
    return pt.sin(convolve1d(x, np.array([0.25, 0.5, 0.25], dtype=x.dtype), mode="full")[1:-1]) + x ** 2


def laplacian(u):
    up = pt.pad(u, 1, mode="wrap")
    return up[2:, 1:-1] + up[:-2, 1:-1] + up[1:-1, 2:] + up[1:-1, :-2] - 4 * u + pt.sin(u) * u ** 2


def laplacian_zero(u):
    up = pt.pad(u, 1, mode="constant")
    return pt.exp(0.1 * (up[2:, 1:-1] + up[:-2, 1:-1] + up[1:-1, 2:] + up[1:-1, :-2] - 4 * u))


def convolution_2d(u):
    kernel = np.array([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]], dtype=u.dtype)
    return pt.tanh(convolve2d(pt.pad(u, 1, mode="constant"), kernel, mode="valid")) * u


def brusselator(x):
    """The 2-D Brusselator right-hand side on an N x N periodic grid, x = (u, v) of shape (2, N, N)."""
    u, v = x[0], x[1]

    def lap(w):
        wp = pt.pad(w, 1, mode="wrap")
        return wp[2:, 1:-1] + wp[:-2, 1:-1] + wp[1:-1, 2:] + wp[1:-1, :-2] - 4 * w

    du = 1.0 + u ** 2 * v - 4.4 * u + 10.0 * lap(u)
    dv = 3.4 * u - u ** 2 * v + 10.0 * lap(v)
    return pt.stack([du, dv])


def cumsum_tanh(x):
    return pt.cumsum(pt.tanh(x))


def cumprod_terms(x):
    return pt.cumprod(pt.sin(x) + 1.5)


def cumsum_then_elementwise(x):
    return pt.exp(0.1 * pt.cumsum(x ** 2, axis=-1)) * x


def reversed_twice(x):
    return pt.exp(x[::-1] * 0.5)[::-1] * x


CASES = [  # (f, shape, method, passes): stencils take the fused stencil kernel (test_regions.py), 1 pass
    (zero_padded_second_difference, (10,), "stencil: 3 regions", 1),
    (periodic_second_difference, (10,), "stencil: 3 regions", 1),
    (first_difference_zero_pad, (10,), "stencil: 2 regions", 1),
    (first_difference_periodic, (10,), "stencil: 2 regions", 1),
    (squared_difference_ends, (10,), "stencil: 2 regions", 1),
    (convolution, (10,), "stencil: 3 regions", 1),
    (laplacian, (6, 6), "stencil: 9 regions", 1),
    (laplacian_zero, (5, 7), "stencil: 9 regions", 1),
    (convolution_2d, (6, 6), "stencil: 9 regions", 1),
    (brusselator, (2, 6, 6), "stencil: 18 regions", 1),
    (cumsum_tanh, (10,), "rule: cumsum", 1),
    (cumprod_terms, (10,), "rule: cumprod", 1),
    (cumsum_then_elementwise, (3, 5), "rule: cumsum", 1),
    (reversed_twice, (10,), "stencil: 1 region", 1),
]


@pytest.mark.parametrize("dtype, order", [("float64", 1), ("float64", 2), ("float32", 1)])
@pytest.mark.parametrize("f, shape, method, passes", CASES, ids=[c[0].__name__ for c in CASES])
def test_diagonal_matches_the_full_jacobian(f, shape, method, passes, dtype, order):
    x = np.random.default_rng(7).uniform(-1, 1, size=shape).astype(dtype)
    fn = eg.jacobian_diagonal(f, orders=order)
    got = fn(x)
    assert got.dtype == dtype and got.shape == shape
    want = reference(f, x, order)
    tol = 1e-10 if dtype == "float64" else 2e-4
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * max(1.0, np.abs(want).max()))
    assert (fn.method, fn.passes) == (method, passes)


def coloured(f, shape: tuple, orders=(1,)):
    """The colouring engine's plan for f at ``shape`` (jacobian_diagonal's choice where neither
    the rules nor the fused stencil kernel apply), run here on stencils to hold its pass counts."""
    from elemgrad_gpu.structured.plan import colour_plan, trace

    source = eg.jacobian_diagonal(f).source
    shapes = {source.names[0]: shape}
    inputs, output = trace(source, "float64", shapes)
    return colour_plan(output, inputs[0], inputs, shapes, list(orders))


COLOURED = [(c[0], c[1]) for c in CASES if c[2].startswith("stencil")]


@pytest.mark.parametrize("order", [1, 2])
@pytest.mark.parametrize("f, shape", COLOURED, ids=[c[0].__name__ for c in COLOURED])
def test_the_colouring_engine_on_stencils(f, shape, order):
    """2 passes for the tridiagonal stencils, the 5-point Laplacian and the Brusselator (asdex: 3, 5, 12)."""
    x = np.random.default_rng(7).uniform(-1, 1, size=shape)
    plan = coloured(f, shape, (order,))
    np.testing.assert_allclose(plan.function(x, *plan.extra)[0], reference(f, x, order), rtol=1e-10, atol=1e-10)
    passes = 1 if f is reversed_twice else 2
    method = "rule: permutation fixes the diagonal" if f is reversed_twice else "colouring"
    assert (plan.method, plan.passes) == (method, passes)


def test_value_and_slope_together():
    x = np.linspace(-1, 1, 8)
    value, slope = eg.jacobian_diagonal(zero_padded_second_difference, orders=(0, 1))(x)
    np.testing.assert_allclose(value, np.r_[0, x[2:] - 2 * x[1:-1] + x[:-2], 0], atol=1e-15)
    np.testing.assert_allclose(slope, np.r_[0, -2 * np.ones(6), 0])


def test_cumprod_diagonal_is_the_exclusive_product_times_the_slope_even_at_zeros():
    x = np.array([0.3, -1.5, 0.7, 1.1, -0.2])  # sin(x) + 1.5 is never 0, so take a zero term directly
    fn = eg.jacobian_diagonal(lambda x: pt.cumprod(x * (x - 0.7)))
    g, dg = x * (x - 0.7), 2 * x - 0.7
    want = np.r_[1.0, np.cumprod(g)[:-1]] * dg
    np.testing.assert_allclose(fn(x), want, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("b", [1, 2, 3, 5])
def test_a_band_of_half_width_b_takes_b_plus_one_passes(b):
    def band(x):
        xp = pt.pad(x, b, mode="constant")
        n = 12
        return pt.sin(sum((k + 1.0) * xp[b + k: b + k + n] for k in range(-b, b + 1)))

    x = np.random.default_rng(b).normal(size=12)
    fn = eg.jacobian_diagonal(band)
    np.testing.assert_allclose(fn(x), reference(band, x), rtol=1e-12, atol=1e-13)
    assert (fn.passes, fn.engine) == (1, "fused stencil kernel")
    plan = coloured(band, (12,))
    np.testing.assert_allclose(plan.function(x, *plan.extra)[0], reference(band, x), rtol=1e-12, atol=1e-13)
    assert plan.passes == b + 1


def test_periodic_stencil_of_odd_length_takes_three_passes():
    """An odd cycle is not 2-colourable: 3 is the least, and the answer is still exact."""
    x = np.random.default_rng(1).normal(size=9)
    plan = coloured(periodic_second_difference, (9,))
    np.testing.assert_allclose(plan.function(x, *plan.extra)[0], reference(periodic_second_difference, x),
                               rtol=1e-12)
    assert plan.passes == 3


def test_large_tridiagonal_stencil_is_coloured_with_two():
    from elemgrad_gpu.structured import colouring
    from elemgrad_gpu.structured.plan import prove, trace

    shapes = {"x": (10**6,)}
    inputs, output = trace(eg.jacobian_diagonal(zero_padded_second_difference).source, "float64", shapes)
    assert colouring.colour(prove(output, inputs[0], inputs, shapes), shapes["x"]).max() + 1 == 2
    plan = eg.jacobian_diagonal(zero_padded_second_difference).plan_for((10**6,))
    assert (plan.method, plan.passes) == ("stencil: 3 regions", 1)


def test_elementwise_function_takes_the_fused_path():
    x = np.linspace(-2, 2, 7)
    fn = eg.jacobian_diagonal("tanh(x)**2")
    np.testing.assert_allclose(fn(x), 2 * np.tanh(x) / np.cosh(x) ** 2, rtol=1e-14)
    assert (fn.method, fn.passes) == ("elementwise", 1)
    fn2 = eg.jacobian_diagonal(lambda x, a: pt.exp(a * x), orders=2)
    np.testing.assert_allclose(fn2(x, 0.5), 0.25 * np.exp(0.5 * x), rtol=1e-14)


def test_parameters_are_held_fixed():
    def f(x, a):
        return a * (x[1:] - x[:-1]) ** 2

    fn = eg.jacobian_diagonal(lambda x, a: pt.concatenate([f(x, a), x[-1:]]))
    x = np.random.default_rng(3).normal(size=6)
    want = reference(lambda t: pt.concatenate([f(t, 1.7), t[-1:]]), x)
    np.testing.assert_allclose(fn(x, 1.7), want, rtol=1e-13)


def test_pattern_is_the_proven_sparsity():
    x = np.random.default_rng(2).normal(size=(4, 4))
    xv = pt.tensor("x", dtype="float64", shape=(4, 4))
    full = pytensor.function([xv], pytensor.gradient.jacobian(laplacian(xv).ravel(), xv))(x).reshape(16, 16)
    pattern = eg.jacobian_diagonal(laplacian).pattern((4, 4))
    assert sp.issparse(pattern)
    np.testing.assert_array_equal(pattern.toarray() != 0, full != 0)
    triangle = eg.jacobian_diagonal(cumsum_tanh).pattern((5,))
    np.testing.assert_array_equal(triangle.toarray(), np.tril(np.ones((5, 5))))


@pytest.mark.parametrize("f, operation", [
    (lambda x: pt.special.softmax(x), "Max|Softmax"),  # PyTensor 3 decomposes softmax; 2.38 keeps the Op
    (lambda x: x - pt.mean(x), "Sum"),
    (lambda x: pt.sort(x), "Sort"),
], ids=["softmax", "minus_mean", "sort"])
def test_dense_couplings_are_refused(f, operation):
    with pytest.raises(StructureError) as caught:
        eg.jacobian_diagonal(f)(np.linspace(0, 1, 100))
    error = caught.value
    assert isinstance(error, NotElementwiseError)
    assert any(op in error.operation for op in operation.split("|")) and error.passes == 100
    assert "pytensor.gradient.jacobian" in str(error) and "100 forward passes" in str(error)


def test_non_square_and_bad_requests_are_refused():
    with pytest.raises(InputError, match="shape of 'x'"):
        eg.jacobian_diagonal(lambda x: x[1:] - x[:-1])(np.ones(5))
    with pytest.raises(InputError, match="one input"):
        eg.jacobian_diagonal(lambda x, y: x * y, wrt=("x", "y"))
    with pytest.raises(DeviceError, match="CPU only"):  # colouring runs on the CPU only (stencils: test_regions.py)
        eg.jacobian_diagonal(lambda x: pt.sin(pt.dot(TRIDIAGONAL, x)), device="cuda")(np.ones(10))


def test_docstring_example():
    import doctest

    from elemgrad_gpu.structured import diagonal

    result = doctest.testmod(diagonal, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


LOWER = np.tril(np.random.default_rng(11).uniform(0.5, 1.5, (10, 10)))
TRIDIAGONAL = np.diag(np.full(10, -2.0)) + np.diag(np.ones(9), 1) + np.diag(np.full(9, 0.5), -1)


@pytest.mark.parametrize("f, method, passes", [
    (lambda x: pt.tanh(pt.dot(LOWER, pt.sin(x))), "rule: triangular linear map", 1),
    (lambda x: pt.dot(LOWER.T, x ** 3) * x, "rule: triangular linear map", 1),
    (lambda x: pt.exp(0.1 * pt.cumsum(pt.dot(LOWER, x))), "rule: cumsum and triangular linear map", 1),
    (lambda x: pt.sin(pt.dot(TRIDIAGONAL, x)), "colouring", 2),
], ids=["lower", "upper", "cumsum_of_lower", "banded_matrix"])
@pytest.mark.parametrize("order", [1, 2])
def test_constant_matrix_products(f, method, passes, order):
    x = np.random.default_rng(5).uniform(-1, 1, 10)
    fn = eg.jacobian_diagonal(f, orders=order)
    np.testing.assert_allclose(fn(x), reference(f, x, order), rtol=1e-11, atol=1e-12)
    assert (fn.method, fn.passes) == (method, passes)


def test_lower_and_upper_together_are_not_a_rule():
    """cumsum (lower) after an upper-triangular map is dense: the rule must not apply."""
    def f(x):
        return pt.cumsum(pt.dot(LOWER.T, x))

    with pytest.raises(StructureError, match="Cumsum") as caught:
        eg.jacobian_diagonal(f)(np.ones(10))
    assert caught.value.passes == 10


def test_row_local_softmax_is_coloured_by_its_row_width():
    """softmax per row of 4: a block-diagonal pattern, 4 colours (every pair in a row conflicts)."""
    def f(x):
        return pt.special.softmax(x, axis=-1)

    x = np.random.default_rng(8).normal(size=(5, 4))
    fn = eg.jacobian_diagonal(f)
    np.testing.assert_allclose(fn(x), reference(f, x), rtol=1e-12, atol=1e-14)
    assert (fn.method, fn.passes) == ("colouring", 4)


def test_pattern_of_a_large_dense_triangle_is_refused_clearly():
    with pytest.raises(InputError, match="smaller shape"):
        eg.jacobian_diagonal(cumsum_tanh).pattern((10**5,))


def test_an_output_that_does_not_depend_on_x_must_still_be_square():
    with pytest.raises(InputError, match="shape of 'x'"):
        eg.jacobian_diagonal(lambda x, a: a * pt.ones((3,)))(np.ones(5), 2.0)

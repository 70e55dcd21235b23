"""Structure verification: non-elementwise functions are refused, elementwise ones pass."""
import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

import elemgrad_gpu as eg

NOT_ELEMENTWISE = [
    ("cumsum", lambda x: pt.cumsum(x), "cumulative"),
    ("softmax", lambda x: pt.special.softmax(x), "softmax"),
    ("x - mean(x)", lambda x: x - pt.mean(x), "reduction"),
    ("sum", lambda x: x * pt.sum(x), "reduction"),
    ("max", lambda x: x / pt.max(x), "reduction"),
    ("reversal", lambda x: x[::-1], "indexing or slicing"),
    ("slice", lambda x: pt.tanh(x[1:]), "indexing or slicing"),
    ("index", lambda x: x * x[0], "indexing or slicing"),
    ("concatenation", lambda x: pt.concatenate([x, x]), "concatenation"),
    ("sort", lambda x: pt.sort(x), "sorting"),
    ("outer sum", lambda x: x[:, None] + x[None, :], "differently aligned"),
    ("dot", lambda x: pt.dot(x, x) * x, "matrix product"),
    ("roll", lambda x: pt.roll(x, 1), "indexing or slicing"),
]


@pytest.mark.parametrize("name, f, kind", NOT_ELEMENTWISE, ids=[c[0] for c in NOT_ELEMENTWISE])
def test_not_elementwise_is_refused_by_compile(name, f, kind):
    fn = eg.compile(f)  # a callable is traced, verified and refused at its first call
    with pytest.raises(eg.NotElementwiseError, match=kind) as info:
        fn(np.linspace(-1.0, 1.0, 4))
    assert isinstance(info.value, ValueError)
    assert "'x'" in str(info.value)


def test_transpose_is_refused():
    with pytest.raises(eg.NotElementwiseError, match="transpose"):
        x = pt.matrix("x")
        eg.elementwise_grad(pt.exp(x.T), x)


def test_refused_only_for_inputs_differentiated_by():
    f = lambda x, w: pt.tanh(x) * pt.sum(w)  # noqa: E731 - reductions over w are fine when w is not wrt
    fn = eg.compile(f, wrt="x")
    x, w = np.array([0.3, -0.2]), np.array([1.0, 2.0])
    assert np.allclose(fn(x, w), 3.0 / np.cosh(x) ** 2)
    with pytest.raises(eg.NotElementwiseError, match="'w'"):
        eg.compile(f, wrt="w")(x, w)


def test_shape_derived_values_are_elementwise():
    fn = eg.compile(lambda x: x ** pt.arange(x.shape[0]), orders=(0, 1))
    x = np.array([2.0, 3.0, 1.5, 0.5])
    k = np.arange(4)
    value, slope = fn(x)
    np.testing.assert_allclose(value, x ** k, rtol=1e-15)
    np.testing.assert_allclose(slope, k * x ** (k - 1.0), rtol=1e-15)


def test_broadcasting_against_other_inputs_is_elementwise():
    fn = eg.compile(lambda x, mu: pt.exp(x * mu), derivatives=[("x",), ("mu",)])
    x, mu = np.array([0.1, 0.2, 0.3]), np.array([[1.0], [2.0]])
    d_x, d_mu = fn(x, mu)
    assert d_x.shape == d_mu.shape == (2, 3)
    np.testing.assert_allclose(d_x, mu * np.exp(x * mu), rtol=1e-14)
    np.testing.assert_allclose(d_mu, x * np.exp(x * mu), rtol=1e-14)


def test_elementwise_grad_matches_jacobian_diagonal():
    x = pt.vector("x")
    y = pt.sin(x) * pt.exp(x / 3)
    g = eg.elementwise_grad(y, x)
    jac = pytensor.gradient.jacobian(y, x)
    values = np.linspace(-2, 2, 9)
    got, full = pytensor.function([x], [g, jac])(values)
    np.testing.assert_allclose(got, np.diag(full), rtol=1e-14)


def test_elementwise_grad_by_broadcast_scalar_is_per_element():
    x, mu = pt.vector("x"), pt.scalar("mu")
    g = eg.elementwise_grad(pt.exp(-(x - mu) ** 2), mu)
    xs, m = np.array([-1.0, 0.0, 2.0]), 0.5
    got = g.eval({x: xs, mu: m})
    np.testing.assert_allclose(got, 2 * (xs - m) * np.exp(-(xs - m) ** 2), rtol=1e-14)


def test_elementwise_grad_refuses_cumsum():
    x = pt.vector("x")
    with pytest.raises(eg.NotElementwiseError, match="cumulative"):
        eg.elementwise_grad(pt.cumsum(x), x)

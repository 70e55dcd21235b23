"""Graphs in (graph/given.py): a PyTensor graph over the user's own inputs as f, as the seed wrote it.

References: closed forms, and PyTensor's own gradient of the same graph compiled by
pytensor.function (an independent implementation of the derivative).
"""
import numpy as np
import pytensor
import pytensor.tensor as T
import pytest

import elemgrad_gpu as eg
from elemgrad_gpu.errors import InputError, InputTypeError, NotElementwiseError

X0 = np.array([-1.5, 0.25, 2.0])


def test_the_seeds_graph_compiles_as_given():
    X = T.dvector("X")
    f = 3 * X
    value, slope = eg.compile(f, wrt=X, orders=(0, 1), device="cpu")(X0)
    np.testing.assert_array_equal(value, 3 * X0)
    np.testing.assert_array_equal(slope, np.full(3, 3.0))


def test_inputs_in_order_of_appearance_and_partials_match_pytensors_own_gradient():
    x, mu, s = T.dvector("x"), T.dscalar("mu"), T.dscalar("s")
    y = -(x - mu) ** 2 / (2 * s ** 2) - T.log(s)
    fn = eg.compile(y, wrt=[x, mu, s], orders=(1, 2), device="cpu")
    assert fn.inputs == ("x", "mu", "s")
    got = fn(X0, 0.3, 1.7)
    # PyTensor's gradient of sum(y) by x is the diagonal (elementwise); by the scalars it sums, so
    # take the per-element partials from PyTensor's Jacobian of the elementwise vector
    reference = pytensor.function([x, mu, s], [T.grad(y.sum(), x), *T.jacobian(y, [mu, s])])(X0, 0.3, 1.7)
    for g, r in zip(got[:3], reference):
        np.testing.assert_allclose(g, r, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(got[3], np.full(3, -1 / 1.7 ** 2), rtol=1e-14)  # d2/dx2


def test_inputs_given_in_another_order_and_by_name():
    x, mu = T.dvector("x"), T.dscalar("mu")
    fn = eg.compile(T.exp(x * mu), inputs=["mu", x], wrt="x", device="cpu")
    assert fn.inputs == ("mu", "x")
    np.testing.assert_allclose(fn(0.5, X0), 0.5 * np.exp(0.5 * X0), rtol=1e-15)


def test_a_list_of_outputs_is_one_kernel_output_major():
    x = T.dvector("x")
    fn = eg.compile([T.tanh(x), x ** 3], orders=(0, 1), device="cpu")
    tanh, dtanh, cube, dcube = fn(X0)
    np.testing.assert_allclose(tanh, np.tanh(X0), rtol=1e-15)
    np.testing.assert_allclose(dtanh, 1 / np.cosh(X0) ** 2, rtol=1e-14)
    np.testing.assert_allclose(cube, X0 ** 3, rtol=1e-15)
    np.testing.assert_allclose(dcube, 3 * X0 ** 2, rtol=1e-15)


def test_a_float64_graph_called_with_float32_stays_float32():
    x = T.dvector("x")
    value, slope = eg.compile(T.sin(x) * 2.5, orders=(0, 1), device="cpu")(X0.astype(np.float32))
    assert value.dtype == slope.dtype == np.float32
    np.testing.assert_allclose(slope, 2.5 * np.cos(X0), rtol=1e-6)


def test_a_scalar_input_broadcasts_beside_a_matrix():
    x, w = T.dmatrix("x"), T.dscalar("w")
    fn = eg.compile(w * T.sqr(x), wrt=x, device="cpu")
    assert fn.inputs == ("w", "x")
    slope = fn(1.5, np.ones((2, 3)))
    np.testing.assert_array_equal(slope, np.full((2, 3), 3.0))


def test_shared_variables_are_folded_and_a_change_is_refused_before_any_work():
    x = T.dvector("x")
    k = pytensor.shared(2.0, name="k")
    fn = eg.compile(T.exp(k * x), device="cpu")
    np.testing.assert_allclose(fn(X0), 2 * np.exp(2 * X0), rtol=1e-15)
    np.testing.assert_allclose(fn(X0), 2 * np.exp(2 * X0), rtol=1e-15)  # a known call checks too
    k.set_value(3.0)
    out = (np.full(3, 7.0),)
    with pytest.raises(InputError, match="shared variable k changed"):
        fn(X0, out=out)
    assert np.all(out[0] == 7.0)  # nothing written


def test_errors_name_the_problem():
    x = T.dvector("x")
    with pytest.raises(InputError, match="no name"):
        eg.compile(T.tanh(T.dvector()), device="cpu")
    with pytest.raises(InputError, match="not a root variable"):
        eg.compile(T.tanh(x), inputs=[x * 2], device="cpu")
    with pytest.raises(InputError, match="also depends on mu"):
        eg.compile(x * T.dscalar("mu"), inputs=[x], device="cpu")
    with pytest.raises(InputError, match="named 'x'"):
        eg.compile(x + T.dvector("x"), device="cpu")
    with pytest.raises(InputError, match="not an input of the graph"):
        eg.compile(T.tanh(x), wrt=T.dvector("z"), device="cpu")
    with pytest.raises(InputError, match="1-d variable"):
        eg.compile(T.tanh(x), device="cpu")(np.ones((2, 2)))
    with pytest.raises(InputError, match="inputs= is for a PyTensor graph"):
        eg.compile("tanh(x)", inputs=["x"], device="cpu")
    with pytest.raises(InputTypeError, match="tensor variables"):
        eg.compile(T.scalar_from_tensor(T.dscalar("a")), device="cpu")


def test_a_graph_that_is_not_elementwise_in_wrt_is_refused():
    x = T.dvector("x")
    with pytest.raises(NotElementwiseError, match="reduction"):
        eg.compile(x * T.sum(x), device="cpu")
    with pytest.raises(NotElementwiseError):
        eg.compile(x[::-1] * x, device="cpu")

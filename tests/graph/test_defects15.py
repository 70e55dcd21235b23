"""Issue 15's correctness defects: each test failed before its fix.

1. Values derived from shapes (``arange(x.shape[0])[:, None]``, ``triu``) keep their axes
   in the fused loop (graph/fuse.py: the aux value is the broadcast one).
2. ``compile`` does not trace a callable at the wrong ndim before the first call.
3. PyTensor's xlogy, xlog1py and xlogx are accepted (substitutes in graph/removable.py).
4. d/dx x**y at x = y = 0 is 0 (orders 1 and 2), strings and PyTensor's pow.
5. ``clip`` with lo > hi is NumPy's ``minimum(maximum(x, lo), hi)``, values and derivatives.
7. PyTensor ops without C code or without a gradient give our errors, not PyTensor's.
"""
import math
import warnings

import numpy as np
import pytensor
import pytensor.scalar as ps
import pytensor.tensor as pt
import pytest
from pytensor.tensor.elemwise import Elemwise

import elemgrad_gpu as eg

SHAPES_2D = [(3, 3), (2, 3), (3, 2), (1, 4), (4, 1), (5, 5)]
SHAPES_3D = [(2, 3, 4), (3, 3, 3), (1, 2, 2), (4, 1, 3)]


def _x(shape, dtype="float64"):
    return np.random.default_rng(sum(shape)).uniform(-2, 2, shape).astype(dtype)


# ---- 1. aux values keep their broadcast pattern ----

@pytest.mark.parametrize("shape", SHAPES_2D + SHAPES_3D)
@pytest.mark.parametrize("tri", ["triu", "tril"])
def test_triangle_value_and_slope(tri, shape):
    x = _x(shape)
    value, slope = eg.compile(lambda x: getattr(pt, tri)(x), orders=(0, 1), device="cpu")(x)
    mask = getattr(np, tri)(np.ones(shape))
    np.testing.assert_array_equal(value, getattr(np, tri)(x))
    np.testing.assert_array_equal(slope, mask)


@pytest.mark.parametrize("shape", SHAPES_2D)
@pytest.mark.parametrize("axis", [0, 1])
def test_arange_along_an_axis_2d(shape, axis):
    def f(x):
        index = pt.arange(x.shape[axis])
        return x ** 2 * (index[:, None] if axis == 0 else index[None, :])
    x = _x(shape)
    index = np.arange(shape[axis]).reshape((-1, 1) if axis == 0 else (1, -1))
    value, slope = eg.compile(f, orders=(0, 1), device="cpu")(x)
    np.testing.assert_allclose(value, x ** 2 * index, rtol=1e-15)
    np.testing.assert_allclose(slope, 2 * x * index, rtol=1e-15)


@pytest.mark.parametrize("shape", SHAPES_3D)
@pytest.mark.parametrize("axis", [0, 1, 2])
def test_arange_along_an_axis_3d(shape, axis):
    def f(x):
        pattern = ["x"] * 3
        pattern[axis] = 0
        return pt.sin(x) * pt.arange(1, x.shape[axis] + 1).dimshuffle(pattern)
    x = _x(shape)
    index = np.arange(1, shape[axis] + 1).reshape([-1 if a == axis else 1 for a in range(3)])
    value, slope = eg.compile(f, orders=(0, 1), device="cpu")(x)
    np.testing.assert_allclose(value, np.sin(x) * index, rtol=1e-14)
    np.testing.assert_allclose(slope, np.cos(x) * index, rtol=1e-14)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_array_constant_along_the_first_axis(dtype):
    column = np.array([[1.0], [2.0], [3.0]])
    x = _x((3, 4), dtype)
    value, slope = eg.compile(lambda x: x * column, orders=(0, 1), device="cpu")(x)
    assert value.dtype == dtype
    np.testing.assert_allclose(value, x * column, rtol=1e-6)
    np.testing.assert_allclose(slope, np.broadcast_to(column, x.shape), rtol=1e-6)



@pytest.mark.parametrize("shape", [(3, 4), (2, 5), (4, 1)])
def test_a_reduction_of_another_input_broadcast_along_the_first_axis(shape):
    fn = eg.compile(lambda x, w: pt.exp(x) * pt.sum(w, axis=1)[:, None], wrt="x", orders=(0, 1), device="cpu")
    x, w = _x(shape), _x(shape) + 1.0
    value, slope = fn(x, w)
    row_sums = w.sum(axis=1)[:, None]
    np.testing.assert_allclose(value, np.exp(x) * row_sums, rtol=1e-14)
    np.testing.assert_allclose(slope, np.exp(x) * row_sums, rtol=1e-14)


@pytest.fixture(params=["emulated", pytest.param("cupy", marks=pytest.mark.gpu)])
def cuda(request, monkeypatch):
    """The CUDA backend on a GPU, or on the CPU emulation of CuPy (tests/cuda_emulator.py)."""
    from cuda_emulator import emulated_cupy

    from elemgrad_gpu.backends.cuda import backend as backend_cuda

    if request.param == "emulated":
        emulated = emulated_cupy()
        monkeypatch.setattr(backend_cuda, "cupy", lambda: emulated)
        backend_cuda.status.cache_clear()
        request.addfinalizer(backend_cuda.status.cache_clear)
    return "cuda"


@pytest.mark.parametrize("shape", [(2, 3), (3, 2, 4)])
def test_aux_values_keep_their_axes_on_the_cuda_backend(cuda, shape):
    def f(x):
        return pt.triu(x) * pt.arange(x.shape[0]).dimshuffle([0] + ["x"] * (x.ndim - 1))
    x = _x(shape)
    fn = eg.compile(f, orders=(0, 1), device=cuda)
    assert fn.backend == "cuda"
    value, slope = fn(x)
    index = np.arange(shape[0]).reshape((-1,) + (1,) * (len(shape) - 1))
    np.testing.assert_allclose(np.asarray(value), np.triu(x) * index, rtol=1e-14)
    np.testing.assert_allclose(np.asarray(slope), np.triu(np.ones(shape)) * index, rtol=1e-14)

# ---- 2. a callable is traced at its first call, at that call's ndim ----

def test_a_callable_for_matrices_compiles_and_works_at_its_first_call():
    fn = eg.compile(lambda x, w: x * pt.sum(w, axis=1, keepdims=True), wrt="x", orders=(0, 1), device="cpu")
    x, w = _x((3, 4)), _x((3, 4)) + 3.0
    value, slope = fn(x, w)
    row_sums = w.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(value, x * row_sums, rtol=1e-14)
    np.testing.assert_allclose(slope, np.broadcast_to(row_sums, x.shape), rtol=1e-14)


def test_the_formulas_of_a_callable_are_those_of_its_first_call():
    fn = eg.compile(lambda x, w: x * pt.sum(w, axis=1, keepdims=True), wrt="x", orders=(0, 1))
    fn(np.ones((2, 3)), np.ones((2, 3)))
    assert "Sum{axis=1}(w)" in fn.expressions[1]  # not a trace over 1-d inputs, where axis 1 does not exist


def test_a_second_order_callable_for_matrices():
    fn = eg.compile(lambda x: pt.exp(x) * x * x.shape[1], orders=(1, 2), device="cpu")  # x.shape[1]: 2-d
    x = _x((2, 3))
    first, second = fn(x)
    np.testing.assert_allclose(first, 3 * np.exp(x) * (1 + x), rtol=1e-14)
    np.testing.assert_allclose(second, 3 * np.exp(x) * (2 + x), rtol=1e-14)


def test_a_trace_that_fails_at_the_calls_ndim_is_a_clear_error_at_that_call():
    fn = eg.compile(lambda x, w: x * pt.sum(w, axis=1, keepdims=True), wrt="x")
    with pytest.raises(eg.ExpressionError, match=r"traced over symbolic inputs of float64 \(x: 1-d, w: 1-d\).*"
                                                 r"AxisError.*out of bounds") as info:
        fn(np.ones(3), np.ones(3))
    assert info.value.__cause__ is not None  # the callable's own error, chained


def test_shape_derived_values_that_fail_at_the_calls_shapes_are_a_clear_error():
    fn = eg.compile(lambda x: pt.exp(x) * x.shape[1], device="cpu")  # traces at 1-d; x.shape[1] fails at run
    with pytest.raises(eg.ExpressionError, match=r"shapes \(x \(2,\)\): IndexError"):
        _quiet(lambda: fn(np.ones(2)))
    np.testing.assert_allclose(fn(np.zeros((2, 3))), np.full((2, 3), 3.0))


def test_errors_of_ours_raised_while_tracing_pass_unchanged():
    from elemgrad_gpu.graph.special import MAX_ORDER

    fn = eg.compile(lambda x: eg.polygamma(MAX_ORDER + 1, x))
    with pytest.raises(eg.ExpressionError, match=rf"integer in \[0, {MAX_ORDER}\], got {MAX_ORDER + 1}"):
        fn(np.ones(2))


def test_strings_are_still_checked_at_compile():
    with pytest.raises(eg.ExpressionError):
        eg.compile("polygamma(2, x) * sum(x)")


# ---- 3. PyTensor's xlogy, xlog1py and xlogx ----

XS = np.array([0.0, 0.0, 0.0, 0.5, 1.0, 2.5, 1e-3, 7.0])
YS = np.array([0.0, 2.0, 0.5, 2.0, 0.5, 3.0, 1e-3, 1.0])


def _pytensor_xlogy():
    """PyTensor's xlogy: ``pt.special.xlogy`` (PyTensor 3), else 2.38's ``pytensor.tensor.xlogx.xlogy0``."""
    return getattr(pt.special, "xlogy", None) or _xlogx_module().xlogy0


def _pytensor_xlog1py():
    """PyTensor 3's ``pt.special.xlog1py`` (2.38 has none: ours stands in)."""
    return getattr(pt.special, "xlog1py", eg.xlog1py)


def _xlogx_module():
    import pytensor.tensor.xlogx as module
    return module


def _quiet(f):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyTensor 3 deprecates pytensor.tensor.xlogx; FP flags at 0
        return f()


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_pytensor_xlogy_is_accepted(dtype):
    fn = eg.compile(lambda x, y: _pytensor_xlogy()(x, y), derivatives=[(), ("x",), ("y",), ("x", "y"), ("y", "y")],
                    device="cpu")
    x, y = XS.astype(dtype), YS.astype(dtype)
    value, dx, dy, dxy, dyy = _quiet(lambda: fn(x, y))
    assert value.dtype == dtype
    with np.errstate(all="ignore"):
        log_y = np.log(YS)
        expected = [np.where(XS == 0, 0.0, XS * log_y), log_y, np.where(XS == 0, 0.0, XS / YS),
                    1 / YS, np.where(XS == 0, 0.0, -XS / YS ** 2)]
    rtol = 1e-14 if dtype == "float64" else 2e-6
    for got, want in zip((value, dx, dy, dxy, dyy), expected):
        np.testing.assert_allclose(got, want, rtol=rtol)
    assert dx[0] == -np.inf and dy[0] == 0 and value[0] == 0  # xlogy(0, 0) = 0, d/dx = log 0, d/dy = 0


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_pytensor_xlog1py_is_accepted(dtype):
    fn = eg.compile(lambda x, y: _pytensor_xlog1py()(x, y), derivatives=[(), ("x",), ("y",), ("y", "y")],
                    device="cpu")
    x, y = XS.astype(dtype), (YS - 1).astype(dtype)
    value, dx, dy, dyy = _quiet(lambda: fn(x, y))
    one_plus_y = y.astype("float64") + 1  # of the float32 y, exactly
    with np.errstate(all="ignore"):
        expected = [np.where(XS == 0, 0.0, XS * np.log(one_plus_y)), np.log(one_plus_y),
                    np.where(XS == 0, 0.0, XS / one_plus_y), np.where(XS == 0, 0.0, -XS / one_plus_y ** 2)]
    rtol = 1e-14 if dtype == "float64" else 2e-6
    for got, want in zip((value, dx, dy, dyy), expected):
        np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-300)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("how", ["pytensor", "string", "eg"])
def test_xlogx_value_and_four_derivatives(how, dtype):
    f = {"pytensor": lambda x: _xlogx_module().xlogx(x), "string": "xlogx(x)", "eg": lambda x: eg.xlogx(x)}[how]
    x = np.array([0.0, 1e-3, 0.25, 1.0, 2.0, 10.0, np.inf], dtype=dtype)
    got = _quiet(lambda: eg.compile(f, orders=(0, 1, 2, 3, 4), device="cpu")(x))
    t = np.array([1e-3, 0.25, 1.0, 2.0, 10.0])  # closed forms away from 0 and inf
    expected = [t * np.log(t), np.log(t) + 1, 1 / t, -1 / t ** 2, 2 / t ** 3]
    rtol = 1e-14 if dtype == "float64" else 2e-6
    for k, (g, want) in enumerate(zip(got, expected)):
        assert g.dtype == dtype
        np.testing.assert_allclose(g[1:-1], want, rtol=rtol, err_msg=f"order {k}")
    # at 0: the value 0, the derivatives the limits from the right
    assert [float(g[0]) for g in got] == [0.0, -math.inf, math.inf, -math.inf, math.inf]
    assert got[0][-1] == np.inf and got[1][-1] == np.inf


def test_xlogx_below_zero_is_nan_as_numpy():
    value, slope = _quiet(lambda: eg.compile("xlogx(x)", orders=(0, 1), device="cpu")(np.array([-1.0, np.nan])))
    assert np.isnan(value).all() and np.isnan(slope).all()


# ---- 4. d/dx x**y at 0**0 (autograd #116, jax#14397) ----

def _falling(y, k):
    out = np.ones_like(y)
    for i in range(k):
        out = out * (y - i)
    return out


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("f", ["x**y", "pow(x, y)", lambda x, y: x ** y, lambda x, y: pt.pow(x, y)],
                         ids=["x**y", "pow", "callable **", "pt.pow"])
def test_pow_at_zero_to_the_zero(f, dtype):
    x = np.array([0.0, 0.0, 0.0, 0.0, 1.5, 0.5], dtype=dtype)
    y = np.array([0.0, 1.0, 2.0, 3.0, 2.5, -1.5], dtype=dtype)
    got = _quiet(lambda: eg.compile(f, wrt="x", orders=(1, 2, 3, 4), device="cpu")(x, y))
    for k, g in enumerate(got, start=1):  # y (y-1) ... (y-k+1) x**(y-k), 0 where the product is 0
        falling = _falling(y.astype("float64"), k)
        with np.errstate(all="ignore"):
            want = np.where(falling == 0, 0.0, falling * x.astype("float64") ** (y - k))
        np.testing.assert_allclose(g, want, rtol=1e-13 if dtype == "float64" else 1e-5, err_msg=f"order {k}")
    np.testing.assert_array_equal(got[0][:4], [0, 1, 0, 0])
    np.testing.assert_array_equal(got[1][:4], [0, 0, 2, 0])
    np.testing.assert_array_equal(got[2][:4], [0, 0, 0, 6])


@pytest.mark.parametrize("f", [lambda x: x ** pt.arange(x.shape[0]), lambda x: pt.pow(x, pt.arange(x.shape[0]))])
def test_pow_by_arange_at_zeros(f):
    slope, second, third = eg.compile(f, orders=(1, 2, 3), device="cpu")(np.zeros(4))
    np.testing.assert_array_equal(slope, [0, 1, 0, 0])
    np.testing.assert_array_equal(second, [0, 0, 2, 0])
    np.testing.assert_array_equal(third, [0, 0, 0, 6])


@pytest.mark.parametrize("k, slopes", [(0, [0, 0, 0]), (1, [1, 0, 0]), (2, [0, 2, 0])])
def test_constant_powers_at_zero(k, slopes):
    for f in (f"x**{k}", lambda x: x ** k, lambda x: pt.pow(x, float(k))):
        got = eg.compile(f, orders=(1, 2, 3), device="cpu")(np.zeros(1))
        assert [float(g[0]) for g in got] == slopes


# ---- 5. clip with lo > hi is NumPy's minimum(maximum(x, lo), hi) ----

CLIP_X = np.array([-0.5, 0.3, 2.0, -3.0, 0.7, 1.2, 0.25])
CLIP_LO = np.array([0.0, 1.0, 1.0, -1.0, 0.9, 1.5, 0.5])
CLIP_HI = np.array([-0.5, 0.5, 0.0, -2.0, 0.8, 1.0, 0.1])  # lo > hi everywhere


def _central_difference(i, h=1e-6):
    args = [CLIP_X, CLIP_LO, CLIP_HI]
    up = [a + h * (j == i) for j, a in enumerate(args)]
    down = [a - h * (j == i) for j, a in enumerate(args)]
    return (np.clip(*up) - np.clip(*down)) / (2 * h)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("f", ["clip(x, lo, hi)", lambda x, lo, hi: pt.clip(x, lo, hi)], ids=["string", "pt.clip"])
def test_clip_with_low_above_high_follows_numpy(f, dtype):
    args = [a.astype(dtype) for a in (CLIP_X, CLIP_LO, CLIP_HI)]
    value, dx, dlo, dhi, dxx = eg.compile(f, derivatives=[(), ("x",), ("lo",), ("hi",), ("x", "x")],
                                          device="cpu")(*args)
    np.testing.assert_array_equal(value, np.clip(*args))
    for i, got in enumerate((dx, dlo, dhi)):
        np.testing.assert_allclose(got, _central_difference(i), atol=1e-6)
    np.testing.assert_array_equal(dhi, 1.0)
    np.testing.assert_array_equal(dxx, 0.0)


@pytest.mark.parametrize("f", ["clip(x, 0, x)", lambda x: pt.clip(x, 0, x)], ids=["string", "pt.clip"])
def test_clip_of_x_between_zero_and_itself(f):
    x = np.array([-0.5, -2.0, 0.5, 3.0])
    value, slope = eg.compile(f, orders=(0, 1), device="cpu")(x)
    np.testing.assert_array_equal(value, np.clip(x, 0, x))  # x: hi wins where lo > hi
    np.testing.assert_array_equal(slope, [1.0, 1.0, 1.0, 1.0])


def test_clip_with_low_above_high_at_order_four():
    x = np.array([0.5, 0.9])  # clip(x**3, 1, x**4) is x**4 here (1 > x**4)
    got = eg.compile("clip(x**3, 1, x**4)", orders=(0, 1, 2, 3, 4), device="cpu")(x)
    for g, want in zip(got, (x ** 4, 4 * x ** 3, 12 * x ** 2, 24 * x, np.full(2, 24.0))):
        np.testing.assert_allclose(g, want, rtol=1e-14)


# ---- 7. PyTensor's errors do not reach the user ----

class _Doubled(ps.UnaryScalarOp):
    """2x, with a derivative but no C code."""

    def impl(self, x):
        return 2 * x

    def grad(self, inputs, gout):
        return [2 * gout[0]]


class _DoubledWithoutDerivative(ps.UnaryScalarOp):
    """2x, with C code but no derivative."""

    def impl(self, x):
        return 2 * x

    def c_code(self, node, name, inputs, outputs, sub):
        return f"{outputs[0]} = 2 * {inputs[0]};"


class _DoubledUndefinedDerivative(_DoubledWithoutDerivative):
    """2x, whose derivative is marked undefined."""

    def grad(self, inputs, gout):
        return [pytensor.gradient.grad_undefined(self, 0, inputs[0])]


_doubled = Elemwise(_Doubled(ps.upgrade_to_float, name="doubled"))
_no_derivative = Elemwise(_DoubledWithoutDerivative(ps.upgrade_to_float, name="no_derivative"))
_undefined = Elemwise(_DoubledUndefinedDerivative(ps.upgrade_to_float, name="undefined_derivative"))


def _refusal(f, orders, match):
    fn = eg.compile(f, orders=orders, device="cpu")
    with pytest.raises(eg.ExpressionError, match=match) as info:
        fn(np.array([0.25, 0.5]))
    assert not isinstance(info.value.__cause__, eg.ElemgradError)
    return info.value


def test_an_operation_without_c_code_is_named():
    error = _refusal(lambda x: pt.exp(_doubled(x)), 0, r"the function \(a lambda\) uses the operation doubled, "
                                                        r"which has no C code.*elemgrad_gpu's functions")
    assert "MethodNotDefined" not in str(error)


def test_an_operation_without_a_derivative_is_named():
    _refusal(lambda x: _no_derivative(x) ** 2, 1, r"d/dx cannot be computed: the operation .*DoubledWithout"
                                                  r"Derivative defines no derivative")


def test_an_undefined_derivative_is_named():
    _refusal(lambda x: pt.sin(_undefined(x)), (0, 2), r"d/dx cannot be computed: .*undefined_derivative op is "
                                                      r"undefined\. Differentiate only by")


def test_elementwise_grad_names_a_missing_derivative():
    x = pt.vector("x")
    with pytest.raises(eg.ExpressionError, match="defines no derivative"):
        eg.elementwise_grad(_no_derivative(x), x)


def test_pytensor_gammaincinv_is_refused_clearly_or_computed():
    """PyTensor's gammaincinv has no C code and no derivative in a (another helper may give it both)."""
    fn = eg.compile(lambda a: pt.gammaincinv(a, 0.5), orders=1, device="cpu")
    try:
        got = _quiet(lambda: fn(np.array([2.0, 3.0])))
    except eg.ExpressionError as error:
        assert "gammaincinv" in str(error)
    else:
        assert np.isfinite(got).all()

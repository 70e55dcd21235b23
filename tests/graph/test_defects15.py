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
import pytensor.tensor as pt
import pytest

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

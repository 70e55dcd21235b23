"""Taylor mode (elemgrad_gpu/taylor.py): orders 3 to 8 in one variable against mpmath at 40 digits.

The reference is ``mpmath.diffs`` of SymPy's expression evaluated by mpmath, independent of
both of elemgrad_gpu's paths; the tolerance is test_reference.py's (1e-12 float64, 1e-5
float32, relative to max(1, |derivative|)), scaled for orders above 4 as documented below.
"""
import math
import time

import mpmath
import numpy as np
import pytest
import sympy as sp

import elemgrad_gpu as eg
from cases import CASES, x

ORDERS = (3, 4, 5, 6, 7, 8)
TOLERANCE = {"float64": 1e-12, "float32": 1e-5}


def tolerance(dtype: str, order: int) -> float:
    """test_reference.py's tolerance to order 4; x4 per order above (more rounding per coefficient)."""
    return TOLERANCE[dtype] * 4.0 ** max(0, order - 4)


def references(expr: sp.Expr, points, orders=ORDERS) -> dict[int, np.ndarray]:
    evaluate = sp.lambdify(x, expr, modules="mpmath")
    table = {k: [] for k in orders}
    with mpmath.workdps(40):
        for p in points:
            values = list(mpmath.diffs(evaluate, mpmath.mpf(float(p)), max(orders)))
            for k in orders:
                table[k].append(float(mpmath.re(values[k])))
    return {k: np.array(v) for k, v in table.items()}


def assert_close(got, want, dtype, order, what):
    error = np.abs(got.astype(np.float64) - want) / np.maximum(1.0, np.abs(want))
    assert np.all(error <= tolerance(dtype, order)), f"{what}: max scaled error {error.max():.3g}"


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("text, expr, points", CASES, ids=[c[0] for c in CASES])
def test_orders_3_to_8_against_mpmath(text, expr, points, dtype):
    values = np.array(points, dtype=dtype)
    fn = eg.compile(text, orders=ORDERS, device="cpu")
    assert all("Taylor mode" in e for e in fn.expressions)
    want = references(expr, values)
    for order, got in zip(ORDERS, fn(values)):
        assert got.dtype == dtype and got.shape == values.shape
        assert_close(got, want[order], dtype, order, f"{text} order {order} ({dtype})")

"""Calls whose outputs are their inputs (``fn(x, out=(x, d))``) on the CPU, where blocks raise
floating-point flags.

NumPy hands the loop an input as its own output without copying when both are the same
array; a block whose vector code raised a flag is computed again by the scalar functions,
which must read the inputs, not what the vector code wrote over them. The values are
checked against NumPy on a copy of the inputs, the warnings against NumPy's own.
"""
import re
import warnings

import numpy as np
import pytest

import elemgrad_gpu as eg

SIZES = [1000, 2 ** 17 + 13]  # several blocks and a short one; split across threads (the loop's threshold is 2^17)
KINDS = re.compile(r"divide by zero|overflow|invalid value")


def _log_inputs(n: int, dtype: str) -> np.ndarray:
    """Values in (0, 3] with zeros in the first, a middle and the last block, and negatives."""
    x = np.linspace(0.0, 3.0, n).astype(dtype)
    x[[0, 5, n // 2, n // 2 + 300, n - 1]] = 0.0
    x[n // 3:n // 3 + 40] *= -1  # log of negatives: "invalid"
    return x


def _exp_inputs(n: int, dtype: str) -> np.ndarray:
    """Values from -10 to past the largest x whose exp is finite (at 40% of the range, in a
    full block): the later blocks overflow."""
    top = 230.0 if dtype == "float32" else 1800.0
    return np.linspace(-10.0, top, n).astype(dtype)


CASES = {  # expression, extra numbers, inputs, NumPy's value and slope on a copy
    "log": ("log(x)", (), _log_inputs, lambda x: (np.log(x), 1 / x)),
    "exp": ("exp(x)", (), _exp_inputs, lambda x: (np.exp(x), np.exp(x))),
    "log hoisted": ("log(x)*exp(a)", (1.0,), _log_inputs,  # exp(a) computed once per call (hoist.py)
                    lambda x: (np.log(x) * np.exp(x.dtype.type(1)), np.exp(x.dtype.type(1)) / x)),
}


def _warning_kinds(call) -> tuple[object, set[str]]:
    """call()'s result and the kinds of floating-point warnings it gave."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = call()
    assert all(w.category is RuntimeWarning for w in caught), [str(w.message) for w in caught]
    return result, {m.group() for w in caught for m in [KINDS.search(str(w.message))] if m}


def _check(got: np.ndarray, expected: np.ndarray) -> None:
    """Close to NumPy (the vector math is within a few ulp), with NaN and infinities where NumPy's are."""
    rtol = 2e-6 if got.dtype == np.float32 else 1e-14
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_array_equal(np.isinf(got), np.isinf(expected))
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=0)


def _calls(fn, numbers: tuple):
    """Each kind of call in place, as (name, call(x, out) -> None): the first call of a
    signature, the same signature again (a known call) and a bound call."""
    return [("plain", lambda x, out: fn(x, *numbers, out=out)),
            ("known", lambda x, out: fn(x, *numbers, out=out)),
            ("bound", lambda x, out: fn.bind(x, *numbers, out=out)())]


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("place", [0, 1])  # out=(x, d): the value over x; out=(d, x): the slope over x
def test_in_place_with_flags_raised_reads_the_inputs(case, dtype, n, place):
    text, numbers, inputs, reference = CASES[case]
    fn = eg.compile(text, wrt="x", orders=(0, 1), device="cpu")
    start = inputs(n, dtype)
    expected, expected_kinds = _warning_kinds(lambda: reference(start.copy()))
    assert expected_kinds  # the blocks do raise flags
    for name, call in _calls(fn, numbers):
        x, other = start.copy(), np.empty_like(start)
        out = (x, other) if place == 0 else (other, x)
        _, kinds = _warning_kinds(lambda: call(x, out))
        for got, want in zip(out, expected):
            _check(got, want)
        assert kinds == expected_kinds, name
    hoisted = [s for s in fn._specializations.values()
               if "#define EG_NHOIST 0" not in s.sources.get("c", "#define EG_NHOIST 0")]
    assert bool(hoisted) == (case == "log hoisted")  # the kernel that computes exp(a) once per call ran


def test_in_place_under_errstate_raise_leaves_nothing_half_done():
    """errstate(all="raise") raises after the loop, as NumPy's ufuncs do: the outputs then
    hold the values computed from the inputs (not from outputs written over them)."""
    fn = eg.compile("log(x)", orders=(0, 1), device="cpu")
    start = _log_inputs(1000, "float64")
    x, slope = start.copy(), np.empty_like(start)
    with np.errstate(all="raise"), pytest.raises(FloatingPointError):
        fn(x, out=(x, slope))
    with np.errstate(all="ignore"):
        _check(x, np.log(start))
        _check(slope, 1 / start)

"""Calls like an earlier one: their checks are skipped, never their outcome.

A call whose arguments have the signature of an earlier successful call (each array's
dtype, shape, strides and flags, each number's type, how out= is given) runs the kernel
without reading and checking the arguments again. These tests hold that such calls give
what the full path gives (closed forms as the reference), and that any change the
checks depend on is checked again.
"""
import math

import numpy as np
import pytest

import elemgrad_gpu as eg
from elemgrad_gpu import arrays
from elemgrad_gpu.runtime import known_calls


def tanh2(x):
    """tanh(x)^2 and its derivative 2 tanh(x) sech(x)^2, in a form free of cancellation."""
    t = np.tanh(x)
    return t * t, 2 * t / np.cosh(x) ** 2


@pytest.fixture
def checks(monkeypatch):
    """How many times the full path read the inputs and checked out= so far."""
    counts = {"prepare": 0, "check_outputs": 0}

    def counting(name):
        original = getattr(arrays, name)

        def counted(*args, **kwargs):
            counts[name] += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(arrays, name, counted)

    counting("prepare")
    counting("check_outputs")
    return counts


def test_a_call_like_an_earlier_one_skips_the_checks_and_computes_its_own_values(checks):
    fn = eg.compile("tanh(x)**2", orders=(0, 1), device="cpu")
    out = (np.empty(1000), np.empty(1000))
    fn(np.linspace(-3, 3, 1000), out=out)
    assert checks == {"prepare": 1, "check_outputs": 1}
    for scale in (0.5, 2.0, -1.5):
        x = scale * np.linspace(-3, 3, 1000)  # new arrays, new values, same signature
        value, slope = fn(x, out=out)
        assert value is out[0] and slope is out[1]
        for got, want in zip((value, slope), tanh2(x)):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)  # as the accuracy tests
    assert checks == {"prepare": 1, "check_outputs": 1}
    value, slope = fn(x)  # out= not given: another signature, checked once
    fn(x)
    assert checks["prepare"] == 2 and value is not out[0]
    np.testing.assert_allclose(slope, tanh2(x)[1], rtol=1e-12, atol=1e-12)


def readonly(shape):
    array = np.zeros(shape)
    array.flags.writeable = False
    return array


@pytest.mark.parametrize("out, message", [
    ((readonly(100), np.empty(100)), r"out\[0\] must be a writeable C-contiguous float64 array of shape \(100,\)"),
    ((np.empty(101), np.empty(100)), r"out\[0\] must be .* shape \(100,\); got float64 \(101,\)"),
    ((np.empty(100, np.float32), np.empty(100)), r"out\[0\] must be .*float64.*got float32"),
    ((np.empty(200)[::2], np.empty(100)), r"out\[0\] must be a writeable C-contiguous"),
    ((np.empty(100),), "out= holds 1 arrays but the function returns 2"),
    ([np.empty(100), [0.0] * 100], r"out\[1\] must be a numpy.ndarray, not list"),
])
def test_outputs_unlike_the_earlier_ones_are_refused_as_before(out, message):
    fn = eg.compile("tanh(x)**2", orders=(0, 1), device="cpu")
    x, good = np.linspace(-3, 3, 100), (np.empty(100), np.empty(100))
    fn(x, out=good)
    fn(x, out=list(good))
    with pytest.raises(eg.ElemgradError, match=message):
        fn(x, out=out)
    for got, want in zip(fn(x, out=good), tanh2(x)):  # the earlier signature still runs, and right
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)  # as the accuracy tests


def test_inputs_unlike_the_earlier_ones_take_the_full_path_and_agree():
    fn = eg.compile("tanh(x)**2", orders=(0, 1), device="cpu")
    base = np.linspace(-3, 3, 200)
    fn(base[:100].copy())
    unaligned = np.zeros(801, np.uint8)[1:].view(np.float64)  # starts one byte into its buffer
    unaligned[:] = base[:100]
    assert not unaligned.flags.aligned
    cases = [base[::2], base[:100].astype(np.float32), (10 * base[:100]).astype(np.int64), list(base[:100]),
             base[:100].reshape(10, 10), unaligned, base[:100].copy()]
    for x in cases:
        value, slope = fn(x)
        reference = np.asarray(x, dtype=np.float32 if np.asarray(x).dtype == np.float32 else np.float64)
        assert value.dtype == reference.dtype and value.shape == reference.shape
        tolerance = 1e-5 if reference.dtype == np.float32 else 1e-12
        for got, want in zip((value, slope), tanh2(reference.astype(np.float64))):  # float32: relative to the largest
            np.testing.assert_allclose(got, want, rtol=tolerance, atol=tolerance * np.abs(want).max())
    with pytest.raises(eg.InputTypeError, match="input 'x' has dtype complex128"):
        fn(base[:100].astype(complex))


def test_numbers_are_read_at_each_call_zeros_with_their_sign():
    fn = eg.compile("x / s", wrt="x", orders=(0, 1), device="cpu")
    x = np.array([1.0, -2.0, 0.5])
    with np.errstate(divide="ignore"):
        for s in (2.0, 4.0, 2.0, 0.0, -0.0, 0.0, math.nan, -3.0, math.inf):
            value, slope = fn(x, s)
            np.testing.assert_array_equal(value, x / s)
            np.testing.assert_array_equal(slope, np.full(3, 1 / np.float64(s)))
        for s in (3, True, np.float64(0.25)):  # other types: other signatures
            np.testing.assert_array_equal(fn(x, s)[0], x / float(s))


def test_a_numpy_float32_number_keeps_deciding_the_dtype():
    fn = eg.compile("x * s", wrt="x", orders=(0, 1), device="cpu")
    x32 = np.linspace(0, 1, 5, dtype=np.float32)
    for _ in range(2):
        assert fn(x32, np.float32(3.0))[0].dtype == np.float32
        assert fn(x32.astype(np.float64), np.float32(3.0))[0].dtype == np.float64
        assert fn(x32, 3.0)[0].dtype == np.float32
    value, slope = fn(x32, np.float32(1 / 3))
    np.testing.assert_array_equal(value, x32 * np.float32(1 / 3))


def test_only_python_numbers_follow_floatx_at_every_call(monkeypatch):
    monkeypatch.delenv("THEANORC", raising=False)
    fn = eg.compile("x**2", orders=(0, 1), device="cpu")
    monkeypatch.setenv("THEANO_FLAGS", "floatX=float64")
    assert fn(1.5)[1].dtype == np.float64 and fn(1.5)[1] == 3.0
    monkeypatch.setenv("THEANO_FLAGS", "floatX=float32")
    assert fn(1.5)[1].dtype == np.float32


def test_kept_signatures_and_numbers_are_bounded(monkeypatch):
    monkeypatch.setattr(known_calls, "CALLS_KEPT", 3)
    monkeypatch.setattr(known_calls, "NUMBERS_KEPT", 4)
    fn = eg.compile("x * s", wrt="x", orders=(0, 1), device="cpu")
    for n in range(1, 20):
        x = np.arange(n, dtype=np.float64)
        for s in range(1, 10):
            np.testing.assert_array_equal(fn(x, float(s))[0], x * s)
        assert len(fn._calls) <= 3
        assert all(len(number._made) <= 4 for call in fn._calls.values() for _, number in call._numbers)


def test_an_input_called_out_is_never_taken_for_outputs():
    # Refused at compile (out= passes the outputs): tests/expr/test_input_names.py holds the message.
    with pytest.raises(eg.ExpressionError, match="cannot be named 'out'"):
        eg.compile("x * out", wrt="x", orders=(0, 1), device="cpu")

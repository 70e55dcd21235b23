"""numpy.ma masked arrays: computed on their data, the results masked where any input is
masked, as NumPy's ufuncs do; a masked ``out=`` gets that mask; the caller's inputs
and masks are left alone; a bound call refuses them."""
import warnings

import numpy as np
import pytest

import elemgrad_gpu as eg


@pytest.fixture(scope="module")
def fn():
    return eg.compile("log(x) * mu", wrt="x", orders=(0, 1), device="cpu")


def _expected(x, mu):
    """NumPy's value and slope on the plain data."""
    with np.errstate(all="ignore"):
        return np.log(x) * mu, mu / x


def _check(got, value_mask, expected):
    expected = np.asarray(expected)
    assert isinstance(got, np.ma.MaskedArray)
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(np.ma.getmaskarray(got), value_mask)
    np.testing.assert_allclose(got.data, expected, rtol=2e-6 if got.dtype == np.float32 else 1e-14)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_masked_input_gives_masked_results_in_plain_and_known_calls(fn, dtype):
    data = np.linspace(0.5, 3.0, 1000).astype(dtype)
    mask = np.zeros(1000, bool)
    mask[::7] = True
    data[::7] = -1.0  # log of a negative under the mask: computed on the data, as NumPy's ufuncs do
    x = np.ma.array(data.copy(), mask=mask.copy())
    expected = _expected(data, np.array(2.0, dtype))
    with np.errstate(all="ignore"):
        fn(data, 2.0)  # a plain call of this layout: remembered
    for _ in range(2):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            results = fn(x, 2.0)
        for got, want in zip(results, expected):
            _check(got, mask, want)
        assert {str(w.message).split(" encountered")[0] for w in caught} == {"invalid value"}  # as np.log(x)
    np.testing.assert_array_equal(x.data, data)  # the caller's array and mask untouched
    np.testing.assert_array_equal(x.mask, mask)
    results[0].mask[:] = True  # each result has a mask of its own
    assert not results[1].mask.all() and not x.mask.all()
    with np.errstate(all="ignore"):
        plain = fn(data, 2.0)  # and plain calls stay plain
    assert all(type(r) is np.ndarray for r in plain)


def test_masks_broadcast_and_combine(fn):
    x = np.ma.array([1.0, 2.0, 4.0], mask=[False, True, False])
    mu = np.ma.array([[1.0], [3.0]], mask=[[False], [True]])
    value, slope = fn(x, mu)
    want = np.array([[False, True, False], [True, True, True]])
    expected = _expected(x.data, mu.data)
    _check(value, want, expected[0])
    _check(slope, want, expected[1])
    value, _ = fn(x=np.array([1.0, 2.0]), mu=np.ma.masked)  # by keyword; the masked constant masks all
    assert value.mask.all() and value.shape == (2,)
    value, _ = fn(np.ma.array([1.0, 2.0]), 1.0)  # a masked array with nothing masked: still masked arrays
    _check(value, [False, False], np.log([1.0, 2.0]))


def test_a_masked_out_gets_the_inputs_mask(fn):
    """As ``np.log(x, out=o)``: o's data and mask are the results'; o itself is returned.
    A plain out= of a masked call comes back as a masked view of itself."""
    x = np.ma.array([1.0, 2.0, 4.0], mask=[False, True, False])
    o = np.ma.array(np.zeros(3), mask=[True, False, False])
    d = np.zeros(3)
    value, slope = fn(x, 1.0, out=(o, d))
    assert value is o
    _check(o, [False, True, False], np.log(x.data))
    _check(slope, [False, True, False], 1 / x.data)
    np.testing.assert_array_equal(d, 1 / x.data)  # written through
    assert np.shares_memory(slope, d)
    value, slope = fn(np.array([1.0, 2.0, 4.0]), 1.0, out=(o, d))  # no input masked: o unmasked, d plain
    assert value is o and slope is d
    _check(o, [False, False, False], np.log([1.0, 2.0, 4.0]))


def test_a_masked_out_in_place(fn):
    x = np.ma.array([1.0, 0.0, 4.0], mask=[False, True, False])
    d = np.zeros(3)
    with np.errstate(divide="ignore"):
        value, slope = fn(x, 1.0, out=(x, d))
    assert value is x
    _check(x, [False, True, False], [0.0, -np.inf, np.log(4.0)])
    _check(slope, [False, True, False], [1.0, np.inf, 0.25])


def test_a_bound_call_refuses_masked_arrays(fn):
    x, d = np.ma.array([1.0, 2.0], mask=[False, True]), np.zeros(2)
    with pytest.raises(eg.InputTypeError, match=r"input 'x' is a masked array \(numpy.ma\).*bind its \.data"):
        fn.bind(x, 1.0, out=(np.zeros(2), d))
    with pytest.raises(eg.InputTypeError, match=r"out\[0\] is a masked array \(numpy.ma\)"):
        fn.bind(x.data, 1.0, out=(np.ma.array(np.zeros(2)), d))

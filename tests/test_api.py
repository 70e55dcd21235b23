"""The public API: arguments, outputs, dtypes, broadcasting, views, attributes, errors."""
import warnings

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

import elemgrad_gpu as eg
from elemgrad_gpu.graph.build import make_source
from elemgrad_gpu.graph.plan import make_plan
from elemgrad_gpu.graph.functions import IMPLEMENTATIONS


def sech2(v):
    return 1.0 / np.cosh(v) ** 2


def test_int_orders_returns_one_array_tuple_orders_a_tuple():
    xs = np.linspace(-1, 1, 7)
    single = eg.compile("tanh(x)")(xs)
    assert isinstance(single, np.ndarray)
    np.testing.assert_allclose(single, sech2(xs), rtol=1e-14)
    pair = eg.compile("tanh(x)", orders=(1,))(xs)
    assert isinstance(pair, tuple) and len(pair) == 1


def test_positional_and_keyword_calls_agree():
    fn = eg.compile(lambda x, mu, s: eg.exp(-((x - mu) / s) ** 2), derivatives=[(), ("mu",)])
    xs = np.array([0.1, 0.5, 2.0])
    a = fn(xs, 0.3, 1.2)
    b = fn(s=1.2, x=xs, mu=0.3)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    np.testing.assert_allclose(a[1], 2 * (xs - 0.3) / 1.2 ** 2 * np.exp(-((xs - 0.3) / 1.2) ** 2), rtol=1e-14)


def test_default_wrt():
    assert eg.compile(lambda a, b: a * b).derivatives == (("a",),)
    assert eg.compile("mu * x").derivatives == (("x",),)
    assert eg.compile("sin(t)").derivatives == (("t",),)
    with pytest.raises(eg.InputError, match="wrt"):
        eg.compile("a * b")
    assert eg.compile("a * b", wrt="b").derivatives == (("b",),)


def test_attributes_and_source_before_any_call():
    fn = eg.compile("tanh(x)**2", orders=(0, 1))
    assert fn.inputs == ("x",) and fn.device == "cpu" and fn.backend == "c"
    assert len(fn.expressions) == 2 and "tanh" in fn.expressions[0].lower()
    source = fn.source()
    assert "double" in source and "tanh(" in source and "eg_loop" in source
    assert "float" in fn.source(dtype="float32")
    assert "double" not in fn.source(dtype="float32").split("eg_element")[1]


def test_one_fused_loop_computes_every_output():
    text, orders = "exp(-x**2) * sin(x) + gammaln(x)", (0, 1, 2, 3, 4)
    fn = eg.compile(text, orders=orders)
    fgraph = make_plan(make_source(text), [("x",) * k for k in orders], "float64", 1).fused.fgraph()
    nodes = list(fgraph.apply_nodes)
    assert len(nodes) == 1
    (node,) = nodes
    assert isinstance(node.op, pytensor.tensor.elemwise.Elemwise)
    assert isinstance(node.op.scalar_op, pytensor.scalar.Composite)
    assert len(node.outputs) == 5 and fgraph.outputs == node.outputs
    source = fn.source()
    # One element function computes all five outputs in one call; the block loop calls it
    # vectorized, and its scalar twin only re-runs blocks whose vector math raised FP flags.
    assert source.count("static inline void eg_element(") == 1
    calls = [line for line in source.splitlines() if line.strip().startswith("eg_element(")]
    assert len(calls) == 2 and all(all(f"&r{m}" in call for m in range(5)) for call in calls)


def test_constant_and_identity_outputs_come_from_the_loop():
    value, slope, curve = eg.compile("3*x", orders=(0, 1, 2))(np.arange(4.0))
    np.testing.assert_array_equal(value, 3 * np.arange(4.0))
    np.testing.assert_array_equal(slope, np.full(4, 3.0))
    np.testing.assert_array_equal(curve, np.zeros(4))
    assert eg.compile("x", orders=0)(np.float32([1, 2])).dtype == np.float32


def test_dtypes():
    fn = eg.compile(lambda x: eg.tanh(x) * 0.1 + 0.9189385332046727, orders=(0, 1))
    for out in fn(np.linspace(-1, 1, 5, dtype=np.float32)):
        assert out.dtype == np.float32
    assert "double" not in fn.source(dtype="float32").split("eg_element")[1]
    assert all(o.dtype == np.float64 for o in fn(np.linspace(-1, 1, 5)))
    assert all(o.dtype == np.float64 for o in fn(np.arange(5)))           # integers compute in float64
    assert all(o.dtype == np.float64 for o in fn(np.array([True, False])))  # and so do bools
    assert all(o.dtype == np.float64 for o in fn(0.5))                     # Python scalars alone: float64
    two = eg.compile("x * mu")
    assert two(np.float32([1, 2]), 0.5).dtype == np.float32                # Python scalars are weak
    assert two(np.float32([1, 2]), np.float64(0.5)).dtype == np.float64
    assert two(np.float32([1, 2]), np.array([1.0, 2.0])).dtype == np.float64
    fixed = eg.compile("x * mu", dtype="float32")
    assert fixed(np.array([1.0, 2.0]), 3).dtype == np.float32


def test_float32_matches_float64_within_float32_tolerance():
    fn = eg.compile("softplus(x) * erf(x / 3)", orders=(0, 1, 2))
    xs = np.linspace(-4, 4, 1001, dtype=np.float32)
    for lo, hi in zip(fn(xs), fn(xs.astype(np.float64))):
        assert np.max(np.abs(lo - hi) / np.maximum(1, np.abs(hi))) < 1e-5


def test_outputs_are_separate_writeable_contiguous_arrays():
    value, slope, curve = eg.compile("tanh(x)**2", orders=(0, 1, 2))(np.linspace(-1, 1, 1001))
    for a, b in [(value, slope), (slope, curve), (value, curve)]:
        assert not np.shares_memory(a, b)
    for a in (value, slope, curve):
        assert a.flags.c_contiguous and a.flags.writeable and a.shape == (1001,)
    expected = 2 * np.tanh(0.5) / np.cosh(0.5) ** 2
    value[:] = np.nan
    del value, curve  # the slope outlives its siblings
    np.testing.assert_allclose(slope[750], expected, rtol=1e-14)


def test_callers_arrays_are_not_modified():
    xs = np.linspace(-1, 1, 11)
    mu = np.array([[0.5], [1.5]], dtype=np.float32)
    before = xs.copy(), mu.copy()
    eg.compile("x*mu + exp(x)", derivatives=[("x",), ("mu",)])(xs, mu)
    np.testing.assert_array_equal(xs, before[0])
    np.testing.assert_array_equal(mu, before[1])


def test_broadcasting_views_and_nd_inputs_equal_contiguous_copies():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(6, 5, 4))
    fn = eg.compile(lambda x, w: eg.sigmoid(x * w) + x ** 2, derivatives=[(), ("x",), ("x", "w")])
    views = [base[::2, :, ::-1], base.transpose(2, 0, 1), base[:, 1, :], base[..., :1]]
    for view in views:
        for w in (0.7, np.linspace(0.5, 1.5, view.shape[-1]), rng.normal(size=(1,) * view.ndim)):
            got = fn(view, w)
            want = fn(np.ascontiguousarray(view), np.broadcast_to(w, view.shape).copy())
            for g, h in zip(got, want):
                assert g.shape == np.broadcast_shapes(view.shape, np.shape(w))
                np.testing.assert_array_equal(g, h)


@pytest.mark.parametrize("n", [256 * 4 + 77, 2 ** 17 + 13])  # full blocks and a short one; split across threads
def test_broadcast_scalars_equal_materialized_arrays_bitwise(n):
    fn = eg.compile("-0.5*((x-mu)/sigma)**2 - log(sigma)", derivatives=[(), ("x",), ("sigma",)])
    x = np.linspace(-3, 3, n)
    x[300], x[-5] = np.inf, np.nan  # blocks computed again by the scalar functions
    for mu, sigma in ((0.3, 1.7), (np.float64(-1.0), np.array(2.5)), (0.0, np.array([0.5]))):
        with np.errstate(invalid="ignore"):
            got = fn(x, mu, sigma)
            want = fn(x, np.full(n, mu), np.full(n, np.ravel(sigma)[0]))
        for g, h in zip(got, want):
            np.testing.assert_array_equal(g, h)
    z = (x - 0.3) / 1.7
    np.testing.assert_allclose(fn(x, 0.3, 1.7)[1][:256], -z[:256] / 1.7, rtol=1e-14)


def test_column_against_row_broadcasts_like_numpy():
    fn = eg.compile("x * mu**2", derivatives=[(), ("mu",), ("x", "mu")])
    xs, mu = np.arange(3.0), np.arange(4.0)[:, None]
    value, d_mu, d_x_mu = fn(xs, mu)
    assert value.shape == (4, 3)
    np.testing.assert_array_equal(d_mu, 2 * xs * mu)
    np.testing.assert_array_equal(d_x_mu, np.broadcast_to(2 * mu, (4, 3)))


def test_scalar_parameter_partial_is_elementwise():
    fn = eg.compile("exp(-(x - mu)**2)", derivatives=[("mu",)])
    xs = np.linspace(-2, 2, 9)
    (d_mu,) = fn(xs, 0.25)
    assert d_mu.shape == xs.shape
    np.testing.assert_allclose(d_mu, 2 * (xs - 0.25) * np.exp(-(xs - 0.25) ** 2), rtol=1e-14)


def test_zero_d_and_empty_inputs():
    fn = eg.compile("tanh(x)", orders=(0, 1))
    value, slope = fn(np.float64(0.5))
    assert value.shape == () and np.isclose(slope, sech2(0.5), rtol=1e-15)
    value, slope = fn(np.empty((0, 3)))
    assert value.shape == slope.shape == (0, 3)


def test_callable_traced_per_signature_like_jit():
    calls = []

    def f(x):
        calls.append((x.dtype, x.ndim))
        return pt.sin(x)

    fn = eg.compile(f)
    fn(np.zeros(3))
    fn(np.ones(4))
    fn(np.zeros((2, 2)))
    fn(np.zeros(3, dtype=np.float32))
    assert calls == [("float64", 1), ("float64", 2), ("float32", 1)]


def test_matches_pytensor_full_jacobian_at_small_n():
    x = pt.vector("x")
    y = pt.sin(x) ** 2 / (1 + x ** 2)
    jac = pytensor.function([x], pytensor.gradient.jacobian(y, x))
    xs = np.linspace(-2, 2, 25)
    got = eg.compile(lambda x: pt.sin(x) ** 2 / (1 + x ** 2))(xs)
    np.testing.assert_allclose(got, np.diag(jac(xs)), rtol=1e-13, atol=1e-15)


def test_nan_and_infinities_behave_as_in_numpy():
    value, slope = eg.compile("tanh(x)**2", orders=(0, 1))(np.array([np.nan, np.inf, -np.inf]))
    assert np.isnan(value[0]) and np.isnan(slope[0])
    np.testing.assert_array_equal(value[1:], [1.0, 1.0])
    np.testing.assert_array_equal(slope[1:], [0.0, 0.0])
    with np.errstate(divide="ignore"):
        np.testing.assert_array_equal(eg.compile("log(x)", orders=0)(np.array([0.0, -1.0, np.inf])),
                                      np.log(np.array([0.0, np.nan, np.inf])))


BAD_CALLS = [
    (lambda fn: fn(np.zeros(3), np.zeros(4)), eg.InputError, "broadcast"),
    (lambda fn: fn(np.zeros(3)), eg.InputError, "missing input 'mu'"),
    (lambda fn: fn(np.zeros(3), 1.0, 2.0), eg.InputError, "positional"),
    (lambda fn: fn(np.zeros(3), nu=1.0), eg.InputError, "unknown input 'nu'"),
    (lambda fn: fn(np.zeros(3), 1.0, x=1.0), eg.InputError, "both"),
    (lambda fn: fn(np.array(["a"]), 1.0), eg.InputTypeError, "'x' has dtype <U1"),
    (lambda fn: fn(np.zeros(2, complex), 1.0), eg.InputTypeError, "complex"),
    (lambda fn: fn(np.array([None]), 1.0), eg.InputTypeError, "object"),
]


@pytest.mark.parametrize("call, error, message", BAD_CALLS)
def test_bad_calls_raise_clear_errors(call, error, message):
    with pytest.raises(error, match=message):
        call(eg.compile("x * mu"))


BAD_COMPILES = [
    (dict(f=42), eg.InputTypeError, "callable, an expression"),
    (dict(f="x", orders=-1), eg.InputError, "orders"),
    (dict(f="x", orders=(0, 1.5)), eg.InputError, "orders"),
    (dict(f="x", orders=()), eg.InputError, "empty"),
    (dict(f="x", wrt="y"), eg.InputError, "not an input"),
    (dict(f="x*y", derivatives=[("x", "z")]), eg.InputError, "'z'"),
    (dict(f="x", orders=2, derivatives=[()]), eg.InputError, "not both"),
    (dict(f="x", dtype="int32"), eg.InputTypeError, "dtype"),
    (dict(f="x", device="tpu"), eg.DeviceError, "unknown device"),
    (dict(f="x", device="cuda"), eg.DeviceError, "not available"),
    (dict(f=lambda *xs: xs[0]), eg.InputTypeError, r"\*args"),
]


@pytest.mark.parametrize("kwargs, error, message", BAD_COMPILES)
def test_bad_compiles_raise_clear_errors(kwargs, error, message):
    with pytest.raises(error, match=message):
        eg.compile(**kwargs)


def test_error_classes_are_value_and_type_errors():
    assert issubclass(eg.NotElementwiseError, ValueError)
    assert issubclass(eg.ExpressionError, ValueError)
    assert issubclass(eg.InputError, ValueError) and issubclass(eg.InputTypeError, TypeError)


@pytest.mark.parametrize("text", ["tanh(x)**2", "gammaln(x)*sigmoid(x)", "(-x)**3 + x**5 - exp(-x)",
                                  "-(x - mu)**2/(2*s**2) - log(s)", "where(x > 0, x**2, sin(x))",
                                  "2**-x * erfinv(x/3) + digamma(x)"])
def test_expressions_are_formulas_that_parse_back(text):
    from elemgrad_gpu.expr.parse import parse

    fn = eg.compile(text, wrt="x", orders=(0, 1, 2))
    values = {name: np.array([0.3, 0.7, 1.9]) + k for k, name in enumerate(fn.inputs)}
    symbols = {name: pt.dvector(name) for name in fn.inputs}
    for printed, got in zip(fn.expressions, fn(**values)):
        rebuilt = parse(printed).build(symbols, "float64", IMPLEMENTATIONS)
        evaluate = pytensor.function(list(symbols.values()), rebuilt, mode="FAST_COMPILE", on_unused_input="ignore")
        np.testing.assert_allclose(np.broadcast_to(evaluate(*values.values()), got.shape), got, rtol=1e-13)


def test_a_bound_call_recomputes_its_outputs_from_the_current_values():
    fn = eg.compile("tanh(x*s)**2", orders=(0, 1), wrt="x", device="cpu")
    x = np.linspace(-3, 3, 1001)
    y, dy = np.empty_like(x), np.empty_like(x)
    step = fn.bind(x, 1.5, out=(y, dy))
    for shift in (0.0, 0.25, -1.0):
        x[:] = np.linspace(-3, 3, 1001) + shift
        value, slope = step()
        assert value is y and slope is dy
        t = np.tanh(1.5 * x)
        np.testing.assert_allclose(value, t * t, rtol=1e-12)
        np.testing.assert_allclose(slope, 3 * t * (1 - t * t), rtol=1e-12, atol=1e-12)  # 1 - t*t cancels
    single = eg.compile("sin(x)", orders=1, device="cpu")  # one output, returned alone
    assert single.bind(x, out=y)() is y and np.allclose(y, np.cos(x), rtol=1e-12)


@pytest.mark.parametrize("args, kwargs, error, message", [
    ((np.linspace(0, 1, 5),), {}, eg.InputError, "bind needs out="),
    ((np.arange(5),), {"out": (np.empty(5), np.empty(5))}, eg.InputTypeError,
     "input 'x' cannot be bound: a numpy.ndarray of int64 is converted to a numpy.ndarray of float64 first"),
    (([0.0, 1.0],), {"out": (np.empty(2), np.empty(2))}, eg.InputTypeError, "a list of .* pass a numpy.ndarray"),
    ((np.linspace(0, 1, 5),), {"out": (np.empty(4), np.empty(4))}, eg.InputError, r"out\[0\] must be"),
])
def test_what_cannot_be_bound_is_refused(args, kwargs, error, message):
    fn = eg.compile("tanh(x)**2", orders=(0, 1), device="cpu", dtype="float64")
    with pytest.raises(error, match=message):
        fn.bind(*args, **kwargs)


def test_outputs_may_share_memory_with_the_inputs_on_the_cpu():
    """As with NumPy's ufuncs: as if the inputs were read before any output was written,
    in plain, remembered and bound calls alike."""
    fn = eg.compile("tanh(x)**2", orders=(0, 1), device="cpu")
    start = np.linspace(-3, 3, 10_001)
    t = np.tanh(start)
    for _ in range(2):  # the second call is a known one
        buffer = np.concatenate([start, [0.0]])
        x, value, slope = buffer[:-1], buffer[1:], np.empty_like(start)  # value one element after x
        fn(x, out=(value, slope))
        np.testing.assert_allclose(value, t ** 2, rtol=1e-15)
        np.testing.assert_allclose(slope, 2 * t / np.cosh(start) ** 2, rtol=1e-13)
    x, slope = start.copy(), np.empty_like(start)
    step = fn.bind(x, out=(x, slope))  # in place
    step()
    np.testing.assert_allclose(x, t ** 2, rtol=1e-15)
    np.testing.assert_allclose(slope, 2 * t / np.cosh(start) ** 2, rtol=1e-13)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n", [1, 256 * 3 + 77, 2 ** 17 + 13])  # one element; a short block; split across threads
@pytest.mark.parametrize("text", ["log(x) * tanh(x*s)**2",  # s hoisted out of the loop
                                  "where(x > s, log(x), sin(x*s))"])  # not hoisted (GCC leaves the loop scalar)
def test_the_loop_called_directly_equals_the_ufunc(text, dtype, n):
    """Contiguous operands take the loop called directly; the same values as a strided view
    take NumPy's ufunc: bitwise the same results, with the same warnings, in plain,
    remembered and bound calls, into given outputs and new ones."""
    fn = eg.compile(text, wrt="x", orders=(0, 1), device="cpu")
    x = np.linspace(-3, 40, n).astype(dtype)
    x[x.size // 2] = np.inf  # blocks computed again by the scalar functions
    x[:n // 3] = -x[:n // 3]  # log of negatives: "invalid"
    view = np.empty(2 * n, dtype)[::2]
    view[...] = x
    calls = [lambda a, out: fn(a, 1.5, out=out)] * 2 + [lambda a, out: fn.bind(a, np.array(1.5, dtype), out=out)()] \
        + [lambda a, out: fn(a, 1.5)] * 2  # given outputs, plain then known; bound; new outputs, plain then known
    for call in calls:
        out = (np.empty(n, dtype), np.empty(n, dtype))
        results = []
        for array in (x, view):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                got = call(array, out)
            results.append(([g.copy() for g in got], [str(w.message) for w in caught]))
        (direct, direct_warnings), (ufunc, ufunc_warnings) = results
        for a, b in zip(direct, ufunc):
            np.testing.assert_array_equal(a, b)
        assert direct_warnings == ufunc_warnings
        assert ("invalid value encountered in elemgrad_gpu_kernel" in direct_warnings) == text.startswith("log")


def test_floating_point_errors_follow_np_errstate_in_every_kind_of_call():
    fn = eg.compile("log(x)", orders=(0, 1), device="cpu")
    x, out = np.array([-1.0, 0.0, 2.0]), (np.empty(3), np.empty(3))
    calls = [lambda: fn(x), lambda: fn(x, out=out), fn.bind(x, out=out)]
    for call in calls * 2:  # the second time, the plain calls are known ones
        with np.errstate(all="raise"), pytest.raises(FloatingPointError, match="divide by zero"):
            call()
        with np.errstate(invalid="raise", divide="ignore"), pytest.raises(FloatingPointError, match="invalid value"):
            call()
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("error")
            value, slope = call()
        np.testing.assert_array_equal(value, [np.nan, -np.inf, np.log(2.0)])
        np.testing.assert_array_equal(slope, [-1.0, np.inf, 0.5])
        seen = []
        with np.errstate(all="call"):
            previous = np.seterrcall(lambda kind, flag: seen.append(kind))
            try:
                call()
            finally:
                np.seterrcall(previous)
        assert any("invalid" in kind for kind in seen) and any("divide" in kind for kind in seen)


def test_the_direct_loop_refuses_what_the_ufunc_must_convert():
    """The kernel module's own entry points run only native, aligned, C-contiguous arrays of
    the kernel's dtype, with writeable outputs apart from the inputs; anything else
    returns None, and the ufunc runs it."""
    fn = eg.compile("x * 2", orders=0, device="cpu")
    x = np.linspace(0, 1, 1001)
    fn(x)
    kernel = next(iter(fn._specializations.values())).kernel
    out, read_only = np.empty(1001), np.empty(1001)
    read_only.flags.writeable = False
    unaligned = np.zeros(1001 * 8 + 1, np.uint8)[1:].view(np.float64)
    assert not unaligned.flags.aligned
    refused = {"byte-swapped": (x.astype(">f8"), out), "float32": (x.astype(np.float32), out),
               "strided": (np.repeat(x, 2)[::2], out), "unaligned": (unaligned, out),
               "a list": (list(x), out), "byte-swapped output": (x, out.astype(">f8")),
               "read-only output": (x, read_only), "output is the input": (x, x), "another size": (x, out[:1000])}
    for name, (a, o) in refused.items():
        assert kernel._call(a, o) is None, name
    assert kernel._new((1001,), x.astype(">f8")) is None and kernel._new((1001,), x[:1000]) is None
    assert kernel._call(x, out) == 0
    np.testing.assert_array_equal(out, 2 * x)

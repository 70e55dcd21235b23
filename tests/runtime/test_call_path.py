"""The call path flows forward: specializations per dtype/ndim/single values, one Call made by
the slow path, the KnownCall made from it used by the fast path; kernels run and bind; Plans are frozen."""
import dataclasses
import inspect

import numpy as np
import pytest

import elemgrad_gpu as eg
from elemgrad_gpu import backends
from elemgrad_gpu.runtime import known_calls


def test_a_plan_is_frozen():
    fn = eg.compile("tanh(x)**2", device="cpu")
    plan = fn._specialization("float64", 1).plan
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.outputs = 2
    assert isinstance(plan.descriptions, tuple)


def test_the_slow_path_makes_one_call_record_and_the_fast_path_uses_what_it_became(monkeypatch):
    fn = eg.compile("x * mu", wrt="x", orders=(0, 1), device="cpu")
    slow, remembered = [], []
    checked, remember = fn._checked, known_calls.remember
    monkeypatch.setattr(fn, "_checked", lambda *a: slow.append(checked(*a)) or slow[-1])
    monkeypatch.setattr(known_calls, "remember", lambda call, *a: remembered.append(call) or remember(call, *a))
    x = np.linspace(0, 1, 7)
    for mu in (2.0, 3.0, 4.0):
        value, slope = fn(x, mu)
        np.testing.assert_array_equal(value, x * mu)
        np.testing.assert_array_equal(slope, np.full(7, mu))
    assert len(slow) == 1 and remembered == slow  # one Call, by the first call; the others took the fast path
    assert slow[0].shape == (7,) and slow[0].outputs is None


def test_kernels_run_and_bind_without_a_flag():
    fn = eg.compile("x + 1", orders=0, device="cpu")
    x, out = np.arange(4.0), np.empty(4)
    fn(x)
    kernel = fn._specialization("float64", 1).kernel
    assert "bound" not in inspect.signature(kernel.run).parameters
    np.testing.assert_array_equal(kernel.run([x], (4,))[0], x + 1)
    launch = kernel.bind([x], (4,), [out])
    x += 10
    launch()
    np.testing.assert_array_equal(out, x + 1)


def test_the_protocols_list_what_a_backend_and_a_kernel_owe():
    owed = {name for name, _ in inspect.getmembers(backends.Backend) if not name.startswith("_")}
    assert {"source", "load", "read", "cast", "signature", "check_placement", "to_host", "finisher",
            "computes_alike"} <= owed
    assert {"run", "bind", "prepare"} <= {n for n, _ in inspect.getmembers(backends.Kernel) if not n.startswith("_")}
    for name in backends.names():
        backend = backends.backend(name)
        missing = [m for m in owed | {"name", "hoists", "variant"} if not hasattr(type(backend), m)
                   and m != "array_type"]
        assert not missing, (name, missing)

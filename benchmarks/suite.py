"""What the CPU and GPU benchmark files share: the cases, their groups and extra_info, the check.

A case is one (function, order, dtype, n, tool); its group is one per (function, order,
dtype, n), so medians compare within a group. The tools themselves are
elemgrad_gpu.bench.peers's, the same that `elemgrad bench` runs.

    from suite import CPU_SIZES, cases, problem, run_case
"""
from __future__ import annotations

import math
import os
import sys
from functools import cache, lru_cache
from typing import Any, Mapping, NamedTuple

import numpy as np
import pytest

from elemgrad_gpu.bench.peers import FUNCTIONS, TOOLS, Call, agreement, as_numpy, reference

ORDER_NAMES = {1: "vg", 2: "vgh"}  # value + first derivative; value + first + second
RTOL = {"float64": 1e-12, "float32": 1e-5}
LARGE = 10 ** 8  # on the CPU, cases of this size carry the `large` marker: opt-in with --bench-large
CPU_SIZES = dict.fromkeys(("float64", "float32"), (10 ** 3, 10 ** 4, 10 ** 5, 10 ** 6, 10 ** 7, LARGE))
GPU_SIZES = {"float64": (10 ** 3, 2 ** 26), "float32": (10 ** 3, 2 ** 27)}  # 512 MiB of input at the larger
CHECKED_POINTS = 2 ** 20  # larger results are checked at every k-th element: about this many points
MAY_FAIL_TO_COMPILE = {"torch.compile"}  # a failure there skips, saying why; elsewhere it fails


class Case(NamedTuple):
    """One benchmark: a tool computing a function's value and derivatives up to order."""

    function: str
    order: int
    dtype: str
    n: int
    tool: str

    @property
    def group(self) -> str:
        """tanh2 vg float64 n=10^3: the tools of one group compare with each other."""
        return f"{self.function} {ORDER_NAMES[self.order]} {self.dtype} n={size_label(self.n)}"

    @property
    def id(self) -> str:
        return f"{self.function}-{ORDER_NAMES[self.order]}-{self.dtype}-{size_label(self.n)}-{self.tool}"


def size_label(n: int) -> str:
    """10^3, 2^27, or 3,000: a size as people read it."""
    for base in (10, 2):
        power = round(math.log(n, base))
        if base ** power == n and power > 1:
            return f"{base}^{power}"
    return f"{n:,}"


def cases(sizes: Mapping[str, tuple[int, ...]], tools: tuple[str, ...], large: int | None = None) -> list:
    """pytest params of every function, order, dtype, size (sizes[dtype]) and tool, the tool varying fastest.

    Tools vary fastest so that one input and reference (``problem``) serve a whole group.
    Sizes from ``large`` up carry the `large` marker (opt-in: --bench-large).
    """
    every = [Case(name, order, dtype, n, tool) for name, function in FUNCTIONS.items()
             for order in sorted(function.by_hand) for dtype in sizes for n in sizes[dtype] for tool in tools]
    return [pytest.param(case, id=case.id, marks=[pytest.mark.large] * (large is not None and case.n >= large)) for case in every]


def sample(n: int) -> slice:
    """The elements of an n-element result that are checked: all, or every k-th for about CHECKED_POINTS.

    A closed-form float64 reference at every element of n = 2^27 takes longer than all
    the timed calls of its group; evenly spaced points still catch a wrong formula.
    """
    return slice(None, None, max(1, n // CHECKED_POINTS))


@lru_cache(maxsize=1)  # one group's input and reference at a time
def problem(function: str, order: int, dtype: str, n: int) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """x = linspace(-4, 4, n) in dtype, and the closed-form float64 reference at x[sample(n)]."""
    x = np.linspace(-4, 4, n, dtype=dtype)
    return x, reference(FUNCTIONS[function], x[sample(n)], order)


@cache
def _builder(tool: str, function: str, dtype: str, order: int, options: tuple) -> Any:
    module, build = TOOLS[tool]
    pytest.importorskip(module, reason=f"{module} is not installed")
    return build(FUNCTIONS[function], dtype, order, **dict(options))


def bound(case: Case, x: Any, **options) -> Call:
    """The case's tool, built once per function, dtype and order, bound to x and called once.

    The first call compiles where a tool compiles lazily (JAX, torch.compile), so the
    timed calls that follow leave compilation out.
    """
    call = _builder(case.tool, case.function, case.dtype, case.order, tuple(sorted(options.items())))(x)
    try:
        call()
    except Exception as error:
        if case.tool not in MAY_FAIL_TO_COMPILE:
            raise
        pytest.skip(f"{case.tool} fails on this machine: {type(error).__name__}: {str(error).splitlines()[0]}")
    return call


def record(benchmark, case: Case, **extra) -> None:
    """Group the benchmark and say in extra_info what it is: bytes moved, tool version, threads."""
    function, itemsize = FUNCTIONS[case.function], np.dtype(case.dtype).itemsize
    module = TOOLS[case.tool][0] if case.tool in TOOLS else case.tool.split()[0]  # "pytensor full Jacobian ..."
    benchmark.group = case.group
    benchmark.extra_info.update(
        function=case.function, expression=function.expression, derivatives=ORDER_NAMES[case.order],
        dtype=case.dtype, n=case.n, tool=case.tool, version=getattr(sys.modules.get(module), "__version__", "?"),
        # inputs read once (x and the scalar parameters) + outputs written once
        bytes=(case.n * (case.order + 2) + len(function.params)) * itemsize, usable_cpus=len(os.sched_getaffinity(0)))
    if module == "torch":
        benchmark.extra_info["torch_threads"] = sys.modules["torch"].get_num_threads()
    benchmark.extra_info.update(extra)


def check(result: Any, want: tuple[np.ndarray, ...], dtype: str) -> None:
    """Fail unless result, at sample(len), matches the closed form (RTOL[dtype], see agreement) in its dtype."""
    got = [as_numpy(a[sample(len(a))]) for a in result]
    assert [a.dtype.name for a in got] == [dtype] * len(got), f"outputs in {[a.dtype.name for a in got]}, not {dtype}"
    verdict = agreement(got, want, RTOL[dtype])
    assert verdict == "ok", verdict


def run_case(benchmark, case: Case, timed, extra: dict | None = None, **options) -> None:
    """Bind, warm up, record, time with ``timed(benchmark, call)``, and check the result of the timed calls."""
    x, want = problem(case.function, case.order, case.dtype, case.n)
    call = bound(case, x, **options)
    record(benchmark, case, **(extra or {}))
    check(timed(benchmark, call), want, case.dtype)

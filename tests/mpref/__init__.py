"""mpmath references for every row of the vocabulary, one module per family of functions.

Each module of this package defines ``REFERENCES: dict[str, Ref]``, keyed by a row's name
(expr/vocabulary.py); ``ALL`` merges them. tests/expr/test_vocabulary_mpmath.py walks every
row of the vocabulary, fails for a row without a reference here, and compares orders 0 to 2
(every partial in the differentiable arguments) with these references at 40 digits.
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Callable


@dataclass(frozen=True)
class Ref:
    """How to check one function against mpmath."""

    mp: Callable  # the function of mpmath numbers (mpf in, mpf out), evaluated at mp.dps = 40
    domain: tuple[tuple[float, float], ...]  # per argument (or per argument that is no literal): the interval
    differentiable: tuple[int, ...] | None = None  # argument positions differentiated; None: all but ``literal``
    literal: dict[int, tuple] = field(default_factory=dict)  # position -> integer literals tried (polygamma's n)
    points: int = 6  # sample points per argument (log-spaced where an interval has one sign and spans > 100x);
    # the walk takes the product grid of the arguments' points: keep it small for 3 arguments
    # (args, index) -> the mpf derivative, where mpmath.diff cannot take it (or a closed form is at hand):
    # args as passed to ``mp`` (literals as int), index the argument positions differentiated by, sorted,
    # one per order: (0,) is d/da0, (0, 1) d2/da0 da1, (1, 1) d2/da1^2
    derivatives: Callable | None = None
    f32: bool = True  # walked in float32 too
    tol64: float = 1e-12  # |got - ref| / max(1, |ref|) allowed in float64
    tol32: float = 1e-5  # and in float32
    note: str = ""  # why a tolerance or domain differs from the default, for the docs
    form: str = ""  # the expression written with {0}, {1}, ... for the arguments ("where({0} > 0, {1}, {2})");
    # "" is the row's name called on them


TOOLS = ("walk", "table")  # modules of this package that use the references rather than define them


def _collect() -> dict[str, Ref]:
    merged: dict[str, Ref] = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name in TOOLS:
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for name, ref in getattr(module, "REFERENCES", {}).items():
            assert name not in merged, f"two references for {name}"
            merged[name] = ref
    return merged


ALL: dict[str, Ref] = _collect()

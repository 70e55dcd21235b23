"""The walk of one vocabulary row against its mpmath reference: sample points, compile, compare.

Used by tests/expr/test_vocabulary_mpmath.py (which asserts the tolerances) and by
tests/mpref/table.py (which writes the measured errors into docs/EXPRESSIONS.md).

A row's expression is compiled once, with every partial derivative of orders 0 to 2 in its
differentiable arguments, and called once on the points of a product grid of each argument's
samples (one compile per combination of literal arguments, such as polygamma's order). The
reference of each point is mpmath at 40 digits, taken at the points as rounded to the dtype.
The error of a point is |got - ref| / max(1, |ref|); where the reference, rounded to the dtype,
is not finite, the result must be that same inf or NaN.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import cache

import mpmath
import numpy as np

from mpref import Ref

DPS = 40
NAMES = "xyzwuv"  # the inputs, given in order to the arguments that are not literals


@dataclass(frozen=True)
class Case:
    """One compiled expression of a row: its text, its inputs and the partials asked for."""

    text: str
    literals: dict[int, int]  # position -> the literal written there
    inputs: tuple[int, ...]  # argument positions that are inputs, named NAMES[0], NAMES[1], ...
    indices: tuple[tuple[int, ...], ...]  # () and the sorted argument positions of each partial


@dataclass
class Measured:
    """The worst error of one row in one dtype, and where it was."""

    error: float = 0.0
    where: str = ""


def samples(interval: tuple[float, float], count: int) -> np.ndarray:
    """``count`` points of ``interval``: log-spaced where it has one sign and spans more than 100x."""
    low, high = interval
    if low > 0 and high > 100 * low:
        return np.geomspace(low, high, count)
    if high < 0 and low < 100 * high:
        return -np.geomspace(-high, -low, count)
    return np.linspace(low, high, count)


def intervals(ref: Ref, arity: int) -> dict[int, tuple[float, float]]:
    """The interval of each input position: ``ref.domain`` has one per argument (a literal's is ignored)
    or one per input (the arguments that are not literals), in order."""
    inputs = [p for p in range(arity) if p not in ref.literal]
    if len(ref.domain) == arity:
        return {p: tuple(ref.domain[p]) for p in inputs}
    assert len(ref.domain) == len(inputs), (f"one interval per argument ({arity}) or per argument that is not "
                                            f"a literal ({len(inputs)}), not {len(ref.domain)}")
    return {p: tuple(interval) for p, interval in zip(inputs, ref.domain)}


def differentiable(ref: Ref, arity: int) -> tuple[int, ...]:
    """The argument positions a row is differentiated by."""
    if ref.differentiable is not None:
        return ref.differentiable
    return tuple(p for p in range(arity) if p not in ref.literal)


def cases(name: str, ref: Ref, arity: int) -> list[Case]:
    """One case per combination of literal arguments, each with every partial of orders 0 to 2."""
    inputs = tuple(p for p in range(arity) if p not in ref.literal)
    wrt = differentiable(ref, arity)
    indices = ((),) + tuple(c for k in (1, 2) for c in itertools.combinations_with_replacement(wrt, k))
    result = []
    for values in itertools.product(*(ref.literal[p] for p in sorted(ref.literal))):
        literals = dict(zip(sorted(ref.literal), values))
        words = [str(literals[p]) if p in literals else NAMES[inputs.index(p)] for p in range(arity)]
        text = ref.form.format(*words) if ref.form else f"{name}({', '.join(words)})"
        result.append(Case(text, literals, inputs, indices))
    return result


def grid(ref: Ref, case: Case, dtype: str) -> list[np.ndarray]:
    """The product grid of the inputs' samples, one flat array per input, rounded to ``dtype``."""
    domain = intervals(ref, len(case.inputs) + len(case.literals))
    axes = [samples(domain[p], ref.points) for p in case.inputs]
    mesh = np.meshgrid(*axes, indexing="ij")
    return [m.ravel().astype(dtype) for m in mesh]


def partial(function, args: list, orders: list[int]):
    """The partial derivative of ``orders`` (one per argument) by nested central differences, each
    step relative to its argument's size (mpmath's own steps are absolute, too small past 2**150)."""
    position = next((p for p, k in enumerate(orders) if k), None)
    if position is None:
        return function(*args)
    rest = [0 if p == position else k for p, k in enumerate(orders)]

    def along(t):
        moved = list(args)
        moved[position] = t
        return partial(function, moved, rest)

    step = mpmath.ldexp(max(mpmath.mpf(1), abs(args[position])), -mpmath.mp.prec - 10)
    return mpmath.diff(along, args[position], orders[position], h=step)


def real(value) -> float:
    """A reference as a float: NaN where mpmath's result is not real."""
    value = mpmath.mpmathify(value)
    if isinstance(value, mpmath.mpc):
        return float(value.real) if value.imag == 0 else float("nan")
    return float(value)


def reference(ref: Ref, case: Case, point: tuple[float, ...], index: tuple[int, ...]) -> float:
    """The reference of one partial (``index``, positions) at one point of the inputs."""
    with mpmath.workdps(DPS):
        args: list = [0] * (len(case.inputs) + len(case.literals))
        for p, value in case.literals.items():
            args[p] = value
        for p, value in zip(case.inputs, point):
            args[p] = mpmath.mpf(value)
        if not index:
            return real(ref.mp(*args))
        if ref.derivatives is not None:
            return real(ref.derivatives(tuple(args), index))
        orders = [index.count(p) for p in range(len(args))]
        return real(partial(ref.mp, args, orders))


_REFERENCES: dict[tuple[int, str, str], tuple[Ref, tuple[np.ndarray, ...]]] = {}  # (id(ref), text, dtype) ->


def references(ref: Ref, case: Case, dtype: str) -> tuple[np.ndarray, ...]:
    """The references of every partial of ``case`` at its grid in ``dtype``: computed once per run and Ref."""
    key = (id(ref), case.text, dtype)
    if key not in _REFERENCES or _REFERENCES[key][0] is not ref:  # the Ref kept: its id is not reused
        points = list(zip(*(column.astype(float).tolist() for column in grid(ref, case, dtype))))
        _REFERENCES[key] = ref, tuple(np.array([reference(ref, case, point, index) for point in points])
                                      for index in case.indices)
    return _REFERENCES[key][1]


@cache
def compiled(text: str, indices: tuple[tuple[str, ...], ...]):
    """The compiled function of ``text`` (once per run, for both dtypes)."""
    import elemgrad_gpu as eg

    return eg.compile(text, derivatives=list(indices), device="cpu")


def errors(got: np.ndarray, want: np.ndarray, dtype: str) -> np.ndarray:
    """|got - want| / max(1, |want|); 0 where want, rounded to ``dtype``, is non-finite and got is it, else inf."""
    with np.errstate(all="ignore"):
        rounded = want.astype(dtype)
        finite = np.isfinite(rounded)
        got = got.astype(np.float64)
        scaled = np.abs(got - want) / np.maximum(1.0, np.abs(want))
        same = (got == rounded) | (np.isnan(got) & np.isnan(rounded))
    return np.where(finite, np.where(np.isfinite(got), scaled, np.inf), np.where(same, 0.0, np.inf))


def walk(name: str, ref: Ref, arity: int, dtype: str) -> Measured:
    """Compile and compare every case of a row in ``dtype``; the worst error and where."""
    worst = Measured()
    for case in cases(name, ref, arity):
        columns = grid(ref, case, dtype)
        names = tuple(tuple(NAMES[case.inputs.index(p)] for p in index) for index in case.indices)
        with np.errstate(all="ignore"):
            results = compiled(case.text, names)(*columns)
        for index, got, want in zip(names, results, references(ref, case, dtype)):
            assert got.dtype == dtype, f"{case.text}: d/d{''.join(index)} is {got.dtype} for {dtype} inputs"
            error = errors(got, want, dtype)
            at = int(np.argmax(error))
            if error[at] > worst.error or not worst.where:
                point = ", ".join(f"{NAMES[i]}={float(c[at]):.17g}" for i, c in enumerate(columns))
                worst = Measured(float(error[at]), f"{case.text} d/d({','.join(index)}) at {point}: "
                                                   f"got {float(got[at])!r}, mpmath {float(want[at])!r}")
    return worst

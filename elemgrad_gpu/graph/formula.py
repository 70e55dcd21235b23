"""Print a simplified graph as a formula in the expression language.

``formula(output, names)`` writes ``2*tanh(x)*(1 - tanh(x)**2)`` rather than PyTensor's
``(2.0 * Tanh(x) * (1.0 - Sqr(Tanh(x))))``. Printed formulas of elementwise graphs parse
back with ``elemgrad_gpu.expr.parse``. Operations outside the language print as their
PyTensor name. Very long formulas (high orders of shared subexpressions) are cut at
``MAX_CHARS`` characters.
"""
from __future__ import annotations

import pytensor.scalar as ps
from pytensor.graph.basic import Constant, Variable
from pytensor.graph.traversal import graph_inputs, io_toposort
from pytensor.tensor.elemwise import Elemwise

from elemgrad_gpu.expr.vocabulary import FUNCTIONS
from elemgrad_gpu.graph.fuse import passes_first

MAX_CHARS = 4000
ATOM, POWER, UNARY, PRODUCT, SUM, COMPARISON = 6, 5, 4, 3, 2, 1

_INFIX = {ps.Add: (" + ", SUM), ps.Mul: ("*", PRODUCT), ps.Sub: (" - ", SUM), ps.TrueDiv: ("/", PRODUCT),
          ps.Pow: ("**", POWER), ps.GT: (" > ", COMPARISON), ps.GE: (" >= ", COMPARISON),
          ps.LT: (" < ", COMPARISON), ps.LE: (" <= ", COMPARISON), ps.EQ: (" == ", COMPARISON),
          ps.NEQ: (" != ", COMPARISON)}
# scalar op class name -> the language's name, where the op's own name differs (the vocabulary's rows say)
_NAMES = {op_class: row.name for row in FUNCTIONS for op_class in row.printed}
_PASS = (ps.Identity, ps.Cast)
# Subclasses that compute as their base (kinks.py: other derivatives) print as it.
_BASES = (ps.Pow, ps.Maximum, ps.Minimum)


def _number(value) -> str:
    value = float(value)
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


def _wrap(piece: tuple[str, int], level: int) -> str:
    text, own = piece
    return f"({text})" if own < level else text


def _apply(op: ps.ScalarOp, args: list[tuple[str, int]]) -> tuple[str, int]:
    kind = next((base for base in _BASES if isinstance(op, base)), type(op))
    if kind is ps.Mul:
        negative = ("-1", UNARY) in args
        args = _powers([a for a in args if a not in (("1", ATOM), ("-1", UNARY))]) or [("1", ATOM)]
        if negative:
            return f"-{_wrap(_apply(op, args), PRODUCT)}", UNARY
    if kind in _INFIX:
        symbol, level = _INFIX[kind]
        if kind is ps.Pow:  # right-associative
            return f"{_wrap(args[0], POWER + 1)}**{_wrap(args[1], POWER)}", POWER
        tight = level + (kind in (ps.Sub, ps.TrueDiv) or level == COMPARISON)
        first, *rest = args
        text = _wrap(first, level)
        for arg in rest:
            term = _wrap(arg, tight)
            text += f" - {term[1:]}" if kind is ps.Add and term.startswith("-") else symbol + term
        return text, level
    if kind is ps.Neg:
        return f"-{_wrap(args[0], POWER)}", UNARY
    if kind is ps.Sqr:
        return f"{_wrap(args[0], POWER + 1)}**2", POWER
    if kind is ps.Second:
        return args[1]
    if isinstance(op, _PASS):
        return args[0]
    if kind is ps.Composite:
        return _inline(op, args)
    if kind is ps.Switch and (named := _removable(args)):
        return named, ATOM
    if getattr(op, "n", None) is not None and type(op).__name__ == "PolyGamma":
        return (f"digamma({args[0][0]})" if op.n == 0 else f"polygamma({op.n}, {args[0][0]})"), ATOM
    if hasattr(op, "printed_call"):  # an op with a literal argument prints it: expn(2, x) (graph/hypergeometric.py)
        return op.printed_call([text for text, _ in args]), ATOM
    name = _NAMES.get(kind.__name__) or op.name or kind.__name__.lower()
    return f"{name}({', '.join(text for text, _ in args)})", ATOM


# sinc and exprel (graph/removable.py) are where(abs(a) < R, SERIES(.. guard(a) ..), closed form)
_REMOVABLE = {"sinc_series(": "sinc", "exprel_series(": "exprel"}


def _removable(args: list[tuple[str, int]]) -> str | None:
    """The printed name of a removable-singularity function's value, e.g. ``sinc(1 + 2*x)``."""
    (condition, _), (near, _) = args[0], args[1]
    for series, name in _REMOVABLE.items():
        if near.startswith(series) and condition.startswith("abs(") and ") < " in condition:
            return f"{name}({condition[len('abs('):condition.rindex(') < ')]})"
    return None


def _powers(factors: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """Repeated factors of a product as powers: ``t*t*u`` -> ``t**2*u``."""
    counts: dict[tuple[str, int], int] = {}
    for factor in factors:
        counts[factor] = counts.get(factor, 0) + 1
    return [factor if k == 1 else (f"{_wrap(factor, POWER + 1)}**{k}", POWER) for factor, k in counts.items()]


def _inline(op: ps.Composite, args: list[tuple[str, int]]) -> tuple[str, int]:
    """A (single-output) Composite's inner graph, printed over its arguments."""
    pieces = dict(zip(op.fgraph.inputs, args))
    for node in op.fgraph.toposort():
        pieces[node.outputs[0]] = _apply(node.op, [pieces.setdefault(v, _leaf(v)) for v in node.inputs])
    return pieces[op.fgraph.outputs[0]]


def formula(output: Variable, names: dict[Variable, str]) -> str:
    """``output`` as a formula whose free names are ``names`` of the graph's inputs."""
    pieces: dict[Variable, tuple[str, int]] = {v: (name, ATOM) for v, name in names.items()}
    for node in io_toposort(list(graph_inputs([output])), [output]):
        args = [pieces.setdefault(v, _leaf(v)) for v in node.inputs]
        if isinstance(node.op, Elemwise):
            text, level = _apply(node.op.scalar_op, args)
        elif passes_first(node.op):
            text, level = args[0]
        else:  # outside the language, e.g. a reduction of an input not differentiated by
            text, level = f"{node.op}({', '.join(text for text, _ in args)})", ATOM
        for out in node.outputs:
            pieces[out] = (text if len(text) <= MAX_CHARS else text[:MAX_CHARS] + " ...", level)
    return pieces.get(output, _leaf(output))[0]


def _leaf(v: Variable) -> tuple[str, int]:
    if isinstance(v, (Constant, ps.ScalarConstant)) and v.data.size == 1:
        text = _number(v.data.reshape(-1)[0])
        return text, UNARY if text.startswith("-") else ATOM
    return str(v), ATOM

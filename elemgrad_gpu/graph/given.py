"""Graphs in: a PyTensor graph the user built over their own inputs, as f.

The seed's style, ``X = T.dvector("X"); f = 3 * X; eg.compile(f, wrt=X)``: f is a PyTensor
variable (or a list/tuple of them, compiled into one kernel). Its inputs are the graph's
root variables, in the order they first appear in the graph read from the first output,
left to right (``pytensor.graph.basic.graph_inputs``), unless ``inputs=`` lists them; each
input is called by its ``.name``. Constants stay constants. Shared variables are folded as
constants with the values they hold at compile time: a call after one of them changed is
refused (recompile, or make the value an input).

Each call signature (dtype, ndim) rebuilds the graph over fresh inputs of that dtype and
ndim, operation by operation: a ``dvector`` graph runs in float32 when called with
float32 arrays, and a scalar parameter beside a vector broadcasts as in NumPy. An input
given with more dimensions than its variable has is refused; an operation that cannot be
rebuilt for the call is refused with an error naming the dimensions the graph was built for.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from elemgrad_gpu.errors import InputError, InputTypeError

_NAME_HELP = "name it when you make it: pt.dvector('x')"


@dataclass(frozen=True, eq=False)
class Given:
    """The user's graph: its outputs, its root inputs (in call order) and its shared variables."""

    outputs: tuple  # the user's output variables
    inputs: tuple  # the user's root variables, in call order
    shared: tuple  # (shared variable, its value when compiled)

    def check_call(self, names: Sequence[str], arrays: Sequence) -> None:
        """Refuse an input given with more dimensions than its variable has."""
        for name, var, array in zip(names, self.inputs, arrays):
            if np.ndim(array) > var.type.ndim:
                raise InputError(f"input {name!r} is a {var.type.ndim}-d variable of the graph; got an array of "
                                 f"{np.ndim(array)} dimensions (shape {np.shape(array)})")

    def rebuild(self, new_inputs: Sequence) -> list:
        """The outputs over ``new_inputs`` (one per input, of the call's dtype and ndim),
        shared variables as constants."""
        import pytensor.tensor as pt

        memo = dict(zip(self.inputs, new_inputs))
        memo.update({var: pt.constant(value, dtype=var.type.dtype) for var, value in self.shared})
        try:
            return _rebuilt(self.outputs, memo)
        except (TypeError, ValueError, IndexError) as error:
            built = ", ".join(f"{v.name}: {v.type.ndim}-d" for v in self.inputs)
            got = ", ".join(f"{v.name}: {v.type.ndim}-d {v.type.dtype}" for v in new_inputs)
            raise InputError(f"the graph, built for inputs of ({built}), cannot be rebuilt for inputs of ({got}): "
                             f"{type(error).__name__}: {error}; call it with inputs of the dimensions it was "
                             f"built for") from None

    def check_unchanged(self) -> None:
        """Refuse a call after a shared variable of the graph changed its value."""
        for var, value in self.shared:
            now = var.get_value(borrow=True)
            if now is not value and not (np.shape(now) == np.shape(value) and np.array_equal(now, value)):
                raise InputError(f"the shared variable {var.name or var} changed after the function was compiled "
                                 f"(its value was folded in as a constant): compile again, or make it an input")


def _rebuilt(outputs: Sequence, memo: dict) -> list:
    """``outputs`` made again over the replacements in ``memo`` (old variable -> new), each
    operation by its ``make_node`` (the dtype follows the new inputs). An input declared with
    fewer dimensions than the call's (a scalar mu beside a vector x) is replaced by one of the
    call's ndim, so the graph's ``dimshuffle`` that only broadcast it is dropped: the new input
    broadcasts by itself."""
    from pytensor.tensor.elemwise import DimShuffle

    from elemgrad_gpu.compat import io_toposort

    for node in io_toposort(list(memo), list(outputs)):
        operands = [memo.get(v, v) for v in node.inputs]
        if all(a is b for a, b in zip(operands, node.inputs)):
            continue
        op = node.op
        if isinstance(op, DimShuffle) and _only_broadcasts(op) and operands[0].type.ndim == node.outputs[0].ndim:
            memo[node.outputs[0]] = operands[0]
            continue
        made = op.make_node(*operands)
        memo.update(zip(node.outputs, made.outputs))
    return [memo.get(v, v) for v in outputs]


def _only_broadcasts(op) -> bool:
    """Whether a DimShuffle only inserts broadcast dimensions, keeping the others in order."""
    kept = [d for d in op.new_order if d != "x"]
    return kept == list(range(op.input_ndim))


def is_graph(f: Any) -> bool:
    """Whether ``f`` is a PyTensor variable or a non-empty list/tuple of them (PyTensor is
    imported only for something that could be one: a string or a function needs no import)."""
    items = f if isinstance(f, list | tuple) else (f,)
    if not items or not all(type(v).__module__.startswith("pytensor") for v in items):
        return False
    try:
        from pytensor.graph.basic import Variable
    except ImportError:  # pragma: no cover - PyTensor is a dependency
        return False
    return all(isinstance(v, Variable) for v in items)


def given(f: Any, inputs: Sequence | None) -> Given:
    """The ``Given`` of the variable(s) ``f`` over ``inputs`` (default: its root variables)."""
    import pytensor.tensor as pt
    from pytensor.compile.sharedvalue import SharedVariable
    from pytensor.graph.basic import Constant

    outputs = tuple(f) if isinstance(f, list | tuple) else (f,)
    for out in outputs:
        if not isinstance(out.type, pt.TensorType):
            raise InputTypeError(f"f must be tensor variables; {out} is a {type(out.type).__name__}")
    found = _roots(outputs)
    roots = [v for v in found if not isinstance(v, Constant | SharedVariable)]
    shared = tuple((v, v.get_value(borrow=False)) for v in found if isinstance(v, SharedVariable))
    chosen = roots if inputs is None else _chosen_inputs(inputs, roots)
    for var in chosen:
        if not var.name:
            raise InputError(f"an input of the graph has no name ({var.type}): {_NAME_HELP}")
    names = [v.name for v in chosen]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InputError(f"two inputs of the graph are named {twice[0]!r}: the inputs are called by name, so "
                         f"give them different names")
    return Given(outputs, tuple(chosen), shared)


def _roots(outputs: Sequence) -> list:
    """The variables computed from nothing, in the order a left-to-right walk meets them:
    for ``-(x - mu)**2 / (2*s**2)`` x, mu, s."""
    seen, roots, stack = set(), [], list(reversed(outputs))
    while stack:
        var = stack.pop()
        if var in seen:
            continue
        seen.add(var)
        if var.owner is None:
            roots.append(var)
        else:
            stack.extend(reversed(var.owner.inputs))
    return roots


def _chosen_inputs(inputs: Sequence, roots: list) -> list:
    """``inputs=``: root variables of the graph (or their names), each once."""
    from pytensor.graph.basic import Variable

    if isinstance(inputs, str | Variable):
        inputs = [inputs]
    by_name = {v.name: v for v in roots if v.name}
    chosen = []
    for item in inputs:
        var = by_name.get(item) if isinstance(item, str) else item
        if not isinstance(var, Variable) or var not in roots:
            what = repr(item) if isinstance(item, str) else (getattr(item, "name", None) or repr(item))
            raise InputError(f"inputs names {what}, which is not a root variable of the graph (one not computed "
                             f"from others); the graph's inputs are {', '.join(v.name or str(v) for v in roots)}")
        chosen.append(var)
    missing = [v for v in roots if v not in chosen]
    if missing:
        raise InputError(f"the graph also depends on {', '.join(v.name or str(v) for v in missing)}: list every "
                         f"input in inputs=")
    return chosen

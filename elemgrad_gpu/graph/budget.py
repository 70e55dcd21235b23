"""Budget: bounded memory and time to build, differentiate and simplify a graph.

Three guards keep every accepted input from taking minutes or gigabytes to compile:

* ``no_stack_traces()``: PyTensor records where each variable was made (``tag.trace``)
  and its rewrites concatenate the traces of the variables they replace, so each
  nested ``where`` doubled them: memory grew exponentially with the nesting. Within
  this context PyTensor records none (``traceback__limit=0``): memory grows with the
  graph only.
* ``max_derivative_nodes`` (``[elemgrad]`` key; default ``MAX_DERIVATIVE_NODES``): the
  operations of the graphs being compiled beyond those of the function itself,
  predicted before each order of differentiation, counted after it and, while PyTensor
  simplifies them, after every change.
* ``max_compile_seconds`` (``[elemgrad]`` key; default ``MAX_COMPILE_SECONDS``): the
  time differentiating and simplifying may take, checked at the same points.

Past either budget, compiling stops with an ``ExpressionError`` that names the budget,
what was reached and what to do. A simplification is stopped from inside PyTensor's
rewriter by ``_OverBudget``, a ``BaseException``: its rewriters catch every
``Exception`` a rewrite raises (to log it and go on), not this one.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator, Sequence

from elemgrad_gpu.config import setting
from elemgrad_gpu.errors import ExpressionError

if TYPE_CHECKING:
    from pytensor.graph.basic import Variable

MAX_DERIVATIVE_NODES = 6_000
MAX_COMPILE_SECONDS = 15.0
_ADVICE = ("ask for a lower order or fewer derivatives, simplify the expression, or raise the budget "
           "with the [elemgrad] key {key} (THEANORC or THEANO_FLAGS=elemgrad__{key}=...)")


@contextmanager
def no_stack_traces() -> Iterator[None]:
    """PyTensor records no creation stack trace on the variables made within."""
    import pytensor

    with pytensor.config.change_flags(traceback__limit=0):
        yield


class _OverBudget(BaseException):
    """Stops a PyTensor rewrite from inside (see the module docstring); carries our error."""

    def __init__(self, error: ExpressionError):
        super().__init__(str(error))
        self.error = error


class Budget:
    """The node and time budget of one compile, started when it is made."""

    def __init__(self) -> None:
        self.max_nodes = int(setting("elemgrad", "max_derivative_nodes") or MAX_DERIVATIVE_NODES)
        self.max_seconds = float(setting("elemgrad", "max_compile_seconds") or MAX_COMPILE_SECONDS)
        self.deadline = time.monotonic() + self.max_seconds
        self._made: dict[tuple[str, ...], tuple[int, float]] = {}  # derivative -> (operations, seconds)
        self.base = 0  # the operations of the function itself, allowed beyond max_nodes

    def record(self, index: tuple[str, ...], derivative: Variable, seconds: float) -> None:
        """Note the size of the derivative ``index`` and how long its gradient took; the
        function itself (``index`` ``()``) is allowed on top of the budget."""
        self._made[index] = (count_operations([derivative], max(10 * self.max_nodes, 10 ** 5)), seconds)
        if not index:
            self.base = self._made[index][0]

    def expect(self, index: tuple[str, ...]) -> None:
        """Refuse the derivative ``index`` before PyTensor makes it (one gradient is not
        interrupted) when the growth of the orders before it says it would pass the budget:
        each order multiplies the operations, and the gradient's time, by about as much
        as the order before did."""
        parent, grandparent = self._made.get(index[:-1]), self._made.get(index[:-2])
        if len(index) < 2 or parent is None or grandparent is None:
            return
        growth = parent[0] / max(grandparent[0], 1)
        nodes, seconds = int(parent[0] * growth), 1.5 * parent[1] * growth  # time grows faster
        stage = f"the derivative graph of order {len(index)}"
        if nodes > self.max_nodes + self.base:
            raise ExpressionError(
                f"{stage} would have about {nodes:,} operations (order {len(index) - 1} has {parent[0]:,}), over "
                f"the budget of {self.max_nodes:,} (max_derivative_nodes): "
                + _ADVICE.format(key="max_derivative_nodes"))
        if time.monotonic() + seconds > self.deadline:
            raise ExpressionError(
                f"{stage} would take about {seconds:.1f} s more to build (order {len(index) - 1} took "
                f"{parent[1]:.1f} s), past the budget of {self.max_seconds:g} s (max_compile_seconds): "
                + _ADVICE.format(key="max_compile_seconds"))

    def check_graph(self, outputs: Sequence[Variable], stage: str) -> None:
        """Refuse when the graphs of ``outputs`` have too many operations or time is up."""
        self.check(count_operations(outputs, self.max_nodes + self.base), stage)

    def check(self, nodes: int, stage: str) -> None:
        if nodes > self.max_nodes + self.base:
            beyond = f" beyond the {self.base:,} of the function itself" if self.base else ""
            raise ExpressionError(
                f"{stage} has more than {self.max_nodes + self.base:,} operations, over the budget of "
                f"{self.max_nodes:,} (max_derivative_nodes){beyond}: " + _ADVICE.format(key="max_derivative_nodes"))
        if time.monotonic() > self.deadline:
            raise ExpressionError(
                f"{stage} took more than {self.max_seconds:g} s to build, over the budget of "
                f"{self.max_seconds:g} s (max_compile_seconds): " + _ADVICE.format(key="max_compile_seconds"))

    def feature(self, stage: str):
        """A FunctionGraph feature that stops a rewrite of the graph past the budget."""
        from pytensor.graph.features import Feature

        budget = self

        class Guard(Feature):
            def on_import(self, fgraph, node, reason):
                self._check(fgraph)

            def on_change_input(self, fgraph, node, i, var, new_var, reason=None):
                self._check(fgraph)

            @staticmethod
            def _check(fgraph) -> None:
                try:
                    budget.check(len(fgraph.apply_nodes), stage)
                except ExpressionError as error:
                    raise _OverBudget(error) from None

        return Guard()


def count_operations(outputs: Sequence[Variable], limit: int) -> int:
    """The distinct operations computing ``outputs``, counted up to ``limit + 1`` (then it stops)."""
    seen = set()
    stack = [v.owner for v in outputs if v.owner is not None]
    while stack and len(seen) <= limit:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        stack.extend(v.owner for v in node.inputs if v.owner is not None and v.owner not in seen)
    return len(seen)


def over_budget(error: BaseException) -> ExpressionError | None:
    """Our error, when ``error`` stopped a rewrite for the budget."""
    return error.error if isinstance(error, _OverBudget) else None


def check_polygamma_orders(y: Variable, inputs: dict[str, Variable], indices: Sequence[tuple[str, ...]]) -> None:
    """Refuse, before differentiating, derivatives that would need polygamma of an order past
    ``special.MAX_ORDER``: differentiating ``polygamma(n, u)`` by an input ``u`` depends on
    gives ``polygamma(n + 1, u)``, so a derivative of order k in those inputs reaches n + k."""
    from elemgrad_gpu.graph.special import MAX_ORDER

    for n, depends in _polygammas(y, inputs):
        k = max((sum(name in depends for name in index) for index in indices), default=0)
        if n + k > MAX_ORDER:
            raise ExpressionError(
                f"the function has polygamma({n}, .) of {', '.join(sorted(depends))}; its derivative of order {k} "
                f"is polygamma({n + k}, .), past the largest order supported, {MAX_ORDER}: ask for derivatives of "
                f"order at most {max(MAX_ORDER - n, 0)} in {', '.join(sorted(depends))}")


def _polygammas(y: Variable, inputs: dict[str, Variable]) -> Iterator[tuple[int, frozenset[str]]]:
    """(n, the input names its argument depends on) of each polygamma(n, .) in y's graph
    (digamma: n = 0, trigamma: 1), in one pass over the graph in order."""
    from pytensor.graph.traversal import io_toposort
    from pytensor.tensor.elemwise import Elemwise

    depends: dict[Variable, frozenset[str]] = {v: frozenset((name,)) for name, v in inputs.items()}
    none: frozenset[str] = frozenset()
    for node in io_toposort(list(inputs.values()), [y]):
        used = none.union(*(depends.get(v, none) for v in node.inputs))
        for out in node.outputs:
            depends[out] = used
        n = _polygamma_order(node) if isinstance(node.op, Elemwise) else None
        if n is not None and used:
            yield n, depends.get(node.inputs[-1], none)


def _polygamma_order(node) -> int | None:
    """n for an elementwise polygamma(n, .) (ours or PyTensor's, of constant order), else None."""
    from pytensor.scalar.math import PolyGamma as PyTensorPolyGamma
    from pytensor.scalar.math import Psi, TriGamma

    from elemgrad_gpu.graph.special import PolyGamma, _order

    op = node.op.scalar_op
    if isinstance(op, PolyGamma):
        return op.n
    if isinstance(op, Psi | TriGamma):
        return int(isinstance(op, TriGamma))
    if isinstance(op, PyTensorPolyGamma):
        try:
            return _order(node.inputs[0])
        except ValueError:
            return None
    return None

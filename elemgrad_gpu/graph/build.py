"""Build: turn what the user wrote (a callable or an expression string) into a graph.

A ``Source`` knows its input names and traces itself over symbolic PyTensor tensors of
a given dtype and ndim (PyTensor is imported then, not before: a stored plan needs no
trace). Python float literals in a callable become constants of the traced dtype, so a
float32 trace stays float32.

Strings are bounded by the parser's limits (``elemgrad_gpu.expr.parse``). The graph a
callable builds is bounded after tracing, before anything else walks it:

* ``MAX_GRAPH_DEPTH`` (100, as for strings): operations on the longest chain from an
  input or constant to the output. PyTensor's gradient recurses along such chains,
  about three Python frames per operation: with its recursion limit of 3,000 a first
  derivative fails near 1,000 operations, a second near 400, a third near 250.
* ``MAX_GRAPH_NODES`` (20,000, as for strings): distinct operations. Compiling the
  first derivative of 15,000 takes about a minute.

The check is iterative and stops as soon as a limit is passed, so it costs at most
about ``MAX_GRAPH_NODES`` steps however large the graph.
"""
from __future__ import annotations

import inspect
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

from elemgrad_gpu.errors import ElemgradError, ExpressionError, InputError, InputTypeError
from elemgrad_gpu.expr.names import canonical
from elemgrad_gpu.expr.parse import Expression, parse

if TYPE_CHECKING:
    from elemgrad_gpu.graph.given import Given
    from pytensor.graph.basic import Apply
    from pytensor.tensor.variable import TensorVariable

MAX_GRAPH_DEPTH = 100
MAX_GRAPH_NODES = 20_000
_SPLIT = ("split the computation: compile the inner part as its own function and pass its value (and "
          "derivatives, by the chain rule) to the outer one as inputs")


@dataclass(frozen=True)
class Source:
    """A function to differentiate: a callable or a parsed expression string."""

    names: tuple[str, ...]
    callable: Callable | None = None
    expression: Expression | None = None
    given: Given | None = None  # a PyTensor graph of the user's own inputs (given.py)

    @property
    def ndim(self) -> int:
        """The dimensions of the inputs traced before any call: a graph's own (its inputs'
        largest ndim), else 1."""
        return max(v.type.ndim for v in self.given.inputs) if self.given is not None else 1

    @property
    def n_outputs(self) -> int:
        """How many functions are differentiated: several for a list of graph outputs."""
        return len(self.given.outputs) if self.given is not None else 1

    @property
    def is_string(self) -> bool:
        return self.expression is not None

    def trace(self, dtype: str, ndim: int = 0, shapes: Sequence[tuple] | None = None
              ) -> tuple[list[TensorVariable], TensorVariable]:
        """Symbolic inputs (one per name, of ``dtype`` and ``ndim``, or of the static ``shapes``
        given per input, None for an unknown length) and the output over them."""
        if self.n_outputs > 1:
            raise InputError(f"this needs one function, and the graph given has {self.n_outputs} outputs: "
                             f"pass one of them")
        inputs, (output,) = self.trace_all(dtype, ndim, shapes)
        return inputs, output

    def trace_all(self, dtype: str, ndim: int = 0, shapes: Sequence[tuple] | None = None
                  ) -> tuple[list[TensorVariable], list[TensorVariable]]:
        """As ``trace``, with every output (a graph given as a list of outputs has several)."""
        import pytensor.tensor as pt
        from pytensor.scalar.basic import autocast_float_as

        from elemgrad_gpu.graph.functions import IMPLEMENTATIONS

        shapes = [(None,) * ndim] * len(self.names) if shapes is None else shapes
        inputs = [pt.tensor(name, dtype=dtype, shape=shape) for name, shape in zip(self.names, shapes)]
        env = dict(zip(self.names, inputs))
        if self.expression is not None:
            outputs = [self.expression.build(env, dtype, IMPLEMENTATIONS)]
        elif self.given is not None:
            outputs = self.given.rebuild(inputs)
        else:
            with autocast_float_as(dtype):
                outputs = [self.callable(*inputs)]
        outputs = [_as_output(output, dtype, self) for output in outputs]
        if self.expression is None:
            for output in outputs:
                check_graph_size(output)
        return inputs, outputs

    def described(self) -> str:
        """How a message names what the user compiled: the expression, or the function."""
        if self.given is not None:
            return f"the PyTensor graph over {', '.join(self.names)}"
        return f"the expression {str(self.expression)!r}" if self.expression is not None else _name(self.callable)

    def traced_for_call(self, dtype: str, ndim: int) -> tuple[list[TensorVariable], list[TensorVariable]]:
        """``trace_all`` at a call's dtype and ndim; a callable's own failure as an ExpressionError that
        names the function and the inputs it was traced over (ours pass unchanged, chained)."""
        try:
            return self.trace_all(dtype, ndim)
        except ElemgradError:
            raise
        except Exception as error:  # noqa: BLE001 - the user's code: any failure is reported, chained
            if self.callable is None:
                raise
            if isinstance(error, RecursionError):
                raise ExpressionError(f"tracing {_name(self.callable)} recursed too deeply: {_SPLIT}") from None
            shapes = ", ".join(f"{name}: {ndim}-d" for name in self.names)
            raise ExpressionError(
                f"{_name(self.callable)} failed when traced over symbolic inputs of {dtype} ({shapes}): "
                f"{type(error).__name__}: {str(error).rstrip('.')}. A callable is traced at the first call of "
                f"each dtype and number of dimensions, over inputs like that call's: check it works on them"
            ) from error


def _name(f: Callable) -> str:
    """How an error message names the user's function."""
    if getattr(f, "__name__", None) == "<lambda>":
        return "the function (a lambda)"
    return f"the function {getattr(f, '__qualname__', None) or getattr(f, '__name__', None) or type(f).__name__}"


def check_graph_size(output: TensorVariable) -> None:
    """Refuse a graph deeper than MAX_GRAPH_DEPTH or larger than MAX_GRAPH_NODES operations.

    An iterative depth-first walk from the output: the stack holds the current chain, so
    a deep chain is refused after MAX_GRAPH_DEPTH steps and a large graph after
    MAX_GRAPH_NODES, before the rest is read.
    """
    depth: dict[Apply, int] = {}  # the operations done: the longest chain ending in each
    stack = [(output.owner, iter(output.owner.inputs))] if output.owner is not None else []
    while stack:
        node, operands = stack[-1]
        operand = next((v.owner for v in operands if v.owner is not None and v.owner not in depth), None)
        if operand is not None:
            stack.append((operand, iter(operand.inputs)))
            _check_limits(len(stack), len(depth))
            continue
        stack.pop()
        depth[node] = 1 + max((depth[v.owner] for v in node.inputs if v.owner is not None), default=0)
        _check_limits(depth[node], len(depth))


def _check_limits(depth: int, nodes: int) -> None:
    if depth > MAX_GRAPH_DEPTH:
        raise ExpressionError(f"the function builds a chain of more than {MAX_GRAPH_DEPTH} operations, each "
                              f"applied to the result of another; the limit is {MAX_GRAPH_DEPTH} (PyTensor's "
                              f"differentiation recurses along such chains): {_SPLIT}")
    if nodes > MAX_GRAPH_NODES:
        raise ExpressionError(f"the function builds a graph of more than {MAX_GRAPH_NODES:,} operations; the limit "
                              f"is {MAX_GRAPH_NODES:,} (compiling it would take minutes): {_SPLIT}")


def _as_output(output, dtype: str, source: Source) -> TensorVariable:
    """The traced result as a tensor of the computation dtype."""
    import pytensor.tensor as pt

    try:
        output = pt.as_tensor_variable(output)
    except (TypeError, ValueError, AttributeError) as error:
        raise InputTypeError(
            f"the function must return a symbolic expression of its inputs (built with "
            f"elemgrad_gpu's math functions or pytensor.tensor), not {type(output).__name__}: {error}"
        ) from None
    if output.dtype.startswith("complex"):
        raise InputTypeError("the function returns a complex value; only real functions are supported")
    return output if output.dtype == dtype else pt.cast(output, dtype)


def make_source(f: Callable | str, inputs: Sequence | None = None) -> Source:
    """A Source for a callable (inputs: its parameters), an expression string, or PyTensor
    variables over the user's own inputs (``inputs``: their order; default as ``given.py`` says)."""
    if not isinstance(f, str) and not callable(f):  # PyTensor variables are not callable
        from elemgrad_gpu.graph.given import given, is_graph  # only here: a string's call imports no PyTensor

        if is_graph(f):
            graph = given(f, inputs)
            names = tuple(v.name for v in graph.inputs)
            _refuse_reserved(names, None)
            return Source(names=names, given=graph)
    if inputs is not None:
        raise InputError("inputs= is for a PyTensor graph given as f; a callable's inputs are its parameters, "
                         "an expression's its names")
    if isinstance(f, str):
        expression = parse(f)
        if not expression.names:
            raise InputError(f"the expression {f!r} has no inputs: it needs at least one name to differentiate by")
        _refuse_reserved(expression.names, f)
        return Source(names=expression.names, expression=expression)
    if not callable(f):
        raise InputTypeError(f"f must be a callable, an expression string or PyTensor variables, not "
                             f"{type(f).__name__}")
    names = _parameter_names(f)
    _refuse_reserved(names, None)
    return Source(names=names, callable=f)


def _refuse_reserved(names: tuple[str, ...], text: str | None) -> None:
    """Refuse an input named out: ``fn(..., out=(y, dy))`` passes the preallocated outputs,
    so such an input could not be told from them (``self`` is fine: it is positional-only)."""
    name = next((n for n in names if canonical(n) == "out"), None)
    if name is None:
        return
    where = " (a parameter of the function)" if text is None else ""
    message = (f"an input cannot be named {name!r}{where}: out= passes a call's preallocated outputs; "
               f"rename the input (e.g. {name}_)")
    if text is None:
        raise InputError(message)
    raise ExpressionError(message, text, re.search(rf"(?<![\w.]){re.escape(name)}(?!\w)", text).start())


def _parameter_names(f: Callable) -> tuple[str, ...]:
    try:
        parameters = inspect.signature(f).parameters.values()
    except (TypeError, ValueError):
        raise InputTypeError(f"cannot read the parameters of {f!r}; pass a function with named parameters") from None
    plain = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    odd = [p.name for p in parameters if p.kind not in plain]
    if odd:
        raise InputTypeError(
            f"the function's parameters are its inputs, so *args, **kwargs and keyword-only "
            f"parameters are not supported ({', '.join(odd)}); name every input explicitly"
        )
    names = tuple(p.name for p in parameters)
    if not names:
        raise InputError("the function has no parameters: it needs at least one input to differentiate by")
    return names

"""Build: turn what the user wrote (a callable or an expression string) into a graph.

A ``Source`` knows its input names and traces itself over symbolic PyTensor tensors of
a given dtype and ndim (PyTensor is imported then, not before: a stored plan needs no trace). Python float literals in a callable become constants of the
traced dtype, so a float32 trace stays float32.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from elemgrad_gpu.errors import InputError, InputTypeError
from elemgrad_gpu.parse import Expression, parse

if TYPE_CHECKING:
    from pytensor.tensor.variable import TensorVariable


@dataclass(frozen=True)
class Source:
    """A function to differentiate: a callable or a parsed expression string."""

    names: tuple[str, ...]
    callable: Callable | None = None
    expression: Expression | None = None

    @property
    def is_string(self) -> bool:
        return self.expression is not None

    def trace(self, dtype: str, ndim: int) -> tuple[list[TensorVariable], TensorVariable]:
        """Symbolic inputs (one per name, of ``dtype`` and ``ndim``) and the output over them."""
        import pytensor.tensor as pt
        from pytensor.scalar.basic import autocast_float_as

        inputs = [pt.tensor(name, dtype=dtype, shape=(None,) * ndim) for name in self.names]
        env = dict(zip(self.names, inputs))
        if self.expression is not None:
            output = self.expression.build(env, dtype)
        else:
            with autocast_float_as(dtype):
                output = self.callable(*inputs)
        return inputs, _as_output(output, dtype, self)


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


def make_source(f: Callable | str) -> Source:
    """A Source for a callable (inputs: its parameters) or an expression string."""
    if isinstance(f, str):
        expression = parse(f)
        if not expression.names:
            raise InputError(f"the expression {f!r} has no inputs: it needs at least one name to differentiate by")
        return Source(names=expression.names, expression=expression)
    if not callable(f):
        raise InputTypeError(f"f must be a callable or an expression string, not {type(f).__name__}")
    return Source(names=_parameter_names(f), callable=f)


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

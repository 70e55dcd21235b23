"""The errors elemgrad_gpu raises: each names the problem and what to do next."""
from __future__ import annotations


class ElemgradError(Exception):
    """Base class of every error raised by elemgrad_gpu."""


class ExpressionError(ElemgradError, ValueError):
    """An expression that elemgrad_gpu refuses: a string the expression language does
    not accept, or a graph, built by a callable or differentiated, beyond the limits.

    ``position`` is the 0-based character offset of the problem in ``expression``;
    the message shows the expression with a caret under that position.
    """

    def __init__(self, message: str, expression: str = "", position: int | None = None):
        self.expression = expression
        self.position = position
        if expression and position is not None:
            caret = " " * max(0, position) + "^"
            message = f"{message}\n    {expression}\n    {caret}"
        super().__init__(message)


class NotElementwiseError(ElemgradError, ValueError):
    """An output is not elementwise in an input we were asked to differentiate by.

    For such a function the diagonal of the Jacobian is not grad(sum(y), x): the fast
    path would silently return wrong numbers, so we refuse it.
    """


class InputError(ElemgradError, ValueError):
    """A call's arguments are missing, unknown, or do not broadcast together."""


class InputTypeError(ElemgradError, TypeError):
    """A call's argument has a type or dtype that cannot be differentiated."""


class CompileError(ElemgradError, RuntimeError):
    """The generated kernel failed to compile: a bug of ours, please report it."""


class DeviceMemoryError(ElemgradError, MemoryError):
    """The GPU has no room for a call's arrays; the message names the size and what is free.

    Running out of memory is a resource error, not bad input, so this is a
    ``MemoryError`` (code that handles one, or CuPy's ``OutOfMemoryError``, handles it)
    and, like every error of ours, an ``ElemgradError``. Before it is raised, the outputs
    the failed call had allocated are released and CuPy's cached blocks freed; the
    call's copies of host inputs are released with the error.
    """

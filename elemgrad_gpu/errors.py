"""Every error elemgrad_gpu raises: each names the problem and what to do next.

Three kinds, so that a handler (and a reader of a log) can tell them apart:

* the caller's request or input: ``ExpressionError``, ``NotElementwiseError``, ``InputError``,
  ``InputTypeError``, ``ConfigError``, ``DeviceError`` (``WrongDeviceError``), ``UsageError`` (the command line);
* this machine, not elemgrad_gpu: ``ToolchainError`` (no working compiler), ``CacheError``
  (the kernel cache cannot be written: a full disk, a read-only directory) and
  ``DeviceMemoryError``; nothing to report, something to fix here;
* a bug in elemgrad_gpu, to report: ``InternalError``, e.g. ``GeneratedCodeError`` when
  the compiler refuses a kernel we generated.

``CompileError`` is the base of every failure to build a kernel (toolchain, cache or
generated code), so ``except CompileError`` keeps catching all of them.
"""
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


class ConfigError(ElemgradError, ValueError):
    """A THEANORC file or THEANO_FLAGS entry that cannot be used."""


class DeviceError(ElemgradError, ValueError):
    """A device that is unknown or not available here."""


class WrongDeviceError(DeviceError, InputTypeError):
    """An array on another GPU than the one the function runs on (``device="cuda:N"``),
    refused before any launch: a ``DeviceError`` (a device that cannot be used here) and an
    ``InputTypeError`` (an argument of the wrong kind), so either handler catches it."""


class UsageError(ElemgradError, ValueError):
    """A command line that cannot be carried out as written (the ``elemgrad`` command)."""


class InternalError(ElemgradError, RuntimeError):
    """A bug in elemgrad_gpu: please report it, with the message."""


class CompileError(ElemgradError, RuntimeError):
    """A kernel could not be built; the subclass says why: ``ToolchainError``, ``CacheError``
    or ``GeneratedCodeError``."""


class ToolchainError(CompileError):
    """The compiler is missing or does not work (not a bug: install one, or configure it)."""


class CacheError(CompileError):
    """The kernel cache cannot be written: a full disk or a directory without write access
    (not a bug: free space, or set ``[elemgrad] cache_dir``)."""


class GeneratedCodeError(CompileError, InternalError):
    """The compiler refused a kernel that elemgrad_gpu generated: a bug, please report it."""


class DeviceMemoryError(ElemgradError, MemoryError):
    """The GPU has no room for a call's arrays; the message names the size and what is free.

    Running out of memory is a resource error, not bad input, so this is a
    ``MemoryError`` (code that handles one, or CuPy's ``OutOfMemoryError``, handles it)
    and, like every error of ours, an ``ElemgradError``. Before it is raised, the outputs
    the failed call had allocated are released and CuPy's cached blocks freed; the
    call's copies of host inputs are released with the error.
    """


class UnsafeEntry(OSError):
    """A cache file or directory that must not be used: a symbolic link, not a regular
    file (a FIFO, a device), larger than its cap, or not private to this user. Internal to
    the cache (``cache.py``): such an entry is rebuilt or skipped, never shown to the caller."""


class NoTaylorRule(Exception):
    """An operation of the graph has no Taylor rule (``graph/taylor.py``): internal, the plan
    falls back to symbolic derivatives; never shown to the caller."""


class Unsupported(Exception):
    """Internal, never raised to the caller: the graph has an operation (or a shape of one) that
    jacobian_diagonal's region analysis (structured/regions.py) does not cover; the plan then
    falls back to the colouring engine."""


class StructureError(NotElementwiseError):
    """``jacobian_diagonal``: the Jacobian's pattern couples elements in a way no exact rule
    covers and colouring would need too many passes (a softmax along the axis,
    ``x - mean(x)``, a sort). ``operation`` names the coupling operation and ``passes`` the
    number of forward passes colouring would take at least (-1 when the prover does not
    know the operation). Build the full Jacobian instead (``pytensor.gradient.jacobian``).
    """

    def __init__(self, message: str, operation: str = "", passes: int = -1):
        self.operation = operation
        self.passes = passes
        super().__init__(message)

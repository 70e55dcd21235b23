"""Run, again: a call like an earlier one skips the checks (``ElementwiseFunction.__call__``).

The slow path checks a call and records the outcome as one ``Call`` (the kernel, the
arrays it reads, the outputs, how results are handed back), runs it, and hands it to
``remember``. A call's signature is what its checks depend on (``signature``): after
one call of a signature succeeds, the function keeps the ``KnownCall`` that ``remember``
made of it (the kernel's launch for this layout, how ``out=`` is read, what is handed
back), so a later call of that signature only makes its numbers arrays (``Number``) and
runs: the fast path.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Sequence

from elemgrad_gpu import arrays

if TYPE_CHECKING:
    from elemgrad_gpu.backends import Backend, Kernel, Prepared

CALLS_KEPT = 64  # argument signatures remembered per function (see signature)
NUMBERS_KEPT = 64  # values of a number input kept as arrays per signature (see Number)


def signature(backend, args: tuple, out: Any) -> tuple:
    """What a call's checks depend on: per argument, the backend's ``signature`` of it (an
    array's dtype, shape, strides and flags, a number's type), then how ``out`` was given.

    Two calls of one signature pass or fail the same checks, pick the same dtype and plan
    and, on a GPU, the same kernel and grid; so after one call succeeds, later calls of
    its signature skip them (``KnownCall``). An argument without a signature (a list, a
    host array given to a GPU function) gives None in its place: such calls are checked
    in full every time.
    """
    sign = backend.signature
    if out is None:
        return (*map(sign, args), "no out")
    if type(out) in (tuple, list):
        return (*map(sign, args), type(out), *map(sign, out))
    return (*map(sign, args), "out", sign(out))


@dataclass(frozen=True)
class Call:
    """One call as the slow path's checks left it: ready to run, and to be remembered."""

    values: Sequence  # the inputs as given, in input order
    backend: Backend  # where the kernel runs: the device's, or the host's after a fallback
    kernel: Kernel
    inputs: list  # what the kernel reads: arrays of the call's dtype, on the device (and any aux inputs)
    shape: tuple[int, ...]  # the broadcast shape
    outputs: list | None  # the checked out=, or None for new arrays
    finish: Callable[[list], list]  # the kernel's outputs -> the caller's results

    def run(self) -> list:
        return self.finish(self.kernel.run(self.inputs, self.shape, self.outputs))

    def converted_arrays(self) -> list[int]:
        """The positions of the arrays this call converted (cast or copied): a later call could
        not read them in place. Numbers are converted too, but they are not arrays."""
        return [j for j, (value, array) in enumerate(zip(self.values, self.inputs))
                if array is not value and not isinstance(value, arrays.NUMBERS)]


def remember(call: Call, names: Sequence[str], out: Any, single: bool) -> KnownCall | None:
    """The KnownCall for later calls of ``call``'s signature, where all they need is what ``call``
    decided: inputs used as given, or numbers (converted at each call). None otherwise."""
    if len(call.inputs) != len(call.values) or call.converted_arrays():
        return None
    run = call.kernel.prepare(call.inputs, call.shape, call.outputs)
    if run is None:
        return None
    dtype = call.inputs[0].dtype.name
    converted = [j for j, (value, array) in enumerate(zip(call.values, call.inputs)) if array is not value]
    numbers = tuple((j, Number(call.backend, names[j], dtype)) for j in converted)
    count = len(call.outputs) if call.outputs is not None else 0
    return KnownCall(run, numbers, outputs_of(out, count), call.finish, single)


def outputs_of(out: Any, count: int) -> Callable[[Any], list | None]:
    """How ``out`` and every ``out`` given alike become the kernel's outputs (as ``check_outputs``)."""
    if out is None:
        return _no_outputs
    return list if type(out) in (tuple, list) or count > 1 else _one_output


def _no_outputs(out: None) -> None:
    return None


def _one_output(out: Any) -> list:
    return [out]


class Number:
    """A number input as the kernel reads it: a 0-d array of ``dtype`` (on a GPU, kept there),
    made once per value (NUMBERS_KEPT of them) for the calls of one signature."""

    __slots__ = ("_read", "_made")

    def __init__(self, backend, name: str, dtype: str):
        self._read = lambda value: backend.cast(backend.read(name, value), dtype)
        self._made: dict[Any, Any] = {}

    def __call__(self, value: Any) -> Any:
        array = self._made.get(value)
        if array is None:
            array = self._read(value)
            if value != 0:  # 0.0 == -0.0: zeros, whose sign matters, are read each time (as is NaN: NaN != NaN)
                if len(self._made) >= NUMBERS_KEPT:
                    self._made.clear()
                self._made[value] = array
        return array


class KnownCall:
    """A call whose signature was seen and checked: it converts the numbers and runs."""

    __slots__ = ("_run", "_numbers", "_outputs_of", "_finish", "_single")

    def __init__(self, run: Prepared, numbers: tuple, outputs_of: Callable, finish: Callable, single: bool):
        self._run, self._numbers, self._outputs_of = run, numbers, outputs_of
        self._finish, self._single = finish, single

    def __call__(self, args: tuple, out: Any) -> Any:
        inputs = list(args)
        for j, convert in self._numbers:
            inputs[j] = convert(args[j])
        results = self._finish(self._run(inputs, self._outputs_of(out)))
        return results[0] if self._single else tuple(results)

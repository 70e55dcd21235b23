"""Run: ElementwiseFunction, the compiled object ``elemgrad_gpu.compile`` returns.

Per call signature (dtype, and ndim for callables) it traces the source, verifies the
structure, differentiates, simplifies and fuses once, then compiles one kernel; each
call binds and checks the arguments, broadcasts them and runs that kernel.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pytensor
from pytensor.compile.mode import Mode

from elemgrad_gpu.build import Source
from elemgrad_gpu.device import Device, backend as backend_named
from elemgrad_gpu.differentiate import MultiIndex, partial_derivatives
from elemgrad_gpu.errors import InputError, InputTypeError
from elemgrad_gpu.formula import formula
from elemgrad_gpu.fuse import FusedGraph, fuse, simplify
from elemgrad_gpu.verify import verify_elementwise

_ACCEPTED_KINDS = {"f": "floating", "i": "integer", "u": "unsigned integer", "b": "boolean"}
_C_MODE = Mode(linker="cvm", optimizer="fast_run")


@dataclass
class Plan:
    """Everything compiled for one call signature."""

    fused: FusedGraph
    descriptions: list[str]
    prelude: Callable | None  # computes the aux inputs, when the graph has any
    kernels: dict[str, Any] = field(default_factory=dict)


class ElementwiseFunction:
    """Value and elementwise derivatives of f, fused into one compiled kernel.

    Call it with the inputs positionally (in ``inputs`` order) or by keyword; they
    broadcast like NumPy. See ``elemgrad_gpu.compile`` for the rules.
    """

    def __init__(self, source: Source, indices: list[MultiIndex], single: bool, device: Device,
                 dtype: str | None):
        self._source = source
        self._indices = indices
        self._single = single
        self._device = device
        self._dtype = dtype
        self._plans: dict[tuple[str, int], Plan] = {}
        self._lock = threading.Lock()

    inputs = property(lambda self: self._source.names, doc="The input names, in call order.")
    device = property(lambda self: self._device.name, doc='Where the kernel runs ("cpu").')
    backend = property(lambda self: self._device.backend.name, doc='The code generator ("c").')
    derivatives = property(lambda self: tuple(self._indices), doc="The multi-index of each output.")

    @property
    def expressions(self) -> tuple[str, ...]:
        """A readable formula for each requested output."""
        return tuple(self._plan(self._default_dtype(), 1).descriptions)

    def source(self, backend: str = "c", dtype: str | None = None) -> str:
        """The generated source of the fused kernel (for 1-d inputs of ``dtype``)."""
        plan = self._plan(_check_dtype(dtype) or self._default_dtype(), 1)
        return backend_named(backend).source(plan.fused, plan.descriptions)

    def __repr__(self) -> str:
        outputs = ", ".join("d" + "".join(f"/d{n}" for n in i) if i else "f" for i in self._indices)
        return f"<ElementwiseFunction ({', '.join(self.inputs)}) -> ({outputs}) on {self.device}>"

    def __call__(self, *args, **kwargs):
        values = args if not kwargs and len(args) == len(self.inputs) else self._bind(args, kwargs)
        arrays, dtype = _prepare(self.inputs, values, self._dtype)
        shape = _broadcast_shape(self.inputs, arrays)
        plan = self._plan(dtype, len(shape))
        if plan.prelude is not None:
            extra = plan.prelude(*[np.broadcast_to(a, shape) for a in arrays])
            arrays += [np.asarray(a, dtype=dtype) for a in extra]
        outputs = self._kernel(plan)(arrays)
        if not shape:  # NumPy returns scalars for 0-d; we return 0-d arrays
            outputs = [np.asarray(o) for o in outputs]
        return outputs[0] if self._single else tuple(outputs)

    def _default_dtype(self) -> str:
        return self._dtype or "float64"

    def _kernel(self, plan: Plan):
        name = self._device.backend.name
        if name not in plan.kernels:
            with self._lock:
                if name not in plan.kernels:
                    plan.kernels[name] = self._device.backend.compile(plan.fused, plan.descriptions)
        return plan.kernels[name]

    def _plan(self, dtype: str, ndim: int) -> Plan:
        key = (dtype, 0 if self._source.is_string else ndim)
        plan = self._plans.get(key)
        if plan is None:
            with self._lock:
                plan = self._plans.get(key) or self._plans.setdefault(key, self._make_plan(*key))
        return plan

    def _make_plan(self, dtype: str, ndim: int) -> Plan:
        inputs, y = self._source.trace(dtype, ndim)
        env = dict(zip(self.inputs, inputs))
        for name in dict.fromkeys(n for index in self._indices for n in index):
            verify_elementwise([y], env[name], x_name=name, what="f")
        outputs = simplify(partial_derivatives(y, env, self._indices))
        fused = fuse(inputs, outputs, dtype)
        prelude = None
        if fused.aux:
            prelude = pytensor.function(inputs, fused.aux, mode=_C_MODE, on_unused_input="ignore")
        return Plan(fused, [formula(out, dict(zip(inputs, self.inputs))) for out in outputs], prelude)

    def _bind(self, args: tuple, kwargs: dict) -> list[Any]:
        names = self.inputs
        if len(args) > len(names):
            raise InputError(f"got {len(args)} positional inputs but the function has {len(names)}: {', '.join(names)}")
        values = dict(zip(names, args))
        for name, value in kwargs.items():
            if name not in names:
                raise InputError(f"unknown input {name!r}: the inputs are {', '.join(names)}")
            if name in values:
                raise InputError(f"input {name!r} given both by position and by keyword")
            values[name] = value
        missing = [n for n in names if n not in values]
        if missing:
            raise InputError(f"missing input{'s' * (len(missing) > 1)} {', '.join(map(repr, missing))}; "
                             f"the inputs are {', '.join(names)}")
        return [values[name] for name in names]


def _check_dtype(dtype) -> str | None:
    """None, or "float32"/"float64" from any spelling NumPy understands."""
    if dtype is None:
        return None
    try:
        name = np.dtype(dtype).name
    except TypeError:
        name = None
    if name not in ("float32", "float64"):
        raise InputTypeError(f"dtype must be None, 'float32' or 'float64', not {dtype!r}")
    return name


_WEAK = (int, float, bool)  # Python numbers take the dtype of the arrays they meet, as in NumPy 2
_DTYPES = {name: np.dtype(name) for name in ("float32", "float64")}


def _prepare(names: tuple[str, ...], values, fixed: str | None) -> tuple[list[np.ndarray], str]:
    """The inputs as aligned arrays of the computation dtype, and that dtype.

    Without a fixed dtype: float32 when every array input is float32 (or float16), else
    float64. Arrays that already are of the dtype are used as they are, never copied.
    """
    arrays, strong, small = [], False, True
    for name, value in zip(names, values):
        array = _read_array(name, value)
        if type(value) not in _WEAK:
            strong = True
            small = small and array.dtype.kind == "f" and array.dtype.itemsize <= 4
        arrays.append(array)
    dtype = fixed or ("float32" if strong and small else "float64")
    target = _DTYPES[dtype]
    return [a if a.dtype == target and a.flags.aligned else _cast(a, dtype) for a in arrays], dtype


def _read_array(name: str, value) -> np.ndarray:
    """``value`` as a NumPy array (no copy when it is one), refusing non-real dtypes."""
    if type(value) is np.ndarray and value.dtype.kind == "f":
        return value
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as error:
        raise InputTypeError(f"input {name!r} cannot be read as a numeric array: {error}") from None
    if array.dtype.kind not in _ACCEPTED_KINDS:
        raise InputTypeError(
            f"input {name!r} has dtype {array.dtype}; elementwise derivatives need real numbers "
            f"(float, integer or bool arrays)"
        )
    return array


def _cast(array: np.ndarray, dtype: str) -> np.ndarray:
    """An aligned array of ``dtype``: the caller's own array when it already is one."""
    array = np.asarray(array, dtype=dtype)
    return array if array.flags.aligned else array.copy()


def _broadcast_shape(names: tuple[str, ...], arrays: list[np.ndarray]) -> tuple[int, ...]:
    shapes = {a.shape for a in arrays}
    if len(shapes) == 1:
        return shapes.pop()
    try:
        return np.broadcast_shapes(*shapes)
    except ValueError:
        shapes = ", ".join(f"{n} {a.shape}" for n, a in zip(names, arrays))
        raise InputError(f"the inputs' shapes do not broadcast together: {shapes}") from None

"""Run: ElementwiseFunction, the compiled object ``elemgrad_gpu.compile`` returns.

Per dtype (and ndim for callables) it makes a plan once (``plan.py``: trace, verify,
differentiate, fuse; or, for a string expression compiled before, the stored plan of
``plan_store.py``) and compiles one kernel; a call binds and checks the arguments,
broadcasts them and runs that kernel. What the checks decide is kept per signature of
the arguments (``known_calls.py``), so a call like one made before only converts its
numbers and runs the kernel.
"""
from __future__ import annotations

import math
import threading
import warnings
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from elemgrad_gpu import arrays, known_calls, masked, plan_store
from elemgrad_gpu.backend_c import CBackend
from elemgrad_gpu.config import setting
from elemgrad_gpu.device import Device, backend as backend_named
from elemgrad_gpu.errors import InputError, InputTypeError
from elemgrad_gpu.known_calls import KnownCall, Number, outputs_of, signature
from elemgrad_gpu.names import resolve
from elemgrad_gpu.plan import MultiIndex, Plan, make_plan

if TYPE_CHECKING:
    from elemgrad_gpu.build import Source


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
        self._calls: dict[tuple, KnownCall] = {}
        self._lock = threading.RLock()  # a hoisted plan is made from its base plan, under the lock

    inputs = property(lambda self: self._source.names, doc="The input names, in call order.")
    device = property(lambda self: self._device.name, doc='Where the kernel runs ("cpu" or "cuda:N").')
    backend = property(lambda self: self._device.backend.name, doc='The code generator ("c" or "cuda").')
    derivatives = property(lambda self: tuple(self._indices), doc="The multi-index of each output.")

    @property
    def expressions(self) -> tuple[str, ...]:
        """A readable formula for each requested output."""
        return tuple(self._plan(self._default_dtype(), 1).descriptions)

    def source(self, backend: str = "c", dtype: str | None = None) -> str:
        """The generated source of the fused kernel (for 1-d inputs of ``dtype``)."""
        plan = self._plan(_check_dtype(dtype) or self._default_dtype(), 1)
        return self._generated(plan, backend_named(backend))

    def __repr__(self) -> str:
        outputs = ", ".join("d" + "".join(f"/d{n}" for n in i) if i else "f" for i in self._indices)
        return f"<ElementwiseFunction ({', '.join(self.inputs)}) -> ({outputs}) on {self.device}>"

    def __call__(self, /, *args, **kwargs):
        """Value and derivatives at the given inputs (``out=``: preallocated outputs).

        ``self`` is positional-only, so an input named self can be passed by keyword
        (no input is named out: ``build.make_source`` refuses that name).
        """
        out = kwargs.pop("out", None) if kwargs else None
        key = None if kwargs else signature(self._device.backend, args, out)
        known = self._calls.get(key)
        if known is not None:
            return known(args, out)
        if masked.given(args, kwargs, out):  # masked arrays have no signature: never known calls
            return masked.call(self, self.inputs, self._single, args, kwargs, out)
        values, backend, kernel, inputs, shape, outputs = self._arguments(args, out, kwargs)
        finish = backend.finisher(values)
        results = finish(kernel(inputs, shape, outputs))
        if key is not None and None not in key:
            self._remember(key, values, backend, kernel, inputs, shape, out, outputs, finish)
        return results[0] if self._single else tuple(results)

    def bind(self, /, *args, **kwargs) -> BoundCall:
        """The call on these arrays, made once, for loops that reuse the same buffers.

        ``step = fn.bind(x, mu, out=(y, dy))``; then each ``step()`` recomputes y and dy
        from the current values of x, and returns them, without checking or converting
        anything again: on a GPU a call then costs about a kernel launch.

        Limits: array inputs must already be where the function runs and of its dtype
        (NumPy arrays on the CPU, CuPy arrays on a GPU), since each call reads them in
        place; numbers are fixed at bind time; ``out`` is required and, on a GPU, must not
        share memory with the inputs or itself (a bound call only launches: it cannot write
        through a copy as a call does). Do not resize or free the bound arrays while the
        bound call is in use (it keeps them alive).
        """
        values, backend, kernel, inputs, shape, out = self._arguments(args, kwargs.pop("out", None), kwargs)
        if out is None:
            raise InputError("bind needs out=: the preallocated outputs that every call writes")
        if len(inputs) != len(values):
            raise InputError("this function computes extra inputs on the host at each call and cannot be bound; "
                             "call it directly")
        masked.refuse_bound(self.inputs, values, out)
        for j in _converted_arrays(values, inputs):  # numbers are fixed at bind time
            value, array = values[j], inputs[j]
            given, wanted = _type_name(type(value)), _type_name(backend.array_type)
            raise InputTypeError(f"input {self.inputs[j]!r} cannot be bound: a {given} of "
                                 f"{getattr(value, 'dtype', '?')} is converted to a {wanted} of {array.dtype} "
                                 f"first, so later changes to it would not be seen; pass a {wanted} of "
                                 f"{array.dtype}, or call the function")
        return BoundCall(kernel(inputs, shape, out, bound=True), out[0] if self._single else tuple(out))

    def _arguments(self, args: tuple, out: Any, kwargs: dict) -> tuple:
        """(values, backend, kernel, inputs, shape, out) of a call: bound, checked, cast; out checked."""
        names = self._source.names
        values = args if not kwargs and len(args) == len(names) else self._bind(args, kwargs)
        device = self._device.backend
        inputs, dtype = arrays.prepare(names, values, self._dtype, device.read, self._default_dtype)
        shape = arrays.broadcast_shape(names, inputs)
        plan = self._plan(dtype, len(shape), _single_values(inputs, shape) if device.hoists else ())
        backend, kernel = (plan.backend, plan.kernel) if plan.kernel is not None else self._kernel(plan)
        if backend is not device:  # fell back to the CPU
            inputs = [device.to_host(a) if not isinstance(a, np.ndarray) else a for a in inputs]
        inputs = [backend.cast(a, dtype) for a in inputs]
        if plan.prelude is not None:
            extra = plan.prelude(*[np.broadcast_to(backend.to_host(a), shape) for a in inputs])
            inputs += [backend.cast(np.asarray(a), dtype) for a in extra]
        if out is not None:
            out = arrays.check_outputs(out, len(self._indices), shape, dtype, backend.array_type)
            backend.check_placement(out)
        return values, backend, kernel, inputs, shape, out

    def _remember(self, key: tuple, values: Sequence, backend, kernel, inputs: list,
                  shape: tuple[int, ...], out: Any, outputs: list | None, finish: Callable[[list], list]) -> None:
        """Keep what this call decided for later calls of the same signature, where that is all
        they need: inputs used as given, or numbers (converted at each call), and no fallback."""
        if backend is not self._device.backend or len(inputs) != len(values):
            return
        if _converted_arrays(values, inputs) \
                or self._dtype is None and all(type(v) in arrays.WEAK for v in values):  # floatX decides, each call
            return
        run = kernel.prepare(inputs, shape, outputs)
        if run is None:
            return
        dtype = inputs[0].dtype.name
        converted = [j for j, (value, array) in enumerate(zip(values, inputs)) if array is not value]  # numbers
        numbers = tuple((j, Number(backend, self.inputs[j], dtype)) for j in converted)
        if len(self._calls) >= known_calls.CALLS_KEPT:
            self._calls.clear()
        self._calls[key] = KnownCall(run, numbers, outputs_of(out, len(self._indices)), finish, self._single)

    def _default_dtype(self) -> str:
        return self._dtype or setting("global", "floatX") or "float64"

    def _kernel(self, plan: Plan):
        """The backend and compiled kernel of ``plan``: this device's, or the CPU's after a fallback."""
        if plan.kernel is None:
            with self._lock:
                if plan.kernel is None:
                    plan.backend, plan.kernel = self._compile(plan)
        return plan.backend, plan.kernel

    def _compile(self, plan: Plan):
        backend = self._device.backend
        try:
            kernel = backend.load(self._generated(plan, backend), plan.outputs, plan.dtype)
        except Exception as error:  # noqa: BLE001 - any CUDA compile failure falls back under "auto"
            if backend.name == "c" or not self._device.automatic:
                raise
            warnings.warn(f"elemgrad_gpu: running on the CPU instead of {self._device.name}: the CUDA backend "
                          f"could not compile this function ({type(error).__name__}: {str(error)[:300]})",
                          RuntimeWarning, stacklevel=4)
            cpu = CBackend()
            return cpu, cpu.load(self._generated(plan, cpu), plan.outputs, plan.dtype)
        return backend, kernel

    def _generated(self, plan: Plan, backend) -> str:
        """``backend``'s source for ``plan``, generated once."""
        if backend.name not in plan.sources:
            plan.sources[backend.name] = backend.source(self._graph(plan), plan.descriptions, plan.hoisted)
        return plan.sources[backend.name]

    def _graph(self, plan: Plan):
        """``plan``'s fused graph; a stored plan (strings only, traced at ndim 0) is traced for it."""
        if plan.fused is None:
            plan.fused = make_plan(self._source, self._indices, plan.dtype, 0).fused
        return plan.fused

    def _plan(self, dtype: str, ndim: int, scalars: tuple[int, ...] = ()) -> Plan:
        """The plan for inputs of ``dtype`` and ``ndim``, of which ``scalars`` are single values."""
        key = (dtype, 0 if self._source.is_string else ndim, scalars)
        plan = self._plans.get(key)
        if plan is None:
            with self._lock:
                plan = self._plans.get(key) or self._plans.setdefault(key, self._make_plan(*key))
        return plan

    def _make_plan(self, dtype: str, ndim: int, scalars: tuple[int, ...]) -> Plan:
        """A new plan: the stored one of a string expression, else traced or hoisted (and then stored)."""
        stored = self._source.is_string
        if stored:
            plan = plan_store.load(self._store_key(dtype, scalars), dtype, self._device.backend.name)
            if plan is not None:
                return plan
        if scalars:
            plan = self._hoisted(self._plan(dtype, ndim), scalars)
        else:
            plan = make_plan(self._source, self._indices, dtype, ndim)
        if stored and plan.prelude is None:  # strings have no aux inputs; what has one cannot be stored
            self._generated(plan, self._device.backend)
            plan_store.save(self._store_key(dtype, scalars), plan, self._device.backend.name)
        return plan

    def _hoisted(self, base: Plan, scalars: tuple[int, ...]) -> Plan:
        """``base`` with the work on the single-value inputs ``scalars`` done once per call
        (``hoist.py``); ``base`` itself when there is none, when it has aux inputs, or when
        the hoisted kernel would not compute exactly what ``base`` computes."""
        from elemgrad_gpu.hoist import hoist  # imports PyTensor: only for a plan not stored yet

        if base.prelude is not None:
            return base
        hoisted = hoist(self._graph(base).composite, scalars)
        if hoisted is None:
            return base
        plan = Plan(base.descriptions, base.outputs, base.dtype, base.fused, hoisted=hoisted)
        backend = self._device.backend
        return plan if backend.computes_alike(self._generated(base, backend), self._generated(plan, backend)) else base

    def _store_key(self, dtype: str, scalars: tuple[int, ...]) -> str:
        return plan_store.key(str(self._source.expression), self._indices, dtype, self._device.backend.name, scalars)

    def _bind(self, args: tuple, kwargs: dict) -> list[Any]:
        names = self.inputs
        if len(args) > len(names):
            raise InputError(f"got {len(args)} positional inputs but the function has {len(names)}: {', '.join(names)}")
        values = dict(zip(names, args))
        for given, value in kwargs.items():
            name = resolve(given, names)  # the micro sign names the input mu, and back (names.py)
            if name not in names:
                raise InputError(f"unknown input {name!r}: the inputs are {', '.join(names)}")
            if name in values:
                how = "both by position and by keyword" if names.index(name) < len(args) else "twice, spelled two ways"
                raise InputError(f"input {name!r} given {how}")
            values[name] = value
        missing = [n for n in names if n not in values]
        if missing:
            raise InputError(f"missing input{'s' * (len(missing) > 1)} {', '.join(map(repr, missing))}; "
                             f"the inputs are {', '.join(names)}")
        return [values[name] for name in names]


def _converted_arrays(values: Sequence, inputs: Sequence) -> list[int]:
    """The positions of the arrays that a call converted (cast or copied): a later call
    could not read them in place. Numbers are converted too, but they are not arrays."""
    return [j for j, (value, array) in enumerate(zip(values, inputs))
            if array is not value and not isinstance(value, arrays.NUMBERS)]


def _single_values(inputs: Sequence, shape: tuple[int, ...]) -> tuple[int, ...]:
    """The inputs of one element, broadcast over a call of more than one."""
    return tuple(j for j, a in enumerate(inputs) if a.size == 1) if math.prod(shape) > 1 else ()


class BoundCall:
    """``ElementwiseFunction.bind``'s result: each call recomputes the bound outputs and returns them."""

    __slots__ = ("_launch", "_outputs")

    def __init__(self, launch: Callable[[], Any], outputs: Any):
        self._launch, self._outputs = launch, outputs

    def __call__(self) -> Any:
        self._launch()
        return self._outputs


def _type_name(kind: type) -> str:
    """numpy.ndarray, cupy.ndarray, torch.Tensor, list: a type as its users write it."""
    module = kind.__module__.split(".")[0]
    return kind.__name__ if module == "builtins" else f"{module}.{kind.__name__}"


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

"""Run: ElementwiseFunction, the compiled object ``elemgrad_gpu.compile`` returns.

The call path flows forward: the function has one ``Specialization`` per dtype, ndim
(callables only) and set of single-value inputs (``specialization.py``: the frozen plan
of ``graph/plan.py`` or the stored one of ``plan_store.py``, its source, its kernel).
A call's slow path binds and checks the arguments, picks the specialization and
records the outcome as one ``Call`` (``known_calls.py``), which it runs and, where it
can, turns into the ``KnownCall`` of the arguments' signature: the fast path of later
calls like it, which only converts their numbers and runs the kernel.
"""
from __future__ import annotations

import dataclasses
import math
import threading
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from elemgrad_gpu import arrays, backends, cache
from elemgrad_gpu.config import setting
from elemgrad_gpu.errors import ExpressionError, InputError, InputTypeError
from elemgrad_gpu.expr.names import resolve
from elemgrad_gpu.graph.plan import MultiIndex, Plan, make_plan
from elemgrad_gpu.runtime import known_calls, masked, plan_store
from elemgrad_gpu.runtime.device import Device, select_device
from elemgrad_gpu.runtime.known_calls import Call, KnownCall, signature
from elemgrad_gpu.runtime.specialization import Specialization

if TYPE_CHECKING:
    from elemgrad_gpu.graph.build import Source


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
        self._specializations: dict[tuple[str, int, tuple[int, ...]], Specialization] = {}
        self._calls: dict[tuple, KnownCall] = {}
        self._lock = threading.RLock()  # a hoisted specialization is made from its base one, under the lock

    def __getstate__(self) -> dict:
        """What a pickle keeps (for PyMC's worker processes, through cloudpickle): what was asked;
        the kernels are found again in the cache, or compiled, in the process that unpickles."""
        _check_picklable(self._source.callable)
        return {"source": self._source, "indices": self._indices, "single": self._single,
                "device": self._device.name if not self._device.automatic else "auto", "dtype": self._dtype}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["source"], state["indices"], state["single"], select_device(state["device"]),
                      state["dtype"])

    # A name without '-' for tools that name tasks by it (Dask's apply_gufunc, behind xarray's
    # apply_ufunc, splits its keys at '-'; the repr, '(x) -> (f)', would break it).
    __name__ = property(lambda self: "elemgrad_" + "_".join(self._source.names),
                        doc="A short name of the function (as functions have), for tools that name tasks by it.")
    inputs = property(lambda self: self._source.names, doc="The input names, in call order.")
    device = property(lambda self: self._device.name, doc='Where the kernel runs ("cpu" or "cuda:N").')
    backend = property(lambda self: self._device.backend.name, doc='The code generator ("c" or "cuda").')
    derivatives = property(lambda self: tuple(self._indices), doc="The multi-index of each output.")
    dtype = property(lambda self: self._dtype, doc="The fixed computation dtype, or None (from each call's inputs).")
    n_outputs = property(lambda self: len(self._indices) * self._source.n_outputs,
                         doc="How many arrays a call returns.")

    @property
    def declared_ndims(self) -> tuple[int, ...] | None:
        """For a PyTensor graph given as f, each input's declared ndim (a call may not exceed
        it); None for callables and strings."""
        given = self._source.given
        return None if given is None else tuple(v.type.ndim for v in given.inputs)

    def differentiated(self, names: str | Sequence[str], ndim: int | None = None, keep: bool = False
                       ) -> ElementwiseFunction:
        """This function with every output differentiated once more by each input of ``names``
        (proved elementwise in each first, traced over inputs of ``ndim`` dimensions, default 1 or
        a graph's own: NotElementwiseError otherwise), in one kernel: per function of the source,
        per name, per derivative of this one. ``keep``: this function's own outputs too, first in
        each function of the source (a value and its slopes in one pass)."""
        names = [names] if isinstance(names, str) else list(names)
        indices = (list(self._indices) if keep else []) + [(*index, name) for name in names for index in self._indices]
        function = ElementwiseFunction(self._source, indices, False, self._device, self._dtype)
        function._specialization(self._default_dtype(), self._source.ndim if ndim is None else ndim)  # verify now
        return function

    def distinct(self) -> tuple[ElementwiseFunction, list[int] | None]:
        """This function computing each distinct derivative once, and where each of this function's
        outputs is among its outputs (None: nothing repeats). Mixed partials are taken in one order
        (the names sorted): d/dx d/dy and d/dy d/dx are one output. Nested differentiation (each
        level keeping the last one's outputs, ``differentiated(keep=True)``) repeats them: four
        levels of one input ask for 16 outputs, 5 of them distinct."""
        canonical = [tuple(sorted(index)) for index in self._indices]
        unique = list(dict.fromkeys(canonical))
        if len(unique) == len(canonical):
            return self, None
        function = ElementwiseFunction(self._source, unique, False, self._device, self._dtype)
        where = [unique.index(index) for index in canonical]
        return function, [s * len(unique) + k for s in range(self._source.n_outputs) for k in where]

    def c_entry(self, dtype: str, ndim: int) -> int | None:
        """The address of the compiled C loop for inputs of ``dtype`` and ``ndim`` (C signature
        ``int (char **args, npy_intp n, const npy_intp *steps)``, backends/c/elemwise.c), or None
        where a call needs Python: a GPU device, or extra inputs computed at each call."""
        specialization = self._specialization(dtype, ndim)
        backend, kernel = specialization.compiled(self._device)
        if specialization.plan.prelude is not None:
            return None
        return getattr(kernel, "entry", None)

    def c_kernel(self, dtype: str, ndim: int) -> tuple[str, int] | None:
        """The compiled C loop for ``dtype`` and ``ndim`` as (key, address): the key names the kernel
        by a hash of its source (what outlives the process: adapters/jax_primitive.py), the address
        is ``c_entry``'s; None where a call needs Python (see ``c_entry``)."""
        specialization = self._specialization(dtype, ndim)
        backend, kernel = specialization.compiled(self._device)
        entry = getattr(kernel, "entry", None)
        if specialization.plan.prelude is not None or entry is None:
            return None
        return "eg_" + cache.name("kernel", backend.name, specialization.source(backend)), entry

    def cuda_kernel(self, dtype: str, ndim: int) -> tuple[str, dict[str, int], int, int] | None:
        """The compiled CUDA kernels for ``dtype`` and ``ndim`` as (key, handles, threads, cap): the
        key names them by a hash of their source and the GPU (adapters/jax_primitive.py), the
        handles are the driver's CUfunction of eg_vectorized, eg_contiguous and eg_strided, then
        the launch shape (threads per block, the most blocks, 0 for no cap); None where a call
        needs Python (extra inputs computed at each call) or the function does not run on a GPU."""
        specialization = self._specialization(dtype, ndim)
        backend, kernel = specialization.compiled(self._device)
        if specialization.plan.prelude is not None or backend.name != "cuda":
            return None
        key = "eg_" + cache.name("kernel", backend.name, specialization.source(backend)) + f"_cuda{backend.index}"
        return (key, *kernel.handles())

    def to_jax(self):
        """This function as a JAX function of the same inputs and outputs, running the kernel on
        XLA's buffers in place (on XLA's stream on a GPU), differentiable by jax.grad/jvp/hessian to
        any order and vmappable. See ``elemgrad_gpu.adapters.jax_primitive``."""
        from elemgrad_gpu.adapters.jax_primitive import to_jax

        return to_jax(self)

    def to_torch(self):
        """This function as a PyTorch custom op (namespace ``elemgrad``) of the same inputs and
        outputs, computed through the tensors' memory (on PyTorch's stream on a GPU), differentiable
        by torch.autograd to any order, kept whole by torch.compile. See ``elemgrad_gpu.adapters.torch_op``."""
        from elemgrad_gpu.adapters.torch_op import to_torch

        return to_torch(self)

    def as_op(self):
        """This function as a PyTensor Op, for PyTensor graphs and PyMC models: its outputs for
        symbolic inputs, differentiable by ``pytensor.grad`` to any order (the kernel of the next
        order computes each gradient). See ``elemgrad_gpu.adapters.pytensor_op``."""
        from elemgrad_gpu.adapters.pytensor_op import ElementwiseOp

        return ElementwiseOp(self)

    @property
    def expressions(self) -> tuple[str, ...]:
        """A readable formula for each requested output (of a callable: as traced by the first
        call, or over 1-d inputs (a graph's own) before any call)."""
        dtype, ndim = next(((d, n) for d, n, _ in self._specializations), (self._default_dtype(), self._source.ndim))
        return tuple(self._specialization(dtype, ndim).plan.descriptions)

    def source(self, backend: str = backends.HOST, dtype: str | None = None) -> str:
        """The generated source of the fused kernel (for 1-d inputs of ``dtype``, or of a graph's
        own dimensions) by ``backend``
        (a name of the backend registry: "c", "cuda")."""
        specialization = self._specialization(_check_dtype(dtype) or self._default_dtype(), self._source.ndim)
        return specialization.source(backends.backend(backend))

    def __repr__(self) -> str:
        outputs = ", ".join("d" + "".join(f"/d{n}" for n in i) if i else "f" for i in self._indices)
        if self._source.n_outputs > 1:
            outputs = ", ".join(f"[{outputs}] of output {k}" for k in range(self._source.n_outputs))
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
        if _dask_given(args, kwargs):  # lazy: a Dask graph of one fused task per chunk
            from elemgrad_gpu.adapters import dask_arrays

            values = args if not kwargs and len(args) == len(self.inputs) else self._bind(args, kwargs)
            return dask_arrays.call(self, list(values), out, self._single)
        call = self._checked(args, out, kwargs)
        results = call.run()
        if key is not None and None not in key:
            self._remember(key, call, out)
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
        call = self._checked(args, kwargs.pop("out", None), kwargs)
        if call.outputs is None:
            raise InputError("bind needs out=: the preallocated outputs that every call writes")
        if len(call.inputs) != len(call.values):
            raise InputError("this function computes extra inputs on the host at each call and cannot be bound; "
                             "call it directly")
        masked.refuse_bound(self.inputs, call.values, call.outputs)
        for j in call.converted_arrays():  # numbers are fixed at bind time
            value, array = call.values[j], call.inputs[j]
            given, wanted = _type_name(type(value)), _type_name(call.backend.array_type)
            raise InputTypeError(f"input {self.inputs[j]!r} cannot be bound: a {given} of "
                                 f"{getattr(value, 'dtype', '?')} is converted to a {wanted} of {array.dtype} "
                                 f"first, so later changes to it would not be seen; pass a {wanted} of "
                                 f"{array.dtype}, or call the function")
        launch = call.kernel.bind(call.inputs, call.shape, call.outputs)
        return BoundCall(launch, call.outputs[0] if self._single else tuple(call.outputs))

    def _checked(self, args: tuple, out: Any, kwargs: dict) -> Call:
        """The slow path: the arguments bound, checked, cast and on the device; out checked."""
        names = self._source.names
        values = args if not kwargs and len(args) == len(names) else self._bind(args, kwargs)
        if self._source.given is not None:
            self._source.given.check_unchanged()  # shared values folded in as constants
            self._source.given.check_call(names, values)
        device = self._device.backend
        inputs, dtype = arrays.prepare(names, values, self._dtype, device.read, self._default_dtype)
        shape = arrays.broadcast_shape(names, inputs)
        specialization = self._specialization(dtype, len(shape),
                                              _single_values(inputs, shape, device.hoist_from) if device.hoists else ())
        backend, kernel = specialization.compiled(self._device)
        if backend is not device:  # fell back to the host
            inputs = [device.to_host(a) if not isinstance(a, np.ndarray) else a for a in inputs]
        inputs = [backend.cast(a, dtype) for a in inputs]
        prelude = specialization.plan.prelude
        if prelude is not None:
            extra = _aux_values(prelude, [np.broadcast_to(backend.to_host(a), shape) for a in inputs], names)
            inputs += [backend.cast(np.asarray(a), dtype) for a in extra]
        if out is not None:
            out = arrays.check_outputs(out, len(self._indices) * self._source.n_outputs, shape, dtype,
                                       backend.array_type)
            backend.check_placement(out)
        return Call(values, backend, kernel, inputs, shape, out, backend.finisher(values))

    def _remember(self, key: tuple, call: Call, out: Any) -> None:
        """Keep the known call for later calls of the signature ``key``, where one can be kept:
        not after a fallback, not where floatX decides each call."""
        if self._source.given is not None and self._source.given.shared:
            return  # each call checks the folded shared values (_checked)
        if call.backend is not self._device.backend \
                or self._dtype is None and all(type(v) in arrays.WEAK for v in call.values):
            return
        known = known_calls.remember(call, self.inputs, out, self._single)
        if known is not None:
            if len(self._calls) >= known_calls.CALLS_KEPT:
                self._calls.clear()
            self._calls[key] = known

    def _default_dtype(self) -> str:
        return self._dtype or setting("global", "floatX") or "float64"

    def _specialization(self, dtype: str, ndim: int, scalars: tuple[int, ...] = ()) -> Specialization:
        """The specialization for inputs of ``dtype`` and ``ndim``, of which ``scalars`` are single values."""
        key = (dtype, 0 if self._source.is_string else ndim, scalars)
        found = self._specializations.get(key)
        if found is None:
            with self._lock:
                found = self._specializations.get(key) or self._specializations.setdefault(key, self._make(*key))
        return found

    def _make(self, dtype: str, ndim: int, scalars: tuple[int, ...]) -> Specialization:
        """A new specialization: the stored plan of a string expression, else traced or hoisted (and then stored)."""
        stored, backend = self._source.is_string, self._device.backend
        if stored:
            found = plan_store.load(self._store_key(dtype, scalars), dtype)
            if found is not None:
                plan, source = found
                return Specialization(plan, self._tracer(dtype), {backend.name: source})
        if scalars:
            made = self._hoisted(self._specialization(dtype, ndim), scalars)
        else:
            made = Specialization(make_plan(self._source, self._indices, dtype, ndim), self._tracer(dtype))
        if stored and made.plan.prelude is None:  # strings have no aux inputs; what has one cannot be stored
            plan_store.save(self._store_key(dtype, scalars), made.plan, made.source(backend))
        return made

    def _tracer(self, dtype: str) -> Callable[[], Plan]:
        """How a stored plan (strings only, traced at ndim 0) gets its graph when one is needed."""
        return lambda: make_plan(self._source, self._indices, dtype, 0)

    def _hoisted(self, base: Specialization, scalars: tuple[int, ...]) -> Specialization:
        """``base`` with the work on the single-value inputs ``scalars`` done once per call
        (``hoist.py``); ``base`` itself when there is none, when it has aux inputs, or when
        the hoisted kernel would not compute exactly what ``base`` computes."""
        from elemgrad_gpu.graph.hoist import hoist  # imports PyTensor: only for a plan not stored yet

        if base.plan.prelude is not None:
            return base
        hoisted = hoist(base.graph().composite, scalars)
        if hoisted is None:
            return base
        made = Specialization(dataclasses.replace(base.plan, hoisted=hoisted), self._tracer(base.plan.dtype))
        backend = self._device.backend
        return made if backend.computes_alike(base.source(backend), made.source(backend)) else base

    def _store_key(self, dtype: str, scalars: tuple[int, ...]) -> str:
        backend = self._device.backend
        text = str(self._source.expression)
        return plan_store.key(text, self._indices, dtype, backend.name, scalars, backend.variant)

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


def _check_picklable(f: Callable | None) -> None:
    """Refuse, clearly, to pickle a function compiled from a callable that Python's pickle cannot
    carry (a lambda, a nested function), unless cloudpickle is the pickler (Dask's fallback)."""
    import pickle
    import sys

    if f is None:
        return
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_globals.get("__name__", "").startswith("cloudpickle"):
            return
        frame = frame.f_back
    try:
        pickle.dumps(f)  # a top-level function pickles by reference
        return
    except (pickle.PicklingError, AttributeError, TypeError):
        pass
    raise pickle.PicklingError(
        f"this function was compiled from {getattr(f, '__qualname__', f)!r}, which Python's pickle cannot carry "
        f"to another process: compile the expression string instead (eg.compile('tanh(x)**2')), define the "
        f"function at the top level of a module, or pickle with cloudpickle (as Dask does)")


def _dask_given(args: tuple, kwargs: dict) -> bool:
    """Whether a Dask array is among the inputs (read by type: Dask is not imported)."""
    return any(type(v).__module__.startswith("dask.") for v in (*args, *kwargs.values()))


def _aux_values(prelude: Callable, inputs: list, names: Sequence[str]) -> list:
    """The values computed before the kernel (of shapes, of inputs not differentiated by);
    PyTensor's failure there (``x.shape[1]`` of a 1-d input) as an ExpressionError."""
    try:
        return prelude(*inputs)
    except Exception as error:  # noqa: BLE001 - PyTensor's runtime errors, reported with the shapes
        shapes = ", ".join(f"{name} {np.shape(a)}" for name, a in zip(names, inputs))
        reason = (str(error).strip().splitlines() or [""])[0]
        raise ExpressionError(f"the function's values that do not depend on an input elementwise (its shapes, "
                              f"reductions of inputs not differentiated by) cannot be computed for inputs of "
                              f"these shapes ({shapes}): {type(error).__name__}: {reason}") from error


def _single_values(inputs: Sequence, shape: tuple[int, ...], fewest: int = 2) -> tuple[int, ...]:
    """The inputs of one element, broadcast over a call of ``fewest`` elements or more (the
    backend's ``hoist_from``; at least 2: a call of one element has nothing to hoist)."""
    return tuple(j for j, a in enumerate(inputs) if a.size == 1) if math.prod(shape) >= max(2, fewest) else ()


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

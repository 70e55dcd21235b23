"""``jacobian_diagonal``: the exact diagonal of dy/dx for f not (necessarily) elementwise.

The plan of each call's shape (``plan.py``) is made once and cached: an elementwise f
goes through ``compile`` (one fused pass); a lower-triangular chain through an exact
rule (one pass); a stencil-like f through the fused stencil kernel (``stencil.py``: one
pass of our own kernels, CPU or GPU); anything else is coloured for the diagonal (one
pass per colour); a pattern no colouring can afford is refused with ``StructureError``.
"""
from __future__ import annotations

import threading
from typing import Callable

import numpy as np

from elemgrad_gpu.errors import DeviceError, InputError, InputTypeError

STENCIL_ENGINE = "fused stencil kernel"  # stencil.ENGINE, without importing PyTensor here


class DiagonalFunction:
    """The compiled diagonal of f's Jacobian; call it like f.

    ``passes`` and ``method`` describe the plan of the most recent call's shape (None
    before the first call); ``plan_for(*shapes)`` and ``pattern(*shapes)`` ask for any shape.
    """

    def __init__(self, source, wrt: str, orders: list[int], single: bool, device: str, dtype: str | None):
        self.source, self.wrt, self.orders, self.single = source, wrt, orders, single
        self.device, self.dtype = device, dtype
        self._plans: dict = {}
        self._lock = threading.RLock()
        self._last = None
        self._elementwise = None

    @property
    def inputs(self) -> tuple[str, ...]:
        """The input names, in call order (as ``ElementwiseFunction.inputs``)."""
        return tuple(self.source.names)

    @property
    def passes(self) -> int | None:
        return None if self._last is None else self._last.passes

    @property
    def method(self) -> str | None:
        return None if self._last is None else self._last.method

    @property
    def engine(self) -> str | None:
        """How the last shape's passes are computed (forward mode, reverse mode, fused kernel)."""
        return None if self._last is None else self._last.engine

    def __getstate__(self) -> dict:
        """What a pickle keeps (for Dask workers): what was asked; plans are made again where it is unpickled."""
        from elemgrad_gpu.runtime.function import _check_picklable

        _check_picklable(self.source.callable)
        return {"source": self.source, "wrt": self.wrt, "orders": self.orders, "single": self.single,
                "device": self.device, "dtype": self.dtype}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["source"], state["wrt"], state["orders"], state["single"], state["device"], state["dtype"])

    def __call__(self, *args, **kwargs):
        if any(type(v).__module__.startswith("dask.") for v in (*args, *kwargs.values())):
            from elemgrad_gpu.structured import chunked  # lazy: chunk by chunk where the proof allows

            return chunked.call(self, self._given(args, kwargs))
        arrays = self._bind(args, kwargs)
        plan = self.plan_for(*(a.shape for a in arrays), dtype=self.dtype or arrays[self._wrt_index].dtype.name)
        if plan.function is None:
            return self._elementwise_function()(*arrays)
        if plan.engine == STENCIL_ENGINE:  # our own kernels: NumPy or CuPy arrays, as given
            results = plan.function(*arrays)
        else:
            results = [np.asarray(r) for r in plan.function(*_on_host(arrays, plan), *plan.extra)]
        return results[0] if self.single else tuple(results)

    @property
    def _wrt_index(self) -> int:
        return self.source.names.index(self.wrt)

    def plan_for(self, *shapes, dtype: str = "float64"):
        """The plan (method, passes, colours) at these input shapes (one per input; a single
        shape is the wrt input's, the others then being single values)."""
        shapes = self._shapes(shapes)
        key = (dtype, tuple(shapes[name] for name in self.source.names))
        with self._lock:
            if key not in self._plans:
                self._plans[key] = self._make_plan(shapes, dtype)
            self._last = self._plans[key]
            return self._last

    def pattern(self, *shapes, dtype: str = "float64"):
        """The proven sparsity pattern of dy/dx at these shapes, as a scipy.sparse CSR matrix
        (rows: flat output elements, columns: flat elements of x)."""
        from elemgrad_gpu.structured.plan import pattern_matrix, trace

        shapes = self._shapes(shapes)
        inputs, output = trace(self.source, dtype, shapes)
        return pattern_matrix(output, self._x(inputs), inputs, shapes)

    def _make_plan(self, shapes: dict, dtype: str):
        from elemgrad_gpu.structured import plan as planning
        from elemgrad_gpu.structured import rules

        from elemgrad_gpu.structured import stencil

        inputs, output = planning.trace(self.source, dtype, shapes)
        x = self._x(inputs)
        if planning.is_elementwise(output, x):
            return planning.ShapePlan("elementwise", 1)
        cumulative = rules.triangular_chain(output, x, inputs)
        if cumulative:
            self._check_device()
            return planning.rule_plan(output, x, inputs, cumulative, self.orders)
        found = stencil.try_plan(output, x, inputs, shapes, self.orders, self.device)
        if found is not None:
            return found
        self._check_device()
        return planning.colour_plan(output, x, inputs, shapes, self.orders)

    def _x(self, inputs):
        return inputs[self.source.names.index(self.wrt)]

    def _check_device(self) -> None:
        if self.device.strip().lower() not in ("auto", "cpu"):
            raise DeviceError(f"jacobian_diagonal runs structured (non-elementwise) functions on the CPU only; "
                              f"device={self.device!r} serves elementwise functions. Use device='cpu' or 'auto'.")

    def _elementwise_function(self):
        from elemgrad_gpu.api import compile as compile_elementwise

        with self._lock:
            if self._elementwise is None:
                self._elementwise = compile_elementwise(self._callable(), wrt=self.wrt,
                                                        orders=self.orders[0] if self.single else tuple(self.orders),
                                                        device=self.device, dtype=self.dtype)
            return self._elementwise

    def _callable(self) -> Callable | str:
        return self.source.expression.text if self.source.is_string else self.source.callable

    def _shapes(self, shapes) -> dict:
        names = self.source.names
        if len(shapes) == 1 and len(names) > 1:
            shapes = [shapes[0] if name == self.wrt else () for name in names]
        if len(shapes) != len(names):
            raise InputError(f"give one shape per input ({', '.join(names)}), or only that of '{self.wrt}'")
        return {name: tuple(int(s) for s in shape) for name, shape in zip(names, shapes)}

    def _bind(self, args, kwargs) -> list[np.ndarray]:
        names = self.source.names
        given = self._given(args, kwargs)
        dtype = self.dtype or _dtype_of(given[self.wrt])
        return [_as_array(given[name], dtype, name) for name in names]

    def _given(self, args, kwargs) -> dict:
        """The inputs by name, as given."""
        names = self.source.names
        if len(args) > len(names):
            raise InputError(f"f takes {len(names)} inputs ({', '.join(names)}), got {len(args)}")
        given = dict(zip(names, args))
        for key, value in kwargs.items():
            if key not in names or key in given:
                raise InputError(f"unexpected or repeated argument {key!r}; the inputs are {', '.join(names)}")
            given[key] = value
        missing = [name for name in names if name not in given]
        if missing:
            raise InputError(f"missing input(s): {', '.join(missing)}")
        return given


def _dtype_of(value) -> str:
    dtype = value.dtype if _on_gpu(value) else np.asarray(value).dtype
    return dtype.name if dtype.name in ("float32", "float64") else "float64"


def _on_gpu(value) -> bool:
    return hasattr(value, "__cuda_array_interface__")


def _on_host(arrays: list, plan) -> list:
    """The arrays for a PyTensor function (rules, colouring): GPU arrays are refused clearly."""
    if any(_on_gpu(a) for a in arrays):
        raise InputTypeError(f"jacobian_diagonal computes this function ({plan.method}) on the CPU; it takes "
                             f"NumPy arrays, not GPU arrays (only stencil-like functions run on a GPU)")
    return arrays


def _as_array(value, dtype: str, name: str):
    if _on_gpu(value):  # a CuPy array: kept on its device, for the fused stencil kernel
        return value if value.dtype == np.dtype(dtype) else value.astype(dtype)
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise InputTypeError(f"input {name!r} must hold real numbers, not {array.dtype}")
    return np.ascontiguousarray(array, dtype=dtype)


def jacobian_diagonal(f: Callable | str, *, wrt: str | None = None, orders=1, device: str = "auto",
                      dtype: str | None = None) -> DiagonalFunction:
    """The exact diagonal of f's Jacobian in ``wrt``, for f whose output has wrt's shape.

    f: as for ``compile`` (a callable of symbolic tensors, or an expression string).
    orders: 1 gives dy_i/dx_i; 2 gives d2y_i/dx_i2; a tuple such as (0, 1) gives the value too.
    device: elementwise and stencil-like f run where ``compile`` would run them (CuPy arrays
    in, CuPy arrays out); the rule and colouring plans run on the CPU.

    Returns a DiagonalFunction; ``fn.method`` ("elementwise", "rule: cumsum", "stencil: 9 regions",
    "colouring"),
    ``fn.passes`` and ``fn.pattern(shape)`` say what it proved and does. Raises
    StructureError (a NotElementwiseError) for a pattern no exact rule or cheap colouring covers.

    >>> import numpy as np, pytensor.tensor as pt, elemgrad_gpu as eg
    >>> fn = eg.jacobian_diagonal(lambda x: pt.cumsum(pt.tanh(x)))
    >>> bool(np.allclose(fn(np.array([0.0, 1.0])), 1 / np.cosh([0.0, 1.0]) ** 2)), fn.passes
    (True, 1)
    """
    from elemgrad_gpu.api import _from_orders, _parse_wrt
    from elemgrad_gpu.graph.build import make_source
    from elemgrad_gpu.runtime.function import _check_dtype

    source = make_source(f)
    names = _parse_wrt(wrt, source.names, source.is_string)
    if len(names) != 1:
        raise InputError("jacobian_diagonal differentiates by one input: its Jacobian must be square")
    indices, single = _from_orders(orders, names)
    if not isinstance(device, str):
        raise DeviceError(f"device must be a string such as 'auto', 'cpu' or 'cuda', not {device!r}")
    return DiagonalFunction(source, names[0], [len(index) for index in indices], single, device, _check_dtype(dtype))

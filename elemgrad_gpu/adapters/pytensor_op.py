"""A compiled function as a PyTensor Op: ``fn.as_op()``, for PyTensor graphs and PyMC models.

``op = eg.compile(f, orders=0).as_op(); y = op(x, mu)`` puts the fused kernel into a
graph. The Op:

* computes fn's outputs (one per requested derivative, and per output of a graph given as a
  list), broadcasting its inputs as PyTensor's Elemwise does: a dimension broadcasts only
  where its static length is 1 (``pt.row``, a scalar), and a call that would broadcast
  another is refused, as PyTensor refuses it;
* has a gradient: the pullback of output ``d^I f`` with respect to input ``x_j`` is
  ``g * d^{I+(j,)} f``, computed by the Op of the next order (compiled on first use, so
  ``pytensor.grad`` works to any order), summed over the dimensions where ``x_j`` was
  broadcast. The next order's kernel proves f elementwise in ``x_j`` first: where it is not,
  the gradient is PyTensor's Null one, so asking ``pytensor.grad`` for it raises PyTensor's
  NullTypeGradError with our NotElementwiseError's message (other inputs' gradients work);
* runs in PyTensor's C/CVM and Python modes through ``perform`` (the function's call path),
  and in its Numba mode (PyTensor 3's default) through a Numba implementation that calls the
  compiled C loop by its address, with no Python in the call (``numba_funcify`` below);
  outputs are computed in the inputs' common float dtype (float32 stays float32); floating-point
  errors give inf and NaN without NumPy's warnings, as PyTensor's own ops do;
* on a GPU ``device`` takes and returns host (NumPy) arrays: the kernel runs on the device,
  the copies each way are part of each call. PyTensor's graphs live on the host.
"""
from __future__ import annotations

import ctypes
from typing import Any, Sequence

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.gradient import DisconnectedType, grad_not_implemented
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op
from pytensor.tensor.extra_ops import broadcast_shape

from elemgrad_gpu.compat import Pullback
from elemgrad_gpu.errors import InputError, InputTypeError, NotElementwiseError


class ElementwiseOp(Pullback, Op):
    """The compiled kernel of an ElementwiseFunction as a PyTensor Op (see the module docstring)."""

    def __init__(self, function: Any):
        self.function = function  # an ElementwiseFunction (runtime/function.py)
        self.n_outputs = function.n_outputs
        self._derived: dict[tuple, ElementwiseOp] = {}  # input positions -> the Op of the next order
        self._ndim: int | None = None  # the dimensions of the graph's outputs, once applied

    def __str__(self) -> str:
        return f"ElementwiseOp{{{', '.join(self.function.inputs)}}}"

    def make_node(self, *inputs, **named) -> Apply:
        """The Apply of the Op to ``inputs``, given in ``fn.inputs`` order or by name."""
        names = self.function.inputs
        if named:
            inputs = self._bound(inputs, named)
        if len(inputs) != len(names):
            raise InputError(f"{self} takes {len(names)} inputs ({', '.join(names)}), got {len(inputs)}")
        tensors = []
        for name, value in zip(names, inputs):
            try:
                tensor = pt.as_tensor_variable(value)
            except (TypeError, ValueError) as error:
                raise InputTypeError(f"input {name!r} of {self} must be a tensor: {error}") from None
            if tensor.dtype.startswith("complex"):
                raise InputTypeError(f"input {name!r} of {self} is complex; only real inputs are supported")
            tensors.append(tensor)
        declared = self.function.declared_ndims
        for name, tensor, ndim in zip(names, tensors, declared or ()):
            if tensor.ndim > ndim:
                raise InputError(f"input {name!r} of {self} is a {ndim}-d variable of the compiled graph; got a "
                                 f"{tensor.ndim}-d {tensor.type}")
        dtype = self._dtype([t.dtype for t in tensors])
        shape = _broadcast_static([t.type.shape for t in tensors])
        self._ndim = len(shape) if self._ndim is None else self._ndim
        return Apply(self, tensors, [pt.tensor(dtype=dtype, shape=shape) for _ in range(self.n_outputs)])

    def _bound(self, inputs: tuple, named: dict) -> tuple:
        """Positional and keyword inputs in ``fn.inputs`` order."""
        names = self.function.inputs
        unknown = [k for k in named if k not in names]
        if unknown:
            raise InputError(f"{self} has no input {unknown[0]!r}; its inputs are {', '.join(names)}")
        twice = [k for k in named if k in names[:len(inputs)]]
        if twice:
            raise InputError(f"input {twice[0]!r} of {self} given both by position and by name")
        missing = [k for k in names[len(inputs):] if k not in named]
        if missing:
            raise InputError(f"{self} is missing input {missing[0]!r}; its inputs are {', '.join(names)}")
        return (*inputs, *(named[k] for k in names[len(inputs):]))

    def _dtype(self, dtypes: Sequence[str]) -> str:
        """The outputs' dtype: the function's, else the inputs' common float dtype (floatX for integers)."""
        if self.function.dtype is not None:
            return self.function.dtype
        common = np.result_type(*dtypes)
        if common.kind != "f":
            return pytensor.config.floatX
        return "float32" if common.itemsize <= 4 else "float64"

    def perform(self, node: Apply, inputs: list, output_storage: list) -> None:
        if len({np.shape(a) for a in inputs}) > 1:  # something broadcasts: only as the types allow
            _check_runtime_broadcast(node, inputs, self.function.inputs)
        dtype = node.outputs[0].dtype
        with np.errstate(all="ignore"):  # inf and NaN silently, as PyTensor's own ops (and the Numba path)
            results = self.function(*[a if getattr(a, "dtype", None) == dtype else np.asarray(a, dtype=dtype)
                                      for a in inputs])
        results = results if isinstance(results, tuple) else (results,)
        for storage, result in zip(output_storage, results):
            storage[0] = result if type(result) is np.ndarray else np.asarray(_to_host(result), dtype=dtype)

    def infer_shape(self, fgraph, node, input_shapes):
        shape = broadcast_shape(*input_shapes, arrays_are_shapes=True)
        return [tuple(shape)] * self.n_outputs

    def derived(self, positions: tuple[int, ...]) -> ElementwiseOp:
        """The Op of the next order in the inputs at ``positions``, all in one kernel: each
        output differentiated once more by each of them (NotElementwiseError where f is not
        elementwise in one)."""
        if positions not in self._derived:
            names = [self.function.inputs[j] for j in positions]
            self._derived[positions] = ElementwiseOp(self.function.differentiated(names, self._ndim))
        return self._derived[positions]

    def _differentiable(self, positions: list[int]) -> tuple[tuple[int, ...], dict[int, str]]:
        """The positions f is proved elementwise in, and why not for the others."""
        try:
            self.derived(tuple(positions))
            return tuple(positions), {}
        except NotElementwiseError:
            pass
        refused = {}
        for j in positions:
            try:
                self.derived((j,))
            except NotElementwiseError as error:
                refused[j] = str(error)
        return tuple(j for j in positions if j not in refused), refused

    def pullback(self, inputs, outputs, output_gradients):
        connected = [p for p, g in enumerate(output_gradients) if not isinstance(g.type, DisconnectedType)]
        floats = [j for j, x in enumerate(inputs) if x.dtype.startswith("float")] if connected else []
        usable, refused = self._differentiable(floats) if floats else ((), {})
        slopes = []
        if usable:
            slopes = self.derived(usable)(*inputs)
            slopes = slopes if isinstance(slopes, list | tuple) else [slopes]
        per_output = len(self.function.derivatives)  # outputs per function of the source
        gradients = []
        for j, x in enumerate(inputs):
            if j in refused:  # a Null gradient: an error only where it is asked for
                gradients.append(grad_not_implemented(self, j, x, refused[j]))
            elif j not in usable:
                gradients.append(pt.zeros_like(x, dtype=x.dtype if x.dtype.startswith("float")
                                               else pytensor.config.floatX))
            else:
                q = usable.index(j)  # derived outputs: per function of the source, per input, per index
                total = sum(output_gradients[p] * slopes[(p // per_output) * len(usable) * per_output
                                                         + q * per_output + p % per_output] for p in connected)
                gradients.append(_sum_to(total, x))
        return gradients


def _broadcast_static(shapes: Sequence[tuple]) -> tuple:
    """The static shape of the broadcast of ``shapes`` (None: unknown), as Elemwise's."""
    ndim = max((len(s) for s in shapes), default=0)
    padded = [(1,) * (ndim - len(s)) + tuple(s) for s in shapes]
    result = []
    for lengths in zip(*padded):
        known = {n for n in lengths if n is not None and n != 1}
        if len(known) > 1:
            raise InputError(f"the inputs' shapes {', '.join(map(str, shapes))} do not broadcast")
        result.append(known.pop() if known else (1 if all(n == 1 for n in lengths) else None))
    return tuple(result)


def _check_runtime_broadcast(node: Apply, inputs: Sequence, names: Sequence[str]) -> None:
    """Refuse broadcasting a dimension not known to be 1 (PyTensor's Elemwise refuses it too):
    its gradient would have the wrong shape."""
    ndim = node.outputs[0].ndim
    lengths = [(1,) * (ndim - np.ndim(a)) + np.shape(a) for a in inputs]
    for d in range(ndim):
        longest = max(shape[d] for shape in lengths)
        for name, var, shape in zip(names, node.inputs, lengths):
            static = (1,) * (ndim - var.ndim) + tuple(var.type.shape)
            if shape[d] == 1 and longest != 1 and static[d] != 1:
                raise InputError(f"input {name!r} has length 1 in dimension {d} where the others have "
                                 f"{longest}, but its type does not say it broadcasts there (shape {var.type}); "
                                 f"make it broadcastable (pt.row, pt.col, specify_broadcastable)")


def _sum_to(total, x):
    """``total`` summed over the dimensions where ``x`` was broadcast, in ``x``'s shape."""
    extra = total.ndim - x.ndim
    axes = list(range(extra)) + [extra + d for d, n in enumerate(x.type.shape) if n == 1]
    summed = total.sum(axis=axes) if axes else total
    return pt.reshape(summed, x.shape, ndim=x.ndim) if axes else summed


def _to_host(array):
    """A device array as a NumPy one (the Op's outputs are host arrays)."""
    if isinstance(array, np.ndarray):
        return array
    get = getattr(array, "get", None)
    return get() if callable(get) else np.asarray(array)


# ---- Numba mode (PyTensor 3's default): the C loop called from compiled code ----

_LIVE: dict[int, ElementwiseOp] = {}  # id -> Op, for the object-mode path (a closure over an int pickles)


def _perform_by_key(key: int, node_key: int, inputs: tuple):
    """The Op's ``perform`` for the object-mode path, found by key (Numba pickles its closures)."""
    op, node = _LIVE[key], _LIVE[node_key]
    storage = [[None] for _ in range(op.n_outputs)]
    op.perform(node, list(inputs), storage)
    return tuple(s[0] for s in storage) if op.n_outputs > 1 else storage[0][0]


def numba_implementation(op: ElementwiseOp, node: Apply, **kwargs):
    """The Numba function of one Apply of the Op: the compiled C loop called by its address,
    with no Python in the call; where a call needs Python (a GPU device, extra inputs computed
    per call) the Op's ``perform`` in object mode."""
    from pytensor.link.numba.dispatch.basic import numba_njit

    out = node.outputs[0]
    entry = op.function.c_entry(out.dtype, out.ndim)
    if entry is None:
        return _object_mode(op, node)
    source = _numba_source([v.ndim for v in node.inputs], op.n_outputs, out.ndim,
                           [v.dtype != out.dtype for v in node.inputs])
    # pointers passed as integers (size_t): Numba calls a ctypes function from compiled code
    loop = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_size_t, ctypes.c_ssize_t, ctypes.c_size_t)(entry)
    scope = {"np": np, "loop": loop, "dtype": np.dtype(out.dtype), "itemsize": np.dtype(out.dtype).itemsize}
    exec(compile(source, "<elemgrad_gpu numba kernel>", "exec"), scope)  # our own generated text, no user input
    return numba_njit(scope["kernel"])


def _object_mode(op: ElementwiseOp, node: Apply):
    import numba
    from pytensor.link.numba.dispatch.basic import get_numba_type, numba_njit

    key, node_key = id(op), id(node)
    _LIVE[key], _LIVE[node_key] = op, node
    types = [get_numba_type(o.type) for o in node.outputs]
    signature = types[0] if len(types) == 1 else numba.types.Tuple(types)

    @numba_njit
    def perform(*inputs):
        with numba.objmode(result=signature):
            result = _perform_by_key(key, node_key, inputs)
        return result

    return perform


def _numba_source(input_ndims: Sequence[int], n_outputs: int, ndim: int, cast: Sequence[bool]) -> str:
    """Python source of ``kernel(a0, a1, ...)`` for Numba: the broadcast shape, inputs that
    are not one value or C-contiguous of that shape copied to that, new outputs, and the
    loop called on their pointers (step 0 for one value)."""
    nin = len(input_ndims)
    args = ", ".join(f"a{j}" for j in range(nin))
    lines = [f"def kernel({args}):"]
    for d in range(ndim):  # the broadcast length of dimension d, checked as NumPy does
        lengths = [f"a{j}.shape[{d - (ndim - nd)}]" for j, nd in enumerate(input_ndims) if d >= ndim - nd]
        lines.append(f"    s{d} = max({', '.join(lengths)}, 1)" if len(lengths) > 1 else
                     f"    s{d} = {lengths[0] if lengths else 1}")
        for length in lengths:
            lines.append(f"    if {length} != s{d} and {length} != 1:")
            lines.append("        raise ValueError('elemgrad_gpu: the inputs do not broadcast')")
    shape = "(" + "".join(f"s{d}, " for d in range(ndim)) + ")"
    lines += [f"    shape = {shape}", "    n = 1"] + [f"    n *= s{d}" for d in range(ndim)]
    lines += [f"    pointers = np.empty({nin + n_outputs}, np.uintp)", f"    steps = np.empty({nin + n_outputs}, np.intp)"]
    for j in range(nin):
        lines += [f"    c{j} = np.ascontiguousarray(a{j}{'.astype(dtype)' if cast[j] else ''})",
                  f"    whole{j} = c{j}.size == n and c{j}.shape == shape" if input_ndims[j] == ndim else
                  f"    whole{j} = False",
                  f"    t{j} = np.empty(shape if not whole{j} and c{j}.size != 1 else (0,) * {ndim}, dtype)" if ndim else
                  f"    t{j} = np.empty((), dtype)",
                  f"    if t{j}.size:",
                  f"        t{j}[...] = np.broadcast_to(c{j}, shape)",
                  f"    pointers[{j}] = t{j}.ctypes.data if t{j}.size else c{j}.ctypes.data",
                  f"    steps[{j}] = itemsize if (t{j}.size or whole{j}) and n > 1 else 0"]
    for m in range(n_outputs):
        k = nin + m
        lines += [f"    o{m} = np.empty(shape, dtype)", f"    pointers[{k}] = o{m}.ctypes.data",
                  f"    steps[{k}] = itemsize if n > 1 else 0"]
    lines.append("    loop(pointers.ctypes.data, n, steps.ctypes.data)")
    outputs = ", ".join(f"o{m}" for m in range(n_outputs))
    lines.append(f"    return {outputs}" if n_outputs == 1 else f"    return ({outputs},)")
    return "\n".join(lines) + "\n"


def _register_numba() -> None:
    """Register the Numba implementation with PyTensor, where PyTensor's Numba backend imports."""
    try:
        from pytensor.link.numba.dispatch.basic import numba_funcify
    except ImportError:  # no Numba: the C and Python modes still work
        return
    numba_funcify.register(ElementwiseOp)(numba_implementation)


_register_numba()

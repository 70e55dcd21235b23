"""Per-row Jacobian blocks of row-local functions: ``jacobian_blocks``.

For ``y_i = f(x_i)``, with ``x_i`` the ``k_in`` values of row ``i`` along one axis (the
block axis), the Jacobian is block diagonal; ``jacobian_blocks`` returns its blocks,
shape ``(..., k_out, k_in)``, after proving f row-local from the PyTensor graph
(``structured/rowlocal.py``). Each call runs ONE compiled PyTensor function: the graph
of one pass with its seed as an input, vectorized over the ``k`` one-hot seeds along the
block axis, ``k_in`` forward passes or, when ``k_out <= k_in``, ``k_out`` reverse ones
(``grad`` of the sum over rows of output * seed: exact because rows do not mix). Block
widths are read from the call's arrays; each new set of widths (and dtype, and number of
batch axes) compiles once and is cached.

    >>> import numpy as np, pytensor.tensor as pt, elemgrad_gpu as eg
    >>> fn = eg.jacobian_blocks(lambda x: pt.special.softmax(x, axis=-1))
    >>> x = np.array([[0.0, 1.0, 2.0]])
    >>> s = np.exp(x) / np.exp(x).sum(-1, keepdims=True)
    >>> bool(np.allclose(fn(x)[0], np.diag(s[0]) - np.outer(s[0], s[0])))
    True
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from elemgrad_gpu.arrays import prepare, read_host
from elemgrad_gpu.errors import DeviceError, InputError, InputTypeError
from elemgrad_gpu.graph.build import Source, make_source
from elemgrad_gpu.runtime.device import select_device
from elemgrad_gpu.runtime.function import _check_dtype

MAX_WIDTH = 256  # a block axis of more values compiles a graph of that many passes: refuse it


@dataclass(frozen=True)
class Compiled:
    """One specialization: the compiled function and how it computes the blocks."""

    function: Callable
    passes: int
    method: str  # "forward" (k_in jvps) or "reverse" (k_out vjps)
    widths: tuple[tuple[int, int], ...]  # (k_out, k_in) per wrt
    recipes: tuple[tuple[str, int | None], ...]  # per function input: the call's input, and its seeds (None: 1)


def jacobian_blocks(f: Callable | str, *, wrt: str | Sequence[str] | None = None, axis: int = -1,
                    orders: int | Sequence[int] = 1, device: str = "auto",
                    dtype: str | None = None) -> BlockJacobian:
    """Compile the per-row Jacobian blocks of a function that is row-local along ``axis``.

    f: a callable of symbolic tensors (pytensor.tensor operations and elemgrad_gpu's
    math functions), or an expression string. Each input is traced with its block
    axis last; operations may mix values along that axis (sums, softmax, indexing,
    stacking, products with constant matrices) but never across the other axes, which
    is proven before anything is computed (else NotElementwiseError naming the operation).
    wrt: the input(s) to differentiate by (default: the first). orders: 1 (the blocks)
    or (0, 1) (the value, then the blocks). device: "auto" or "cpu" (the blocks run on
    the CPU). dtype: None (from the inputs) or "float32"/"float64".

    Calling the result returns, per wrt, an array of shape ``batch + (k_out, k_in)``,
    ``batch`` being the broadcast shape of the other axes; the value (with its block axis
    back at ``axis``) comes first when asked for.
    """
    source = make_source(f)
    names = _wrt(wrt, source.names)
    value, blocks = _orders(orders)
    if not blocks:
        raise InputError("orders must ask for the blocks (1), optionally with the value: orders=(0, 1)")
    chosen = select_device(device)
    if chosen.backend.name != "c":
        if device != "auto":
            raise DeviceError(f"jacobian_blocks runs on the CPU in this version; device={device!r} selects "
                              f"{chosen.name}: use device='cpu' or 'auto'")
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise InputTypeError(f"axis must be an integer, not {axis!r}")
    function = BlockJacobian(source, names, int(axis), value, _check_dtype(dtype))
    _prove_early(source, names)
    return function


def _prove_early(source: Source, wrt: tuple[str, ...]) -> None:
    """Prove row-locality at compile time over rows of unknown width, so a refusal comes before any call.

    A callable that cannot be traced without knowing the width (it unpacks a row into
    Python variables, say) is proven at its first call instead, at the call's widths.
    """
    from elemgrad_gpu.errors import ElemgradError
    from elemgrad_gpu.structured.rowlocal import prove_row_local

    try:
        env, y = _trace(source, "float64", (None,) * len(source.names), 1)
    except ElemgradError:
        raise
    except Exception:  # noqa: BLE001 - the callable needs static widths; proven per call instead
        return
    for name in wrt:
        prove_row_local([y], env[name], x_name=name, what="the function's output")


def _trace(source: Source, dtype: str, shapes: tuple, batch: int) -> tuple[dict, Any]:
    """Symbolic inputs (by name) and the output over them. ``shapes``, per input: a block width (int, or
    None for unknown) after ``batch`` batch axes of unknown length, or a whole static shape (tuple)."""
    static = [(None,) * batch + (s,) if isinstance(s, int) or s is None else s for s in shapes]
    inputs, y = source.trace(dtype, shapes=static)
    env = dict(zip(source.names, inputs))
    return env, y


def _wrt(wrt, names: tuple[str, ...]) -> tuple[str, ...]:
    chosen = names[:1] if wrt is None else (wrt,) if isinstance(wrt, str) else tuple(wrt)
    for name in chosen:
        if name not in names:
            raise InputError(f"wrt names {name!r}, which is not an input; the inputs are {', '.join(names)}")
    if not chosen or len(set(chosen)) != len(chosen):
        raise InputError(f"wrt must name each input at most once and at least one, got {wrt!r}")
    return chosen


def _orders(orders) -> tuple[bool, bool]:
    sequence = (orders,) if isinstance(orders, int) else tuple(orders)
    if any(isinstance(k, bool) or k not in (0, 1) for k in sequence) or not sequence:
        raise InputError(f"jacobian_blocks computes orders 0 (the value) and 1 (the blocks); got {orders!r}")
    return 0 in sequence, 1 in sequence


class BlockJacobian:
    """A compiled per-row Jacobian: call it with the inputs (positionally or by name)."""

    def __init__(self, source: Source, wrt: tuple[str, ...], axis: int, value: bool, dtype: str | None):
        self.source, self.wrt, self.axis, self.value, self.dtype = source, wrt, axis, value, dtype
        self._compiled: dict[tuple, Compiled] = {}
        self._lock = threading.Lock()
        self.passes: int | None = None  # of the last call: forward or reverse passes fused in one compiled call
        self.method: str | None = None

    @property
    def inputs(self) -> tuple[str, ...]:
        return self.source.names

    def __repr__(self) -> str:
        return f"<BlockJacobian ({', '.join(self.inputs)}) -> blocks by {', '.join(self.wrt)}, axis={self.axis}>"

    def __call__(self, *args, **kwargs):
        arrays, dtype = self._read(self._bind(args, kwargs))
        ndim = max(a.ndim for a in arrays)
        axis = _normalize_axis(self.axis, ndim)
        moved = [_block_last(a, ndim, axis) for a in arrays]
        batch = _batch_shape(self.inputs, moved)
        _check_widths(self.inputs, self.wrt, moved, self.axis)
        moved = [np.broadcast_to(a, batch + a.shape[-1:]) if n in self.wrt else a for n, a in zip(self.inputs, moved)]
        compiled = self.specialize(dtype, len(batch), tuple(a.shape[-1] if n in self.wrt else
                                                            _static(a.shape) for n, a in zip(self.inputs, moved)))
        self.passes, self.method = compiled.passes, compiled.method
        given = dict(zip(self.inputs, moved))
        arrays = [_seed_axis(given[name], seeds) for name, seeds in compiled.recipes]
        results = [np.asarray(r) for r in compiled.function(*arrays)]
        if self.value:
            results[0] = _value_back(results[0], batch, axis, ndim)
        return results[0] if len(results) == 1 else tuple(results)

    def _bind(self, args: tuple, kwargs: dict) -> list:
        if len(args) > len(self.inputs):
            raise InputError(f"got {len(args)} arguments; the inputs are {', '.join(self.inputs)}")
        values = dict(zip(self.inputs, args))
        for name, value in kwargs.items():
            if name not in self.inputs or name in values:
                raise InputError(f"unexpected or repeated argument {name!r}; the inputs are {', '.join(self.inputs)}")
            values[name] = value
        missing = [n for n in self.inputs if n not in values]
        if missing:
            raise InputError(f"missing input {', '.join(map(repr, missing))}")
        return [values[n] for n in self.inputs]

    def _read(self, values: list) -> tuple[list[np.ndarray], str]:
        arrays, dtype = prepare(self.inputs, values, self.dtype, read_host, lambda: "float64")
        for name, array in zip(self.inputs, arrays):
            if name in self.wrt and array.ndim == 0:
                raise InputError(f"input {name!r} is a single value: differentiating by it needs a block axis")
        return [a.astype(dtype, copy=False) for a in arrays], dtype

    def specialize(self, dtype: str, batch: int, shapes: tuple) -> Compiled:
        """The compiled function for a dtype, a number of batch axes and the inputs' static shapes
        (an int: a wrt input's block width; a tuple: another input's shape, None where not 1)."""
        key = (dtype, batch, shapes)
        with self._lock:
            if key not in self._compiled:
                self._compiled[key] = _build(self.source, self.wrt, dtype, batch, shapes, self.value)
            return self._compiled[key]


def _normalize_axis(axis: int, ndim: int) -> int:
    if not -ndim <= axis < ndim:
        raise InputError(f"axis={axis} is out of range for inputs of {ndim} dimension(s)")
    return axis % ndim


def _block_last(array: np.ndarray, ndim: int, axis: int) -> np.ndarray:
    """``array`` padded to ``ndim`` axes (as NumPy broadcasts), its block axis moved last."""
    array = array.reshape((1,) * (ndim - array.ndim) + array.shape)
    return np.moveaxis(array, axis, -1)


def _check_widths(names: Sequence[str], wrt: Sequence[str], arrays: Sequence[np.ndarray], axis: int) -> None:
    for name, array in zip(names, arrays):
        if name in wrt and not 1 <= array.shape[-1] <= MAX_WIDTH:
            raise InputError(f"input {name!r} has {array.shape[-1]} values along axis {axis}; blocks need from 1 to "
                             f"{MAX_WIDTH} (for wider rows build the full Jacobian)")


def _batch_shape(names: Sequence[str], arrays: Sequence[np.ndarray]) -> tuple[int, ...]:
    try:
        return tuple(np.broadcast_shapes(*(a.shape[:-1] for a in arrays)))
    except ValueError:
        listed = ", ".join(f"{n} {a.shape[:-1]}" for n, a in zip(names, arrays))
        raise InputError(f"the inputs' batch axes (all but the block axis) do not broadcast together: "
                         f"{listed}") from None


def _static(shape: tuple[int, ...]) -> tuple:
    """A non-differentiated input's static shape: its block width, and 1 where it broadcasts."""
    return tuple(1 if s == 1 else None for s in shape[:-1]) + shape[-1:]


def _seed_axis(array: np.ndarray, seeds: int | None) -> np.ndarray:
    """``array`` with a seed axis before its block axis, its rows repeated ``seeds`` times (a view);
    ``None``: the array as it is (no seed axis)."""
    if seeds is None:
        return array
    array = array[..., None, :]
    return np.broadcast_to(array, array.shape[:-2] + (seeds, array.shape[-1]))


def _value_back(value: np.ndarray, batch: tuple, axis: int, ndim: int) -> np.ndarray:
    """The value with its block axis back where the inputs had it."""
    if value.ndim == len(batch) + 1:
        return np.moveaxis(value, -1, axis)
    return value


def _build(source: Source, wrt: tuple[str, ...], dtype: str, batch: int, shapes: tuple, value: bool) -> Compiled:
    """Prove row-locality at these shapes, then build every block in one graph and compile it once.

    Reverse mode when ``k_out <= k_in`` (k_out passes), else forward (k_in passes). The
    passes are not unrolled: the pass's seed (a cotangent or tangent) becomes an input,
    the graph of one pass is vectorized over a stack of one-hot seeds (``_vectorized``),
    so the parts that do not depend on the seed (f itself) are computed once and the
    compiled graph is the same size whatever k. Should PyTensor fail to vectorize an
    operation, the rows are repeated along a seed axis instead (``_seeded``).
    """
    import pytensor

    from elemgrad_gpu.structured.rowlocal import prove_row_local

    env, y = _trace(source, dtype, shapes, batch)
    for name in wrt:
        prove_row_local([y], env[name], x_name=name, what="the function's output")
    k_out = 1 if y.ndim == batch else y.type.shape[-1]
    widths = tuple((k_out, shapes[source.names.index(n)]) for n in wrt)
    k_in = sum(w for _, w in widths)
    reverse = k_out is not None and k_out <= k_in
    passes, method = (k_out, "reverse") if reverse else (k_in, "forward")
    try:
        blocks = _vectorized(_rows(y, [env[n] for n in wrt], batch), [env[n] for n in wrt], reverse, dtype)
        inputs, recipes, values = list(env.values()), tuple((n, None) for n in source.names), [y]
    except Exception:  # noqa: BLE001 - an operation PyTensor cannot vectorize: the seed-axis graph instead
        if reverse:
            traces = [_seeded(source, wrt, None, k_out, dtype, batch, shapes)]
        else:
            traces = [_seeded(source, (name,), name, w, dtype, batch, shapes) for name, (_, w) in zip(wrt, widths)]
        blocks = [block for trace in traces for block in trace.blocks]
        inputs = [variable for trace in traces for variable in trace.inputs]
        recipes = tuple((n, trace.seeds if n in trace.wrt else 1) for trace in traces for n in source.names)
        values = [traces[0].y[..., 0, :]]
        method += " (seed axis)"
    function = pytensor.function(inputs, (values if value else []) + blocks, mode="FAST_RUN",
                                 on_unused_input="ignore")
    return Compiled(function, passes, method, widths, recipes)


def _rows(y, xs: list, batch: int):
    """The output with one axis inside the row, over every row of the inputs (even where it ignores them)."""
    import pytensor.tensor as pt

    if y.ndim == batch:
        y = y[..., None]
    if any(s == 1 for s in y.type.shape[:-1]):
        y = y + pt.zeros_like(xs[0][..., :1], dtype=y.dtype)
    return y


def _vectorized(y, xs: list, reverse: bool, dtype: str) -> list:
    """The blocks by every x: one pass's graph with its seed as an input, vectorized over one-hot seeds."""
    import pytensor

    from elemgrad_gpu.compat import pushforward
    import pytensor.tensor as pt
    from pytensor.graph.replace import vectorize_graph

    def one_hot(like):  # seeds[s, ..., :] = e_s: (S, *like.shape), S = like's block width
        width = like.type.shape[-1]
        eye = pt.eye(width, dtype=dtype)[(slice(None),) + (None,) * (like.ndim - 1)]
        return pt.broadcast_to(eye, (width, *like.shape))

    if reverse:
        seed = y.type()
        rows = pytensor.grad((y * seed).sum(), xs, disconnected_inputs="ignore")
        return [pt.moveaxis(g, 0, -2) for g in vectorize_graph(rows, replace={seed: one_hot(y)})]
    blocks = []
    for x in xs:
        seed = x.type()
        column = pushforward(y, x, seed, disconnected_outputs="ignore")
        blocks.append(pt.moveaxis(vectorize_graph(column, replace={seed: one_hot(x)}), 0, -1))
    return blocks


@dataclass
class _Seeded:
    """One trace over rows repeated along a seed axis: its inputs, output and blocks."""

    wrt: tuple[str, ...]
    seeds: int
    inputs: list
    y: Any
    blocks: list


def _seed_shape(shape, seeded: bool, seeds: int, batch: int) -> tuple:
    """An input's static shape with the seed axis before its block axis: ``seeds`` long for an input
    differentiated in this trace, else 1 (``shape``: a wrt input's block width, or a whole static shape)."""
    if isinstance(shape, int):
        return (None,) * batch + (seeds if seeded else 1, shape)
    return shape[:-1] + (1,) + shape[-1:]


def _seeded(source: Source, wrt: tuple[str, ...], forward: str | None, seeds: int, dtype: str, batch: int,
            shapes: tuple) -> _Seeded:
    """Trace with a seed axis before the block axis (length ``seeds`` for ``wrt``, 1 for the others);
    forward: the blocks by input ``forward`` from one pushforward; else by every wrt from one grad."""
    import pytensor

    from elemgrad_gpu.compat import pushforward
    import pytensor.tensor as pt

    from elemgrad_gpu.structured.rowlocal import prove_row_local

    seeded = tuple(_seed_shape(s, n in wrt, seeds, batch) for n, s in zip(source.names, shapes))
    env, y = _trace(source, dtype, seeded, batch + 1)
    for name in wrt:
        prove_row_local([y], env[name], x_name=name, what="the function's output")
    if y.ndim == batch + 1:
        y = y[..., None]
    xs = [env[n] for n in wrt]
    y = y + pt.zeros_like(xs[0][..., :1], dtype=y.dtype)  # every row, even where y ignores x
    if forward is not None:
        x = env[forward]
        tangent = pt.zeros_like(x) + pt.eye(seeds, dtype=dtype)
        columns = pushforward(y, x, tangent, disconnected_outputs="ignore")
        blocks = [pt.swapaxes(columns, -1, -2)]
    else:
        cotangent = pt.eye(seeds, dtype=dtype)
        blocks = pytensor.grad((y * cotangent).sum(), xs, disconnected_inputs="ignore")
    return _Seeded(wrt, seeds, list(env.values()), y, blocks)

"""The public entry points: ``compile`` and ``elementwise_grad``."""
from __future__ import annotations

from itertools import combinations_with_replacement
from typing import TYPE_CHECKING, Callable, Sequence

from elemgrad_gpu.graph.build import make_source
from elemgrad_gpu.runtime.device import select_device
from elemgrad_gpu.errors import InputError, InputTypeError
from elemgrad_gpu.runtime.function import ElementwiseFunction, _check_dtype
from elemgrad_gpu.expr.names import resolve
from elemgrad_gpu.graph.plan import MultiIndex

if TYPE_CHECKING:
    from pytensor.graph.basic import Variable

MAX_ORDER = 8  # total order of one derivative; graphs grow quickly beyond it


def compile(f: Callable | str | Variable | Sequence[Variable], *,  # noqa: A001 - like jax.jit
            inputs: Sequence[Variable | str] | None = None, wrt: str | Sequence[str] | None = None,
            orders: int | Sequence[int] = 1, derivatives: Sequence[Sequence[str]] | None = None,
            device: str = "auto", dtype: str | None = None) -> ElementwiseFunction:
    """Compile f's value and elementwise derivatives into one fused kernel.

    f: a callable whose parameters are the inputs, returning an expression of symbolic
    tensors (elemgrad_gpu's math functions or pytensor.tensor); or an expression string
    such as ``"tanh(x)**2"`` whose free names are the inputs; or a PyTensor variable built
    over the user's own named inputs (``X = pt.dvector("X"); f = 3 * X``), or a list/tuple
    of them (one kernel computes them all, output-major: each output's derivatives in turn).
    inputs: for a graph only, its root variables (or their names) in call order. Default:
    the order they first appear in the graph, left to right. Shared variables are folded
    as constants (a call after one changed is refused: recompile).
    wrt: the input(s) to differentiate by, by name (or, for a graph, as its variables).
    Default: the callable's first parameter or the graph's first input; for a string ``x``
    if it occurs, else its only name.
    orders: an int or a tuple of ints >= 0 (0 is the value). With several ``wrt``, order k
    asks for every partial of total order k (combinations of ``wrt`` with repetition).
    derivatives: instead of ``orders``, multi-indices of input names, e.g.
    ``[(), ("x",), ("x", "mu")]`` for f, df/dx and d2f/dx dmu.
    device: "auto" (a GPU when CuPy sees one, else the CPU; ``[global] device`` of
    THEANORC/THEANO_FLAGS when set), "cpu", "cuda" or "cuda:N".
    dtype: None (per call, from the inputs) or "float32"/"float64" (inputs are cast).

    Returns an ElementwiseFunction; calling it returns one array when ``orders`` is an int
    and there is one ``wrt``, else a tuple in the requested order. Raises
    NotElementwiseError when f is not elementwise in an input it is differentiated by: at
    compile for a string, at the first call of each dtype and ndim for a callable (traced
    then, over inputs of that call's dtype and ndim; its own failure there is an ExpressionError).

    >>> import numpy as np, elemgrad_gpu as eg
    >>> value, slope = eg.compile("tanh(x)**2", orders=(0, 1))(np.array([0.0, 1.0]))
    >>> np.allclose(slope, 2 * np.tanh([0.0, 1.0]) / np.cosh([0.0, 1.0]) ** 2)
    True
    """
    source = make_source(f, inputs)
    if source.given is not None:
        wrt, derivatives = _variables_as_names(wrt, source), _variables_as_names(derivatives, source, nested=True)
    if derivatives is not None:
        if orders != 1:
            raise InputError("pass either orders or derivatives, not both")
        indices, single = _parse_derivatives(derivatives, source.names), False
    else:
        indices, single = _from_orders(orders, _parse_wrt(wrt, source.names, source.is_string))
    chosen = select_device(device)
    chosen.backend.check_arguments(len(source.names), len(indices))  # at once, before differentiating
    single = single and source.n_outputs == 1
    function = ElementwiseFunction(source, indices, single, chosen, _check_dtype(dtype))
    if source.is_string or source.given is not None:  # one trace for every ndim, or a graph's own ndim:
        function.expressions  # trace, verify and fuse now, errors surface here
    # a callable is traced at the first call of each dtype and ndim (like jax.jit): a trace at
    # another ndim could fail, or refuse, what works on the inputs it will be called with
    return function


def _variables_as_names(given, source, nested: bool = False):
    """``wrt``/``derivatives`` with a graph's input variables replaced by their names."""
    from pytensor.graph.basic import Variable

    if given is None or isinstance(given, str):
        return given
    by_variable = dict(zip(source.given.inputs, source.names))

    def name(item):
        if isinstance(item, Variable):
            if item not in by_variable:
                raise InputError(f"{item.name or item} is not an input of the graph; its inputs are "
                                 f"{', '.join(source.names)}")
            return by_variable[item]
        return item

    if isinstance(given, Variable):
        return name(given)
    if nested:
        return [name(d) if isinstance(d, str | Variable) else tuple(name(i) for i in d) for d in given]
    return tuple(name(item) for item in given)


def _parse_wrt(wrt, names: tuple[str, ...], is_string: bool) -> tuple[str, ...]:
    if wrt is None:
        if not is_string or len(names) == 1:
            return names[:1]
        if "x" in names:
            return ("x",)
        raise InputError(f"the expression has inputs {', '.join(names)}: say which to differentiate by "
                         f"with wrt=, e.g. wrt={names[0]!r}")
    wrt = tuple(resolve(name, names) for name in ((wrt,) if isinstance(wrt, str) else wrt))
    _check_names(wrt, names, "wrt")
    if len(set(wrt)) != len(wrt):
        raise InputError(f"wrt names an input twice: {wrt}")
    return wrt


def _check_names(given: Sequence, names: tuple[str, ...], what: str) -> None:
    for name in given:
        if not isinstance(name, str):
            raise InputTypeError(f"{what} must hold input names (strings), got {name!r}")
        if name not in names:
            raise InputError(f"{what} names {name!r}, which is not an input; the inputs are {', '.join(names)}")


def _from_orders(orders, wrt: tuple[str, ...]) -> tuple[list[MultiIndex], bool]:
    many = not isinstance(orders, int)
    sequence = tuple(orders) if many else (orders,)
    for k in sequence:
        if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k <= MAX_ORDER:
            raise InputError(f"orders must be integers from 0 to {MAX_ORDER}, got {k!r}")
    if not sequence:
        raise InputError("orders is empty: ask for at least one order (0 is the value)")
    indices = [index for k in sequence for index in combinations_with_replacement(wrt, k)]
    return indices, not many and len(indices) == 1


def _parse_derivatives(derivatives, names: tuple[str, ...]) -> list[MultiIndex]:
    if isinstance(derivatives, str):
        raise InputTypeError("derivatives must be a sequence of tuples of input names, e.g. [(), ('x',)]")
    indices = [tuple(resolve(name, names) for name in ((d,) if isinstance(d, str) else d)) for d in derivatives]
    if not indices:
        raise InputError("derivatives is empty: ask for at least one, () being the value")
    for index in indices:
        _check_names(index, names, "derivatives")
        if len(index) > MAX_ORDER:
            raise InputError(f"derivative {index} has order {len(index)}; at most {MAX_ORDER} is supported")
    return indices


def elementwise_grad(y: Variable, wrt: Variable) -> Variable:
    """dy_i/dwrt_i as a PyTensor variable, after proving y elementwise in wrt.

    For PyTensor and PyMC graphs. When ``wrt`` has y's shape this is
    ``grad(y.sum(), wrt)``; when ``wrt`` is broadcast against y (a scalar parameter, a
    row), each element holds the partial at that element: the Jacobian-vector product
    with a vector of ones, of y's shape. Raises NotElementwiseError otherwise.

    >>> import pytensor.tensor as pt, elemgrad_gpu as eg
    >>> x = pt.vector("x")
    >>> eg.elementwise_grad(pt.tanh(x) ** 2, x).eval({x: [0.0]})
    array([0.])
    """
    import pytensor
    import pytensor.tensor as pt
    from pytensor.gradient import NullTypeGradError
    from pytensor.graph.utils import MethodNotDefined

    from elemgrad_gpu.compat import pushforward
    from elemgrad_gpu.errors import ExpressionError
    from elemgrad_gpu.graph.differentiate import no_derivative_message
    from elemgrad_gpu.graph.verify import verify_elementwise

    y, wrt = pt.as_tensor_variable(y), pt.as_tensor_variable(wrt)
    verify_elementwise([y], wrt, what="y")
    try:
        if wrt.type.broadcastable == y.type.broadcastable:
            return pytensor.grad(y.sum(), wrt, disconnected_inputs="ignore")
        return pushforward(y, wrt, pt.ones_like(wrt), disconnected_outputs="ignore")
    except (MethodNotDefined, NullTypeGradError, NotImplementedError) as error:
        raise ExpressionError(no_derivative_message(error, f"the elementwise derivative by {wrt}")) from error

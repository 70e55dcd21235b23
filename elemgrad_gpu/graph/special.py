"""Accurate special functions as PyTensor scalar ops with C code: polygamma, erfinv, hypot.

PyTensor's own ``psi`` and ``tri_gamma`` C code is accurate to ~1e-10 only, its
``PolyGamma`` and ``Erfinv`` have no C code and it has no ``hypot``. The ops here compute
in C from ``special.h`` beside this module (the same text compiles as CUDA device code), in the
node's dtype: float32 stays float32, and gradients add no float64 constants.

Accuracy, as ``|got - ref| / max(1, |ref|)`` against 30+ digit references: about 1e-15
in float64 and 1e-6 in float32 (polygamma of order n > 40, n > 24 in float32: about n ulp,
from the product n!/x^(n+1)). Limits: the polygamma order ``n`` is an integer in
``[0, 2**20]`` (each element costs O(n) past order 40; values beyond the dtype's range are
+-inf or 0); poles, infinities and NaN give what ``scipy.special.polygamma`` /
``scipy.special.erfinv`` give.

Example:
    >>> import pytensor, pytensor.tensor as pt
    >>> x = pt.dvector("x")
    >>> f = pytensor.function([x], pytensor.grad(digamma(x).sum(), x))
    >>> [round(float(v), 12) for v in f([1.0])]  # trigamma(1) = pi**2 / 6
    [1.644934066848]
"""
from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pytensor.scalar as ps
import pytensor.tensor as pt
import scipy.special
from pytensor.graph.basic import Apply, Variable
from pytensor.graph.fg import FunctionGraph
from pytensor.graph.rewriting.basic import in2out, node_rewriter
from pytensor.scalar.basic import BinaryScalarOp, ScalarOp, UnaryScalarOp, upgrade_to_float_no_complex
from pytensor.scalar.math import Erfinv as PyTensorErfinv
from pytensor.scalar.math import PolyGamma as PyTensorPolyGamma

from elemgrad_gpu.compat import Pullback
from pytensor.scalar.math import Psi, Sigmoid, Softplus, TriGamma
from pytensor.tensor.elemwise import Elemwise
from pytensor.tensor.exceptions import NotScalarConstantError

from elemgrad_gpu.errors import ExpressionError
from elemgrad_gpu.graph import headers
from elemgrad_gpu.graph.headers import constant as _const

HEADER = Path(__file__).with_name("special.h")  # the C of the functions below
MAX_ORDER = 2**20
"""Largest polygamma order ``n``: the C code takes O(n) per element past order 40 (24 in float32)."""

_CTYPES = {"float32": ("float", "f"), "float64": ("double", "")}


class _SpecialOp(Pullback, ScalarOp):
    """Shared C plumbing: call ``eg_<c_name>[f](<c_prefix><inputs>)`` from special.h."""

    c_name: str
    headers: tuple[Path, ...] = (HEADER,)  # the C headers its code calls, in order (headers.py)
    output_types_preference = staticmethod(upgrade_to_float_no_complex)

    def c_prefix(self) -> str:
        """Leading C arguments before the inputs (polygamma's order)."""
        return ""

    def c_code(self, node: Apply, name: str, inputs, outputs, sub) -> str:
        dtype = node.outputs[0].type.dtype
        if dtype not in _CTYPES:
            raise NotImplementedError(f"{self} has C code for float32 and float64 only, not {dtype}")
        ctype, suffix = _CTYPES[dtype]
        args = ", ".join(f"({ctype}){x}" for x in inputs)
        return f"{outputs[0]} = eg_{self.c_name}{suffix}({self.c_prefix()}{args});"

    def c_support_code(self, **kwargs) -> str:
        return headers.support_code(*self.headers)

    def c_code_cache_version(self) -> tuple[int, ...]:
        return (2, headers.version(*self.headers))


class PolyGamma(_SpecialOp, UnaryScalarOp):
    """``polygamma(n, x)``, the n-th derivative of digamma, for a fixed integer order ``n``."""

    __props__ = ("n",)
    c_name = "polygamma"

    def __init__(self, n: int):
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or not 0 <= n <= MAX_ORDER:
            raise ExpressionError(f"polygamma's order must be an integer in [0, {MAX_ORDER}], got {n!r}")
        super().__init__(name=f"polygamma{n}")
        self.n = int(n)

    def impl(self, x):
        return scipy.special.polygamma(self.n, x)

    def c_prefix(self) -> str:
        return f"{self.n}, "

    def pullback(self, inputs, outputs, output_gradients):
        (x,), (gz,) = inputs, output_gradients
        return [gz * scalar_polygamma(self.n + 1)(x)]


class ErfInv(_SpecialOp, UnaryScalarOp):
    """Inverse error function: ``erfinv(+-1) = +-inf``, NaN for ``|y| > 1``."""

    __props__ = ()
    c_name = "erfinv"
    nfunc_spec = ("scipy.special.erfinv", 1, 1)
    monotonic_increasing = True

    def impl(self, y):
        return scipy.special.erfinv(y)

    def pullback(self, inputs, outputs, output_gradients):
        (z,), (gz,) = outputs, output_gradients
        return [gz * _const(np.sqrt(np.pi) / 2, z) * ps.exp(z * z)]


class Hypot(_SpecialOp, BinaryScalarOp):
    """``sqrt(a**2 + b**2)`` without overflow; its gradient is NaN at ``(0, 0)``."""

    __props__ = ()
    c_name = "hypot"
    nfunc_spec = ("numpy.hypot", 2, 1)
    commutative = True

    def impl(self, a, b):
        return np.hypot(a, b)

    def pullback(self, inputs, outputs, output_gradients):
        (a, b), (z,), (gz,) = inputs, outputs, output_gradients
        return [gz * a / z, gz * b / z]


@cache
def scalar_polygamma(n: int) -> PolyGamma:
    """The scalar op of ``polygamma(n, .)`` (one shared instance per order)."""
    return PolyGamma(n)


@cache
def _elemwise_polygamma(n: int) -> Elemwise:
    return Elemwise(scalar_polygamma(n))


_elemwise_erfinv = Elemwise(ErfInv(name="erfinv"))
_elemwise_hypot = Elemwise(Hypot(name="hypot"))


def _order(n) -> int:
    """``n`` as a Python int: a Python/NumPy integer or a constant integer scalar variable."""
    value = n
    if isinstance(n, Variable):
        try:
            value = pt.get_underlying_scalar_constant_value(n)
        except NotScalarConstantError:
            raise ValueError(f"polygamma's order must be a constant integer, got the variable {n}") from None
    array = np.asarray(value)
    if isinstance(value, bool) or array.ndim != 0 or array.dtype.kind not in "iu":
        raise ValueError(f"polygamma's order must be a non-negative integer, got {n!r}")
    return int(array)


def polygamma(n, x) -> pt.TensorVariable:
    """Elementwise ``polygamma(n, x)`` for a constant integer order ``0 <= n <= MAX_ORDER``."""
    return _elemwise_polygamma(_order(n))(x)


def digamma(x) -> pt.TensorVariable:
    """Elementwise digamma, ``polygamma(0, x)``."""
    return _elemwise_polygamma(0)(x)


def erfinv(y) -> pt.TensorVariable:
    """Elementwise inverse error function."""
    return _elemwise_erfinv(y)


class BranchFreeSoftplus(Softplus):
    """softplus(x) as ``max(x, 0) + log1p(exp(-|x|))``, computed by the fused loop.

    PyTensor's C code chooses among four formulas (x < -37, < 18, < 33.3), which keeps
    the CPU loop from vectorizing (what that costs: docs/PERFORMANCE.md) and
    raises "invalid" on NaN through its comparisons. This form has neither; its error is
    a few ulp (measured in tests/graph/test_special.py).
    """

    def c_code(self, node: Apply, name: str, inputs, outputs, sub) -> str:
        (x,), (z,) = inputs, outputs
        return f"{z} = (isgreater({x}, 0.0) ? {x} : 0.0) + log1p(exp(-fabs({x})));"  # quiet: no flag on NaN

    def c_code_cache_version(self) -> tuple[int, ...]:
        return (1,)


branch_free_softplus = BranchFreeSoftplus(upgrade_to_float_no_complex, name="softplus")


class OverflowFreeSigmoid(Sigmoid):
    """sigmoid(x) from ``e = exp(-|x|)``: ``1 / (1 + e)`` for x >= 0, ``e / (1 + e)`` below.

    PyTensor's ``1 / (1 + exp(-x))`` overflows ``exp`` below x = -709 (-88 in float32), so
    the softplus derivative and sigmoid warned "overflow" where the result, 0, is exact.
    This form never overflows, gives NaN for NaN without a flag, and shares its ``exp``
    with softplus's (the compiler computes ``exp(-|x|)`` once for both); its error is a
    few ulp (measured in tests/graph/test_special.py).
    """

    def c_code(self, node: Apply, name: str, inputs, outputs, sub) -> str:
        (x,), (z,) = inputs, outputs
        ctype = node.outputs[0].type.dtype_specs()[1]  # npy_float64, npy_float32
        return (f"{{ const {ctype} eg_e = exp(-fabs({x})), eg_r = 1.0 / (1.0 + eg_e);"
                f" {z} = isgreaterequal({x}, 0.0) ? eg_r : eg_e * eg_r; }}")  # quiet: no flag on NaN

    def c_code_cache_version(self) -> tuple[int, ...]:
        return (1,)


overflow_free_sigmoid = OverflowFreeSigmoid(upgrade_to_float_no_complex, name="sigmoid")


def hypot(a, b) -> pt.TensorVariable:
    """Elementwise ``sqrt(a**2 + b**2)``, computed without overflow."""
    return _elemwise_hypot(a, b)


@node_rewriter([Elemwise])
def _accurate_special_function(fgraph, node):
    """Replace PyTensor's psi, tri_gamma, polygamma (constant order) and erfinv by ours."""
    op = node.op.scalar_op
    if isinstance(op, Psi | TriGamma):
        return [polygamma(0 if isinstance(op, Psi) else 1, node.inputs[0])]
    if isinstance(op, PyTensorErfinv):
        return [erfinv(node.inputs[0])]
    if isinstance(op, PyTensorPolyGamma) and all(node.inputs[0].type.broadcastable):
        try:
            n = _order(node.inputs[0])
        except ValueError:
            return None
        return [polygamma(n, node.inputs[1])]
    return None


def use_accurate_special_functions(outputs: list[Variable]) -> list[Variable]:
    """``outputs`` with PyTensor's psi, tri_gamma, polygamma and erfinv nodes replaced by ours.

    The given graphs are not modified: the result is a copy over the same inputs.
    Apply it before fusion (it does not look inside ``Composite`` ops). A ``polygamma``
    whose order is not a constant integer scalar is left as it is.
    """
    fgraph = FunctionGraph(outputs=list(outputs), clone=True, copy_inputs=False)
    in2out(_accurate_special_function).rewrite(fgraph)
    return list(fgraph.outputs)

"""Bessel functions as PyTensor scalar ops with C code: J, Y, I, K of real order, scaled I and K.

The C code is ``bessel.h`` beside this module (the same text compiles as CUDA device code),
in the node's dtype: float32 stays float32. Integer orders of J and Y call the C library's
``j0 j1 jn y0 y1 yn`` (CUDA's device functions on the GPU); real orders use Steed's method
with Temme's series and Hankel's expansions (see the header).

Derivatives:
- in x, in closed form by the recurrences (DLMF 10.6.1, 10.29.1): ``J_v' = (J_{v-1} - J_{v+1})/2``,
  ``Y`` alike, ``I_v' = (I_{v-1} + I_{v+1})/2``, ``K_v' = -(K_{v-1} + K_{v+1})/2``, and the product
  rule for the scaled ``ive = I_v e^-|x|`` and ``kve = K_v e^x``. A derivative is another Bessel
  op, so every order follows; orders >= 3 in x go through Taylor mode (``taylor_rule``).
- in the order v, by ``BesselDv`` (first and second derivative; see ``bessel.h`` for the method
  and tests/graph/test_bessel.py for the measured error). A third v-derivative is refused with
  an ``ExpressionError``.

PyTensor's own ``i0 i1 ive j0 j1 jv kve`` (and ``iv``, ``kv``, built of them) have no C code:
substitutes registered here replace them in user graphs.
"""
from __future__ import annotations

import math
from functools import cache
from pathlib import Path

import mpmath
import numpy as np
import pytensor.scalar as ps
import pytensor.scalar.math as psm
import pytensor.tensor as pt
import scipy.special
from pytensor.graph.basic import Apply
from pytensor.scalar.basic import BinaryScalarOp, ScalarOp, UnaryScalarOp, upgrade_to_float_no_complex
from pytensor.tensor.elemwise import Elemwise
from pytensor.tensor.exceptions import NotScalarConstantError

from elemgrad_gpu.compat import Pullback
from elemgrad_gpu.errors import ExpressionError, NoTaylorRule
from elemgrad_gpu.graph import headers
from elemgrad_gpu.graph.headers import constant as _constant
from elemgrad_gpu.graph.substitute import substitutes

HEADER = Path(__file__).with_name("bessel.h")
_CTYPES = {"float32": ("float", "f"), "float64": ("double", "")}
# family -> (SciPy function of (v, x), coefficient of F_{v-1}, of F_{v+1} in dF/dx, the scaling:
# 0 none, -1: times e^-|x| (its x-derivative adds -sign(x) F), +1: times e^x (adds +F))
FAMILIES = {
    "jv": (scipy.special.jv, 0.5, -0.5, 0), "yv": (scipy.special.yv, 0.5, -0.5, 0),
    "iv": (scipy.special.iv, 0.5, 0.5, 0), "ive": (scipy.special.ive, 0.5, 0.5, -1),
    "kv": (scipy.special.kv, -0.5, -0.5, 0), "kve": (scipy.special.kve, -0.5, -0.5, 1),
}
_KIND = {"jv": 0, "yv": 1, "iv": 2, "ive": 3, "kv": 4, "kve": 5}  # eg_bessel_dv's kind
_MPMATH = {"jv": mpmath.besselj, "yv": mpmath.bessely, "iv": mpmath.besseli, "kv": mpmath.besselk,
           "ive": lambda v, x: mpmath.besseli(v, x) * mpmath.exp(-abs(x)),
           "kve": lambda v, x: mpmath.besselk(v, x) * mpmath.exp(x)}


class _BesselC(Pullback, ScalarOp):
    """Shared C plumbing: ``outputs[0] = <call>`` with the inputs cast to the node's C type."""

    output_types_preference = staticmethod(upgrade_to_float_no_complex)

    def c_call(self, suffix: str, args: list[str]) -> str:
        raise NotImplementedError

    def c_code(self, node: Apply, name: str, inputs, outputs, sub) -> str:
        dtype = node.outputs[0].type.dtype
        if dtype not in _CTYPES:
            raise NotImplementedError(f"{self} has C code for float32 and float64 only, not {dtype}")
        ctype, suffix = _CTYPES[dtype]
        return f"{outputs[0]} = {self.c_call(suffix, [f'({ctype}){x}' for x in inputs])};"

    def c_support_code(self, **kwargs) -> str:
        return headers.support_code(HEADER)

    def c_code_cache_version(self) -> tuple[int, ...]:
        return (2, headers.version(HEADER))


class Bessel(_BesselC, BinaryScalarOp):
    """``family(v, x)`` for real order ``v``: family one of jv yv iv ive kv kve (``name``: yn)."""

    __props__ = ("family", "name")

    def __init__(self, family: str, name: str | None = None):
        super().__init__(name=name or family)
        self.family = family

    def impl(self, v, x):
        return FAMILIES[self.family][0](v, x)

    def c_call(self, suffix, args):
        return f"eg_{self.family}{suffix}({', '.join(args)})"

    def pullback(self, inputs, outputs, output_gradients):
        (v, x), (gz,) = inputs, output_gradients
        return [gz * bessel_dv(self.family, 1)(v, x), gz * x_derivative(self.family, bessel(self.family), v, x)]


class BesselOrder(_BesselC, UnaryScalarOp):
    """A fixed-order function of x, by name: j0 j1 y0 y1 i0 i1 i0e i1e k0 k1 k0e k1e."""

    __props__ = ("family", "order")

    def __init__(self, family: str, order: int, name: str):
        super().__init__(name=name)
        self.family, self.order = family, order

    def impl(self, x):
        return FAMILIES[self.family][0](self.order, x)

    def c_call(self, suffix, args):
        if self.family in ("ive", "kve"):  # 0 at infinity, as SciPy's i0e, k0e
            return f"eg_{self.family}_n{suffix}({self.order}, {args[0]})"
        return f"eg_{self.family}{suffix}({self.order}.0{suffix}, {args[0]})"

    def pullback(self, inputs, outputs, output_gradients):
        (x,), (gz,) = inputs, output_gradients
        return [gz * x_derivative(self.family, bessel(self.family), _constant(self.order, x), x)]


class BesselDv(_BesselC, BinaryScalarOp):
    """``d^m/dv^m family(v, x)`` for m = 1, 2, x > 0 (NaN for x < 0)."""

    __props__ = ("family", "m")

    def __init__(self, family: str, m: int):
        super().__init__(name=f"{family}_dv{m}")
        self.family, self.m = family, m

    def impl(self, v, x):
        if not (x > 0 and np.isfinite(v) and np.isfinite(x)):
            return np.nan
        with mpmath.workdps(30):
            f = _MPMATH[self.family]
            return float(mpmath.diff(lambda w: f(w, mpmath.mpf(float(x))), mpmath.mpf(float(v)), self.m))

    def c_call(self, suffix, args):
        return f"eg_bessel_dv{suffix}({_KIND[self.family]}, {self.m}, {', '.join(args)})"

    def pullback(self, inputs, outputs, output_gradients):
        (v, x), (gz,) = inputs, output_gradients
        if self.m >= 2:
            raise ExpressionError(f"{self.family}: derivatives of order 3 or more in the order v are not available "
                                  f"(the first and second are; in x every order is)")
        return [gz * bessel_dv(self.family, 2)(v, x), gz * x_derivative(self.family, self, v, x)]


def x_derivative(family: str, op, v, x):
    """d/dx of ``op(v, x)``, where op is the family's function or a v-derivative of it (the
    recurrence's coefficients do not depend on v)."""
    _, below, above, scaling = FAMILIES[family]
    one = _constant(1.0, x)
    result = _constant(below, x) * op(v - one, x) + _constant(above, x) * op(v + one, x)
    if scaling == -1:
        result = result - ps.sign(x) * op(v, x)
    elif scaling == 1:
        result = result + op(v, x)
    return result


@cache
def bessel(family: str) -> Bessel:
    return Bessel(family)


@cache
def bessel_dv(family: str, m: int) -> BesselDv:
    return BesselDv(family, m)


@cache
def _elemwise(op: ScalarOp) -> Elemwise:
    return Elemwise(op)


def _integer_order(v, name: str):
    """``v``, checked to be an integer where it is a constant (yn's order)."""
    try:
        value = pt.get_underlying_scalar_constant_value(pt.as_tensor_variable(v))
    except NotScalarConstantError:
        return v
    if not float(value).is_integer():
        raise ExpressionError(f"{name}'s order must be an integer, got {value!r} (jv and yv take real orders)")
    return v


def _binary(family: str, name: str | None = None):
    op = Bessel(family, name) if name else bessel(family)

    def build(v, x):
        if name:
            v = _integer_order(v, name)
        return _elemwise(op)(pt.as_tensor_variable(v), x)
    build.__name__ = name or family
    build.__doc__ = f"Elementwise ``{name or family}(v, x)`` (scipy.special.{name or family})."
    return build


def _unary(family: str, order: int, name: str):
    op = BesselOrder(family, order, name)

    def build(x):
        return _elemwise(op)(x)
    build.__name__ = name
    build.__doc__ = f"Elementwise ``{name}(x)``, ``{family}({order}, x)`` (scipy.special.{name})."
    return build


jv, yv, iv, ive, kv, kve = (_binary(f) for f in ("jv", "yv", "iv", "ive", "kv", "kve"))
yn = _binary("yv", "yn")  # integer order (a literal of the language); SciPy's jn is jv: an alias
j0, j1, y0, y1 = _unary("jv", 0, "j0"), _unary("jv", 1, "j1"), _unary("yv", 0, "y0"), _unary("yv", 1, "y1")
i0, i1, i0e, i1e = _unary("iv", 0, "i0"), _unary("iv", 1, "i1"), _unary("ive", 0, "i0e"), _unary("ive", 1, "i1e")
k0, k1, k0e, k1e = _unary("kv", 0, "k0"), _unary("kv", 1, "k1"), _unary("kve", 0, "k0e"), _unary("kve", 1, "k1e")


# ---- PyTensor's own ops in user graphs (no C code there) ----

@substitutes(psm.J0, psm.J1, psm.I0, psm.I1)
def _pytensor_fixed_order(node):
    build = {psm.J0: j0, psm.J1: j1, psm.I0: i0, psm.I1: i1}[type(node.op.scalar_op)]
    return [build(node.inputs[0])]


@substitutes(psm.Jv, psm.Ive, psm.Kve)
def _pytensor_real_order(node):
    build = {psm.Jv: jv, psm.Ive: ive, psm.Kve: kve}[type(node.op.scalar_op)]
    return [build(*node.inputs)]


# ---- Taylor mode (graph/taylor.py): orders >= 3 in x for a constant order v ----

def taylor_rule(a, node, s):
    """d^j/dx^j F_v = 2^-j sum_i C(j, i) c_i F_{v-j+2i} (J, Y: c_i = (-1)^i; I: 1; K: (-1)^j),
    composed with the operand's series. Scaled functions and a varying order have no rule."""
    op = node.op
    family = op.family
    if FAMILIES[family][3] != 0:
        raise NoTaylorRule(f"no Taylor rule for {op.name}")
    if isinstance(op, BesselOrder):
        v, u = float(op.order), s[0]
    else:
        if any(not _is_zero(c) for c in s[0][1:]):
            raise NoTaylorRule(f"no Taylor rule for {op.name} of a varying order")
        v, u = s[0][0], s[1]
    scalar = bessel(family)
    derivatives = []
    for j in range(1, a.order + 1):
        terms = []
        for i in range(j + 1):
            sign = {"jv": (-1) ** i, "yv": (-1) ** i, "iv": 1, "kv": (-1) ** j}[family]
            terms.append(a.mul(sign * math.comb(j, i) / 2 ** j, a.call(scalar, a.add(v, float(2 * i - j)), u[0])))
        derivatives.append(a.add(*terms))
    return a.compose(u, derivatives, node.outputs[0])


def _is_zero(c) -> bool:
    from elemgrad_gpu.graph.taylor_series import is_number
    return is_number(c) and float(c) == 0


def _register_taylor() -> None:
    from elemgrad_gpu.graph import taylor
    taylor.register({Bessel: taylor_rule, BesselOrder: taylor_rule})


_register_taylor()

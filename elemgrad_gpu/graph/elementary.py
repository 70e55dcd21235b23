"""Elementary compositions, rounding and remainders, with NumPy's and SciPy's values.

Each function is a PyTensor scalar op whose C code (the same text compiles as CUDA device
code) computes NumPy's or SciPy's value in the node's dtype, and whose derivatives are
built from ops whose own derivatives exist to any order:

* ``logit``, ``logaddexp``, ``logaddexp2``, ``cbrt``, ``entr``, ``rel_entr``, ``kl_div``:
  closed-form derivatives. ``logaddexp``'s are ``sigmoid(a - b)`` and ``sigmoid(b - a)``,
  with ``a - b`` taken as 0 where ``a == b`` (also at equal infinities): 1/2 each at every
  tie, ``logaddexp(-inf, -inf) = -inf`` with slopes 1/2, and second derivatives 1/4 there
  (the naive ``maximum(a, b) + log1p(exp(-abs(a - b)))`` gives 1 and 0 at the tie, and 0 for
  the second derivative). ``rel_entr``'s and ``kl_div``'s derivatives in ``y`` are
  ``-x/y`` (``1 - x/y``) as removable's op that is 0 where ``x == 0``.
* ``boxcox(x, lmbda) = expm1(lmbda t) / lmbda`` with ``t = log(x)`` (``boxcox1p``:
  ``t = log1p(x)``), ``t`` at ``lmbda = 0``. The removable singularity at ``lmbda = 0``:
  d/dx is ``exp((lmbda - 1) t) t'``, d/dlmbda is ``t**2 exprel'(lmbda t)``, where
  ``exprel'`` is a Taylor polynomial for ``|u| < 2`` and its closed form beyond, each
  evaluated only where it is taken (removable.py's ``Guard``): exact at and near
  ``lmbda = 0`` in every order.
* ``floor``, ``ceil`` (PyTensor's), ``trunc`` (C's), ``round`` (half to even, NumPy's: C's
  ``rint``, also at -0.0), ``round_half_away_from_zero`` (C's ``round``): derivative 0
  everywhere, also at the jumps (as JAX and PyTorch: the jumps are ignored).
* ``mod`` (NumPy's: the sign of the divisor) and ``fmod`` (C's: the sign of the dividend,
  ``jax.lax.rem``): d/da = 1, d/db = -q, where q is the integer quotient the remainder
  was computed with (NumPy's ``floor_divide`` for ``mod``, its truncation for ``fmod``),
  exact also where ``a/b`` rounds to an integer (``mod(1, 0.1) = 0.0999...``: q = 9, not
  ``floor(1/0.1) = 10``). Where the value is NaN (``b = 0``, ``a = inf``) so are both.
* ``fmax``, ``fmin`` (NaN-ignoring, NumPy's): derivatives by selection as kinks.py's
  ``maximum``: the winner takes the slope, half each at a tie, a NaN argument contributes
  0, NaN where both are NaN. ``clamp(low, x, high)`` is JAX's argument order for
  kinks.py's ``clip``, values and derivatives.

PyTensor's own ``round`` (``+0.0`` for ``round(-0.4)``, where NumPy gives ``-0.0``), ``trunc``
("invalid" raised on NaN), its
float ``mod`` (``+0.0`` for ``mod(4, -2)``, and d/db ``-(a // b)``, 10 at ``mod(1, 0.1)``)
and ``pt.logaddexp`` (``log(exp(a) + exp(b))``: NaN slopes once ``exp`` overflows) are
replaced by these in a user's graph (substitute.py).
"""
from __future__ import annotations

import math
from functools import cache
from string import Template

import numpy as np
import pytensor.scalar as ps
import pytensor.scalar.math as psm
import pytensor.tensor as pt
import scipy.special
from pytensor.scalar.basic import BinaryScalarOp, ScalarOp, UnaryScalarOp, upgrade_to_float_no_complex
from pytensor.tensor.elemwise import Elemwise

from elemgrad_gpu.compat import Pullback
from elemgrad_gpu.graph.headers import constant as _const
from elemgrad_gpu.errors import NoTaylorRule
from elemgrad_gpu.graph import kinks, taylor
from elemgrad_gpu.graph.removable import EXPREL_RADIUS, Guard, Polynomial, x_over_power
from elemgrad_gpu.graph.substitute import SUBSTITUTES, substitutes

_EXPREL_SLOPE_TERMS = 34  # sum_k (k+1) u^k / (k+2)!: its 4th derivative's tail < 1e-20 at |u| = 2


class _Elementary(Pullback, ScalarOp):
    """An op whose C code is ``c_form``: C statements of ``$a``, ``$b`` (inputs), ``$z`` (output)
    and ``$T`` (the output's C type), in a block of its own."""

    __props__ = ()
    output_types_preference = staticmethod(upgrade_to_float_no_complex)
    c_form: str

    def c_code(self, node, name, inputs, outputs, sub) -> str:
        names = dict(zip("ab", inputs), z=outputs[0], T=node.outputs[0].type.dtype_specs()[1])
        return "{ " + Template(self.c_form).substitute(names) + " }"

    def c_code_cache_version(self) -> tuple[int, ...]:
        return (1,)


# log(a/b) accurate for a, b > 0: log1p of the exact difference near 1, log of the ratio where it is
# a normal number, else the difference of the logarithms (no overflow of a/b); -inf at a = 0.
_LOG_RATIO = ("$T eg_r = $a / $b; $T eg_l = (isgreater(eg_r, 0.5) && isgreater(2.0, eg_r)) ? log1p(($a - $b) / $b)"
              " : (isgreater(eg_r, 1e-30) && isgreater(1e30, eg_r)) ? log(eg_r) : log($a) - log($b);")


class Logit(_Elementary, UnaryScalarOp):
    """``log(x / (1 - x))``: ``2 atanh(2x - 1)`` in [1/4, 3/4], ``log(x) - log1p(-x)`` outside
    (accurate near 0, 1/2 and 1); -inf at 0, inf at 1, NaN outside [0, 1] (SciPy's)."""

    c_form = ("$z = (isgreater($a, 0.25) && isgreater(0.75, $a)) ? 2.0 * atanh(2.0 * $a - 1.0)"
              " : log($a) - log1p(-$a);")

    def impl(self, x):
        return scipy.special.logit(x)

    def pullback(self, inputs, outputs, gout):
        (x,), (gz,) = inputs, gout
        return [gz * (ps.reciprocal(x) + ps.reciprocal(_const(1.0, gz) - x))]


class TieDifference(_Elementary, BinaryScalarOp):
    """``a - b``, 0 where ``a == b`` (also for equal infinities, where ``a - b`` is NaN)."""

    c_form = "$z = ($a == $b) ? 0.0 : $a - $b;"

    def impl(self, a, b):
        return 0.0 if a == b else a - b

    def pullback(self, inputs, outputs, gout):
        (gz,) = gout
        return [gz, -gz]


tie_difference = TieDifference(name="difference")


class LogAddExp(_Elementary, BinaryScalarOp):
    """NumPy's ``logaddexp(a, b) = log(exp(a) + exp(b))`` (``base=2``: ``logaddexp2``)."""

    __props__ = ("base",)
    commutative = True

    def __init__(self, base: int):
        super().__init__(name="logaddexp" if base == math.e else "logaddexp2")
        self.base = base
        exp, tie, scale = ("exp", "0.6931471805599453", "") if base == math.e else ("exp2", "1.0",
                                                                                     " * 1.4426950408889634")
        # NumPy's npy_logaddexp: a tie (equal infinities too) is a + log(2); a NaN difference is NaN
        self.c_form = (f"if ($a == $b) $z = $a + {tie}; else {{ $T eg_d = $a - $b;"
                       f" $z = isgreater(eg_d, 0.0) ? $a + log1p({exp}(-eg_d)){scale}"
                       f" : isgreater(0.0, eg_d) ? $b + log1p({exp}(eg_d)){scale} : eg_d; }}")

    def impl(self, a, b):
        return np.logaddexp(a, b) if self.base == math.e else np.logaddexp2(a, b)

    def pullback(self, inputs, outputs, gout):
        (a, b), (gz,) = inputs, gout
        d = tie_difference(a, b)
        if self.base != math.e:
            d = d * _const(math.log(2.0), gz)
        return [gz * psm.sigmoid(d), gz * psm.sigmoid(-d)]


class Cbrt(_Elementary, UnaryScalarOp):
    """The real cube root (``cbrt(-8) = -2``); its slope ``1/(3 cbrt(x)**2)`` is inf at 0."""

    c_form = "$z = cbrt($a);"

    def impl(self, x):
        return np.cbrt(x)

    def pullback(self, inputs, outputs, gout):
        (z,), (gz,) = outputs, gout
        return [gz / (_const(3.0, gz) * ps.sqr(z))]


class Entr(_Elementary, UnaryScalarOp):
    """SciPy's ``entr(x) = -x log(x)``: 0 at 0, -inf for x < 0, NaN for NaN."""

    c_form = "$z = isgreater($a, 0.0) ? -$a * log($a) : ($a == 0.0) ? 0.0 : ($a != $a) ? $a : -INFINITY;"

    def impl(self, x):
        return scipy.special.entr(x)

    def pullback(self, inputs, outputs, gout):
        (x,), (gz,) = inputs, gout
        return [gz * (-ps.log(x) - _const(1.0, gz))]


class LogRatio(_Elementary, BinaryScalarOp):
    """``log(a / b)`` for a, b >= 0, accurate near a = b and without overflow of a / b."""

    c_form = _LOG_RATIO + " $z = eg_l;"

    def impl(self, a, b):
        return np.log(a) - np.log(b)

    def pullback(self, inputs, outputs, gout):
        (a, b), (gz,) = inputs, gout
        return [gz / a, -gz / b]


log_ratio = LogRatio(name="log_ratio")


class RelEntr(_Elementary, BinaryScalarOp):
    """SciPy's ``rel_entr(x, y) = x log(x/y)`` (``kl_div``: ``x log(x/y) - x + y``): for x > 0
    and y > 0; 0 (``y``) at x = 0 <= y; inf elsewhere; NaN for a NaN."""

    __props__ = ("kl",)

    def __init__(self, kl: bool):
        super().__init__(name="kl_div" if kl else "rel_entr")
        self.kl = kl
        tail, at_zero = (" - $a + $b", "$b") if kl else ("", "0.0")
        self.c_form = (f"if ($a != $a || $b != $b) $z = $a + $b; else if (isgreater($a, 0.0) && isgreater($b, 0.0))"
                       f" {{ {_LOG_RATIO} $z = $a * eg_l{tail}; }}"
                       f" else $z = ($a == 0.0 && isgreaterequal($b, 0.0)) ? {at_zero} : INFINITY;")

    def impl(self, x, y):
        return scipy.special.kl_div(x, y) if self.kl else scipy.special.rel_entr(x, y)

    def pullback(self, inputs, outputs, gout):
        (x, y), (gz,) = inputs, gout
        x_over_y = x_over_power(1)(x, y)  # 0 where x == 0, also at y == 0
        if self.kl:
            return [gz * log_ratio(x, y), gz * (_const(1.0, gz) - x_over_y)]
        return [gz * (log_ratio(x, y) + _const(1.0, gz)), -gz * x_over_y]


def _exprel_slope(u):
    """d/du ``expm1(u)/u`` as a scalar graph: its Taylor polynomial for ``|u| < 2``, its closed
    form ``(exp(u) (u - 1) + 1) / u**2`` beyond, each evaluated only where it is taken."""
    near = ps.lt(ps.abs(u), _const(EXPREL_RADIUS, u))
    coefficients = tuple((k + 1) / math.factorial(k + 2) for k in range(_EXPREL_SLOPE_TERMS))
    series = Polynomial(coefficients, "exprel_slope_series")(Guard(EXPREL_RADIUS, True, 0.0)(u))
    far = Guard(EXPREL_RADIUS, False, EXPREL_RADIUS)(u)
    one = _const(1.0, u)
    return ps.switch(near, series, (ps.exp(far) * (far - one) + one) / (far * far))


class BoxCox(_Elementary, BinaryScalarOp):
    """SciPy's ``boxcox(x, lmbda)`` (``plus_one``: ``boxcox1p``): ``expm1(lmbda t) / lmbda``
    with ``t = log(x)`` (``log1p(x)``), ``t`` where ``lmbda = 0`` or ``lmbda t`` is below
    1e-17 (where the quotient is ``t`` to the last bit, and ``expm1`` would underflow)."""

    __props__ = ("plus_one",)

    def __init__(self, plus_one: bool):
        super().__init__(name="boxcox1p" if plus_one else "boxcox")
        self.plus_one = plus_one
        log = "log1p" if plus_one else "log"
        self.c_form = (f"$T eg_t = {log}($a), eg_u = $b * eg_t;"
                       f" $z = ($b == 0.0 || isgreater(1e-17, fabs(eg_u))) ? eg_t : expm1(eg_u) / $b;")

    def impl(self, x, lmbda):
        return (scipy.special.boxcox1p if self.plus_one else scipy.special.boxcox)(x, lmbda)

    def pullback(self, inputs, outputs, gout):
        (x, lmbda), (gz,) = inputs, gout
        t = ps.log1p(x) if self.plus_one else ps.log(x)
        one = _const(1.0, gz)
        return [gz * ps.exp((lmbda - one) * t), gz * t * t * _exprel_slope(lmbda * t)]


class HalfEvenRound(Pullback, ps.RoundHalfToEven):
    """NumPy's ``round``: half to even, by C's ``rint`` (``-0.0`` for ``round(-0.4)``, as NumPy;
    PyTensor's C code gave ``+0.0``). Derivative 0, PyTensor's."""

    def c_code(self, node, name, inputs, outputs, sub) -> str:
        return f"{outputs[0]} = rint({inputs[0]});"

    def c_code_cache_version(self) -> tuple[int, ...]:
        return (1,)


class CTrunc(Pullback, ps.Trunc):
    """Rounding toward 0 by C's ``trunc`` (PyTensor's ``x >= 0 ? floor(x) : -floor(-x)`` raised
    "invalid" on NaN through its comparison). Derivative 0, PyTensor's."""

    def c_code(self, node, name, inputs, outputs, sub) -> str:
        return f"{outputs[0]} = trunc({inputs[0]});"

    def c_code_cache_version(self) -> tuple[int, ...]:
        return (1,)


class Quotient(_Elementary, BinaryScalarOp):
    """The integer quotient of a remainder: NumPy's ``floor_divide(a, b)`` (``floor``) or its
    truncation toward 0 (``fmod``'s), from the exact ``fmod`` as NumPy's ``npy_divmod``;
    NaN where ``b = 0``. Piecewise constant: derivative 0."""

    __props__ = ("floor",)

    def __init__(self, floor: bool):
        super().__init__(name="floor_divide" if floor else "trunc_divide")
        self.floor = floor
        adjust = " if (eg_m != 0.0 && (isgreater(0.0, $b) != isgreater(0.0, eg_m))) eg_d -= 1.0;" if floor else ""
        self.c_form = (f"$T eg_m = fmod($a, $b), eg_d = ($a - eg_m) / $b;{adjust}"
                       " if (eg_d != 0.0) { $T eg_f = floor(eg_d);"
                       " $z = isgreater(eg_d - eg_f, 0.5) ? eg_f + 1.0 : eg_f; } else $z = copysign(0.0, $a / $b);")

    def impl(self, a, b):
        if b == 0:
            return np.nan
        return np.floor_divide(a, b) if self.floor else np.rint((a - np.fmod(a, b)) / b)

    def pullback(self, inputs, outputs, gout):
        (a, b) = inputs
        return [a.zeros_like(), b.zeros_like()]


class Remainder(_Elementary, BinaryScalarOp):
    """NumPy's ``mod`` (``floor``: the sign of the divisor) or C's ``fmod`` (the sign of the
    dividend); NaN where ``b = 0`` or ``a`` is infinite. d/da = 1, d/db = -quotient (NaN where
    the value is NaN)."""

    __props__ = ("floor",)

    def __init__(self, floor: bool):
        super().__init__(name="mod" if floor else "fmod")
        self.floor = floor
        # npy_divmod's remainder: fmod's, moved by b where its sign differs from b's; a zero takes b's sign
        self.c_form = ("$T eg_m = fmod($a, $b); $z = (eg_m != 0.0) ? ((isgreater(0.0, $b) != isgreater(0.0, eg_m))"
                       " ? eg_m + $b : eg_m) : copysign(0.0, $b);") if floor else "$z = fmod($a, $b);"

    def impl(self, a, b):
        return np.mod(a, b) if self.floor else np.fmod(a, b)

    def pullback(self, inputs, outputs, gout):
        (a, b), (z,), (gz,) = inputs, outputs, gout
        return [ps.switch(ps.isnan(z), z, gz), -gz * _quotient(self.floor)(a, b)]


@cache
def _quotient(floor: bool) -> Quotient:
    return Quotient(floor)


class NaNIgnoringExtremum(_Elementary, BinaryScalarOp):
    """NumPy's ``fmax`` (``larger``) or ``fmin``: the other argument where one is NaN.
    Derivatives by selection (module docstring)."""

    __props__ = ("larger",)
    commutative = True

    def __init__(self, larger: bool):
        super().__init__(name="fmax" if larger else "fmin")
        self.larger = larger
        # npy_fmax/npy_fmin: the first argument unless the second wins or is NaN (also the sign of a zero)
        first, second = ("$a", "$b") if larger else ("$b", "$a")
        self.c_form = f"$z = (isgreaterequal({first}, {second}) || $b != $b) ? $a : $b;"

    def impl(self, a, b):
        return np.fmax(a, b) if self.larger else np.fmin(a, b)

    def pullback(self, inputs, outputs, gout):
        (a, b), (gz,) = inputs, gout
        beats = ps.gt if self.larger else ps.lt
        # not eq(a, a): PyTensor simplifies it to True
        a_wins = ps.or_(beats(a, b), ps.and_(ps.isnan(b), ps.invert(ps.isnan(a))))
        b_wins = ps.or_(beats(b, a), ps.and_(ps.isnan(a), ps.invert(ps.isnan(b))))
        return kinks._selected(gz, a, b, a_wins, b_wins)


_logit = Elemwise(Logit(name="logit"))
_logaddexp, _logaddexp2 = Elemwise(LogAddExp(math.e)), Elemwise(LogAddExp(2))
_cbrt, _entr = Elemwise(Cbrt(name="cbrt")), Elemwise(Entr(name="entr"))
_rel_entr, _kl_div = Elemwise(RelEntr(False)), Elemwise(RelEntr(True))
_boxcox, _boxcox1p = Elemwise(BoxCox(False)), Elemwise(BoxCox(True))
half_even_round = HalfEvenRound(ps.same_out_float_only, name="round")
_round, _trunc = Elemwise(half_even_round), Elemwise(CTrunc(upgrade_to_float_no_complex, name="trunc"))
_mod, _fmod = Elemwise(Remainder(True)), Elemwise(Remainder(False))
_fmax, _fmin = Elemwise(NaNIgnoringExtremum(True)), Elemwise(NaNIgnoringExtremum(False))


def _float(x) -> pt.TensorVariable:
    x = pt.as_tensor_variable(x)
    return x if x.dtype.startswith("float") else pt.cast(x, "float64")


def logit(x) -> pt.TensorVariable:
    """``log(x / (1 - x))``, accurate near 0, 1/2 and 1 (scipy.special.logit)."""
    return _logit(x)


def logaddexp(a, b) -> pt.TensorVariable:
    """``log(exp(a) + exp(b))`` without overflow (np.logaddexp); slopes 1/2 at a tie."""
    return _logaddexp(a, b)


def logaddexp2(a, b) -> pt.TensorVariable:
    """``log2(2**a + 2**b)`` without overflow (np.logaddexp2); slopes 1/2 at a tie."""
    return _logaddexp2(a, b)


def cbrt(x) -> pt.TensorVariable:
    """The real cube root, negative for negative x (np.cbrt)."""
    return _cbrt(x)


def entr(x) -> pt.TensorVariable:
    """``-x log(x)``, 0 at 0, -inf for x < 0 (scipy.special.entr)."""
    return _entr(x)


def rel_entr(x, y) -> pt.TensorVariable:
    """``x log(x / y)`` with SciPy's values at 0 and outside x, y >= 0 (scipy.special.rel_entr)."""
    return _rel_entr(x, y)


def kl_div(x, y) -> pt.TensorVariable:
    """``x log(x / y) - x + y`` with SciPy's values at 0 and outside (scipy.special.kl_div)."""
    return _kl_div(x, y)


def boxcox(x, lmbda) -> pt.TensorVariable:
    """``(x**lmbda - 1) / lmbda``, ``log(x)`` at ``lmbda = 0`` (scipy.special.boxcox)."""
    return _boxcox(x, lmbda)


def boxcox1p(x, lmbda) -> pt.TensorVariable:
    """``((1 + x)**lmbda - 1) / lmbda``, ``log1p(x)`` at ``lmbda = 0`` (scipy.special.boxcox1p)."""
    return _boxcox1p(x, lmbda)


def round(x) -> pt.TensorVariable:  # noqa: A001 - the expression language's name
    """Round half to even, as np.round (np.rint); derivative 0."""
    return _round(_float(x))


def trunc(x) -> pt.TensorVariable:
    """Round toward 0, as np.trunc; derivative 0."""
    return _trunc(x)


def mod(a, b) -> pt.TensorVariable:
    """NumPy's ``mod``: ``a - floor_divide(a, b) * b``, the sign of ``b``; NaN where ``b = 0``."""
    return _mod(a, b)


def fmod(a, b) -> pt.TensorVariable:
    """C's ``fmod`` (np.fmod, jax.lax.rem): the sign of ``a``; NaN where ``b = 0``."""
    return _fmod(a, b)


def fmax(a, b) -> pt.TensorVariable:
    """The larger of ``a`` and ``b``, ignoring a NaN (np.fmax)."""
    return _fmax(a, b)


def fmin(a, b) -> pt.TensorVariable:
    """The smaller of ``a`` and ``b``, ignoring a NaN (np.fmin)."""
    return _fmin(a, b)


def clamp(low, x, high) -> pt.TensorVariable:
    """JAX's ``lax.clamp(low, x, high)``: ``minimum(maximum(x, low), high)``, as kinks.clip."""
    return kinks.clip(x, low, high)


# PyTensor's own ops in a user's graph (substitute.py)

@substitutes(ps.RoundHalfToEven)
def _round_half_to_even(node):
    """PyTensor's round gave +0.0 where NumPy gives -0.0 (round(-0.4))."""
    return None if isinstance(node.op.scalar_op, HalfEvenRound) else [_round(node.inputs[0])]


@substitutes(ps.Trunc)
def _c_trunc(node):
    """PyTensor's trunc raised "invalid" on NaN (a comparison in its C code)."""
    return None if isinstance(node.op.scalar_op, CTrunc) else [_trunc(node.inputs[0])]


@substitutes(ps.Mod)
def _floor_mod(node):
    """PyTensor's float mod: +0.0 for mod(4, -2) (NumPy: -0.0), d/db -(a // b) (10 at mod(1, 0.1))."""
    if not node.outputs[0].dtype.startswith("float"):
        return None
    return [_mod(*node.inputs)]


_OTHER_LOG_SUBSTITUTE = SUBSTITUTES.get(ps.Log)  # one substitute per op class: keep one registered before


@substitutes(ps.Log)
def _log_of_sum_of_exps(node):
    """``pt.logaddexp(a, b)``, PyTensor's ``log(exp(a) + exp(b))``: NaN slopes once exp overflows."""
    (argument,) = node.inputs
    terms = argument.owner.inputs if argument.owner and isinstance(argument.owner.op, Elemwise) \
        and isinstance(argument.owner.op.scalar_op, ps.Add) else []
    exps = [t.owner.inputs[0] for t in terms if t.owner and isinstance(t.owner.op, Elemwise)
            and isinstance(t.owner.op.scalar_op, ps.Exp)]
    if len(terms) == 2 and len(exps) == 2:
        out = _logaddexp(*exps)
        return [out if out.dtype == node.outputs[0].dtype else pt.cast(out, node.outputs[0].dtype)]
    return _OTHER_LOG_SUBSTITUTE(node) if _OTHER_LOG_SUBSTITUTE else None


# Taylor mode (taylor.py): orders 3 and up in one variable, by the series of each op above

def _log_series(a, u, plus_one: bool = False):
    """The series of log(u) (log1p(u)), its value computed by the accurate function."""
    if plus_one:
        return a.log([a.add(1.0, u[0])] + list(u[1:]), a.call(ps.log1p, u[0]))
    return a.log(u, a.call(ps.log, u[0]))


def _taylor_logit(a, node, s):
    """log(u) - log(1 - u)."""
    u = s[0]
    right = a.log([a.sub(1.0, u[0])] + [a.neg(c) for c in u[1:]], None)
    return [None] + [a.sub(p, q) for p, q in zip(a.log(u, None)[1:], right[1:])]


def _taylor_logaddexp(a, node, s):
    """y' = sigmoid(d) u' + sigmoid(-d) v', d = (u - v) (times log 2 for logaddexp2)."""
    u, v = s
    scale = 1.0 if node.op.base == math.e else math.log(2.0)
    d = [a.mul(scale, a.call(tie_difference, u[0], v[0]))] + [a.mul(scale, a.sub(p, q)) for p, q in zip(u[1:], v[1:])]
    first = taylor._sigmoid_series(a, d, a.call(psm.sigmoid, d[0]))
    second = [a.call(psm.sigmoid, a.neg(d[0]))] + [a.neg(c) for c in first[1:]]
    slope = a.add_series(a.product(first, a.derivative(u)), a.product(second, a.derivative(v)))
    return a.integral(slope, node.outputs[0])


def _taylor_cbrt(a, node, s):
    return a.power(s[0], 1.0 / 3.0, node.outputs[0])


def _taylor_entr(a, node, s):
    return [None] + [a.neg(c) for c in a.product(s[0], _log_series(a, s[0]))[1:]]


def _taylor_rel_entr(a, node, s):
    """x (log x - log y), its log ratio's value accurate; kl_div: minus x plus y."""
    x, y = s
    ratio = [a.call(log_ratio, x[0], y[0])] + [a.sub(p, q) for p, q in zip(a.log(x, None)[1:], a.log(y, None)[1:])]
    result = a.product(x, ratio)
    return a.add_series(a.sub_series(result, x), y) if node.op.kl else result


def _taylor_boxcox(a, node, s):
    """In x (lmbda constant): y' = exp(lmbda t) t', t = log(x) (log1p). In lmbda: no rule (the
    symbolic path, exact at lmbda = 0)."""
    x, lmbda = s
    if not taylor._is_constant(lmbda):
        raise NoTaylorRule("boxcox has a Taylor rule in x only")
    t = _log_series(a, x, node.op.plus_one)
    w = [a.mul(lmbda[0], c) for c in t]
    return a.chain(t, a.exp(w, a.call(ps.exp, w[0])), node.outputs[0])


def _taylor_remainder(a, node, s):
    """u - q v, q the (piecewise constant) quotient."""
    u, v = s
    q = a.call(_quotient(node.op.floor), u[0], v[0])
    return [None] + [a.sub(p, a.mul(q, r)) for p, r in zip(u[1:], v[1:])]


taylor.register({
    Logit: _taylor_logit, LogAddExp: _taylor_logaddexp, Cbrt: _taylor_cbrt, Entr: _taylor_entr,
    RelEntr: _taylor_rel_entr, BoxCox: _taylor_boxcox, Remainder: _taylor_remainder,
    NaNIgnoringExtremum: taylor._extremum, Quotient: taylor._zero,
})

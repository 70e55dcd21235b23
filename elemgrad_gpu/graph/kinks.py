"""Kinks and branches: one rule for the derivatives of maximum, minimum, clip and pow.

The rule (docs/EXPRESSIONS.md, "Kinks and branches"): a function that selects one of
its arguments (``where``, ``maximum``, ``minimum``, ``clip``) takes the derivatives of
the argument it selects, and the others contribute nothing, NaN and inf included. Where
the arguments of ``maximum``/``minimum`` tie, each contributes half (the mean of the
one-sided derivatives, as JAX and PyTorch do, and as ``abs'(0) = 0`` is); where they are
unordered (a NaN), the value is NaN as NumPy's and so are the derivatives.

PyTensor's own ``Maximum``/``Minimum``/``Clip`` multiply the incoming gradient by an
indicator (``eq(out, x) * gz``), so a losing argument whose derivative is inf or NaN
leaks ``0 * inf = NaN``; its tie goes to the first argument (although the ops are
marked commutative). The ops here build their derivatives with ``switch`` on the same
comparison and a constant 0 in the other branch: PyTensor's ``local_mul_switch_sink``
then moves the multiplications of the chain rule inside the switch, as it does for
``where``, so the losing side is never multiplied in. ``clip(x, lo, hi)`` is NumPy's
``minimum(maximum(x, lo), hi)``, values and derivatives alike.

``pow``: d/dx x**y is ``y * x**(y - 1)``, except 0 where ``y == 0`` (as JAX and autograd:
PyTensor gave ``0 * 0**-1 = NaN`` at x = 0), so ``x**arange(3)`` has slopes 0, 1, 0 at 0.

``use_kink_conventions`` replaces PyTensor's ops by these in a traced graph, before it
is differentiated (callables may use ``pt.maximum`` directly); ``restore_pytensor_ops``
puts PyTensor's back in the derivatives, whose values they compute alike, so that its
simplifications (``x**2`` to ``x*x``) still apply.
"""
from __future__ import annotations

import numpy as np
import pytensor.scalar as ps
import pytensor.tensor as pt
from pytensor.graph.basic import Variable
from pytensor.graph.fg import FunctionGraph
from pytensor.graph.rewriting.basic import in2out, node_rewriter
from pytensor.tensor.elemwise import Elemwise

from elemgrad_gpu.compat import Pullback
from elemgrad_gpu.graph.headers import constant as _const


def _selected(gz, a, b, a_wins, b_wins) -> tuple:
    """(ga, gb): ``gz`` to the winner, 0 (a switch branch) to the loser, half to each at a
    tie, NaN to both where ``a`` and ``b`` are unordered."""
    zero = _const(0.0, gz)
    tie = ps.switch(ps.eq(a, b), gz * _const(0.5, gz), _const(np.nan, gz))
    return (ps.switch(b_wins, zero, ps.switch(a_wins, gz, tie)),
            ps.switch(a_wins, zero, ps.switch(b_wins, gz, tie)))


class SelectMaximum(Pullback, ps.Maximum):
    """NumPy's ``maximum``; derivatives by selection (module docstring)."""

    def pullback(self, inputs, outputs, gout):
        if outputs[0].type in ps.discrete_types:
            return super().pullback(inputs, outputs, gout)
        (a, b), (gz,) = inputs, gout
        return _selected(gz, a, b, ps.gt(a, b), ps.lt(a, b))


class SelectMinimum(Pullback, ps.Minimum):
    """NumPy's ``minimum``; derivatives by selection (module docstring)."""

    def pullback(self, inputs, outputs, gout):
        if outputs[0].type in ps.discrete_types:
            return super().pullback(inputs, outputs, gout)
        (a, b), (gz,) = inputs, gout
        return _selected(gz, a, b, ps.lt(a, b), ps.gt(a, b))


class ZeroSafePow(Pullback, ps.Pow):
    """``x ** y``; d/dx is 0 where ``y == 0`` (not ``0 * x**-1``), d/dy is 0 where ``x == 0``."""

    def pullback(self, inputs, outputs, gout):
        if outputs[0].type in ps.discrete_types:
            return super().pullback(inputs, outputs, gout)
        (x, y), (z,), (gz,) = inputs, outputs, gout
        zero = _const(0.0, gz)
        gx = ps.switch(ps.eq(y, 0), zero, gz * y * zero_safe_pow(x, y - 1))
        gy = ps.switch(ps.eq(x, 0), zero, gz * ps.log(x) * z)
        return gx, gy


select_maximum = SelectMaximum(ps.upcast_out, name="maximum")
select_minimum = SelectMinimum(ps.upcast_out, name="minimum")
zero_safe_pow = ZeroSafePow(ps.upcast_out_min8, name="pow")
_maximum, _minimum, _pow = Elemwise(select_maximum), Elemwise(select_minimum), Elemwise(zero_safe_pow)


def maximum(a, b) -> pt.TensorVariable:
    """Elementwise maximum (NaN propagates, as NumPy's); derivatives by selection."""
    return _maximum(a, b)


def minimum(a, b) -> pt.TensorVariable:
    """Elementwise minimum (NaN propagates, as NumPy's); derivatives by selection."""
    return _minimum(a, b)


def clip(x, low, high) -> pt.TensorVariable:
    """NumPy's ``clip``: ``minimum(maximum(x, low), high)`` (``high`` where ``low > high``)."""
    return _minimum(_maximum(x, low), high)


def pow(x, y) -> pt.TensorVariable:  # noqa: A001 - the expression language's name
    """Elementwise ``x ** y``; d/dx is 0 where ``y == 0``."""
    return _pow(x, y)


_REPLACEMENTS = {ps.Maximum: maximum, ps.Minimum: minimum, ps.Clip: clip, ps.Pow: pow}
_RESTORED = {SelectMaximum: pt.maximum, SelectMinimum: pt.minimum, ZeroSafePow: pt.pow}


def _replacer(replacements: dict):
    @node_rewriter([Elemwise])
    def replace(fgraph, node):
        build = replacements.get(type(node.op.scalar_op))  # exact types only
        if build is None:
            return None
        out = build(*node.inputs)
        return [out if out.dtype == node.outputs[0].dtype else pt.cast(out, node.outputs[0].dtype)]
    return replace


def _rewritten(outputs: list[Variable], replacements: dict) -> list[Variable]:
    fgraph = FunctionGraph(outputs=list(outputs), clone=True, copy_inputs=False)
    in2out(_replacer(replacements)).rewrite(fgraph)
    return list(fgraph.outputs)


def use_kink_conventions(outputs: list[Variable]) -> list[Variable]:
    """``outputs`` with PyTensor's maximum, minimum, clip and pow nodes replaced by ours.

    Apply it before differentiating. The given graphs are not modified: the result is a
    copy over the same inputs.
    """
    return _rewritten(outputs, _REPLACEMENTS)


def restore_pytensor_ops(outputs: list[Variable]) -> list[Variable]:
    """``outputs`` (differentiated) with our maximum, minimum and pow back as PyTensor's.

    They compute the same values; PyTensor's simplifications recognise only its own ops
    (``x**2`` becomes ``x*x``, ``x**1`` becomes ``x``), so apply it after differentiating
    and before simplifying. ``clip`` stays ``minimum(maximum())``, NumPy's values.
    """
    return _rewritten(outputs, _RESTORED)

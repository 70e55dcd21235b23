"""Fuse: all requested outputs as ONE scalar Composite, the body of one elementwise loop.

PyTensor's FAST_RUN rewrites simplify the graph (no in-place, no fusion: we fuse);
then every elementwise node between the inputs and the outputs becomes one scalar node
of a single ``Composite``. Broadcasting, shape checks and fills are the loop's job, so
they fold away. Values that depend on shapes only (``arange(x.shape[0])``) or on
array constants, and anything else that is not elementwise (a reduction of an input
that is not differentiated by: verification already refused those of the others)
become extra kernel inputs ("aux"), computed before the loop by PyTensor.
In a float32 computation every float constant is float32.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pytensor.scalar as ps
from pytensor.graph.basic import Constant, Variable
from pytensor.graph.fg import FunctionGraph
from pytensor.graph.rewriting.utils import rewrite_graph
from pytensor.raise_op import CheckAndRaise
from pytensor.scalar.math import Sigmoid, Softplus
from pytensor.tensor.basic import Alloc, ScalarFromTensor, TensorFromScalar
from pytensor.tensor.elemwise import DimShuffle, Elemwise
from pytensor.tensor.type import TensorType
from pytensor.tensor.shape import SpecifyShape
from pytensor.tensor.variable import TensorVariable

from elemgrad_gpu.graph.budget import Budget, over_budget
from elemgrad_gpu.graph.special import branch_free_softplus, overflow_free_sigmoid, use_accurate_special_functions

# Operations that only broadcast, check or pass on their first input inside the loop.
_PASS_FIRST = (DimShuffle, Alloc, SpecifyShape, CheckAndRaise, TensorFromScalar, ScalarFromTensor)


@dataclass
class FusedGraph:
    """One Composite computing every output from the inputs, then the aux values."""

    composite: ps.Composite
    inputs: list[TensorVariable]
    aux: list[TensorVariable]
    dtype: str

    def fgraph(self) -> FunctionGraph:
        """The fused graph: inputs and aux -> a single Elemwise{Composite} -> outputs."""
        # Of the composite's own scalar types (aux leaves are of dtype, an aux value may not be):
        # other types would make PyTensor rebuild the composite's shared graph (codegen.element_code).
        tensors = [TensorType(s.dtype, shape=t.type.shape)() for t, s in
                   zip(self.inputs + self.aux, self.composite.inputs_type)]
        outputs = Elemwise(self.composite)(*tensors, return_list=True)
        return FunctionGraph(tensors, outputs, clone=False)


def simplify(outputs: list[TensorVariable], budget: Budget | None = None) -> list[TensorVariable]:
    """PyTensor's FAST_RUN simplifications, with our accurate special functions.

    With a ``budget`` (``budget.py``), a simplification that grows the graph past its
    node budget, or runs past its time, stops with an ``ExpressionError``.
    """
    outputs = use_accurate_special_functions(outputs)
    fgraph = FunctionGraph(outputs=outputs, clone=False, copy_inputs=False)
    if budget is not None:
        fgraph.attach_feature(budget.feature("the simplified derivative graph"))
    with warnings.catch_warnings():  # constant folding may probe for a BLAS we never use
        warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS")
        try:
            rewrite_graph(fgraph, include=("fast_run",), exclude=("inplace", "fusion"))
        except BaseException as error:  # noqa: B036 - only the budget's stop is turned into our error
            ours = over_budget(error)
            if ours is None:
                raise
            raise ours from None
    return list(fgraph.outputs)


def fuse(inputs: list[TensorVariable], outputs: list[TensorVariable], dtype: str) -> FusedGraph:
    """Fuse ``outputs`` (simplified graphs over ``inputs``) into one scalar Composite."""
    return fuse_scalars(inputs, outputs, dtype).fused()


@dataclass
class ScalarBody:
    """The loop body before it becomes a Composite: its leaves and one scalar per output.

    Taylor mode (``taylor.py``) adds outputs computed from these scalars before fusing.
    """

    leaves: list[ps.ScalarVariable]  # one per input, then one per aux value
    results: list[ps.ScalarVariable]
    inputs: list[TensorVariable]
    aux: list[TensorVariable]
    dtype: str

    def fused(self, results: list[ps.ScalarVariable] | None = None) -> FusedGraph:
        """One Composite of ``results`` (by default the fused outputs) over the leaves."""
        outputs = [_as_result(r, self.dtype) for r in (self.results if results is None else results)]
        return FusedGraph(ps.Composite(self.leaves, outputs), list(self.inputs), self.aux, self.dtype)


def fuse_scalars(inputs: list[TensorVariable], outputs: list[TensorVariable], dtype: str) -> ScalarBody:
    """The scalar graph of ``outputs`` (simplified graphs over ``inputs``): one scalar each."""
    leaves = [ps.get_scalar_type(dtype)() for _ in inputs]
    scalars: dict[Variable, ps.ScalarVariable] = dict(zip(inputs, leaves))
    aux: list[TensorVariable] = []

    def leaf(v: Variable) -> ps.ScalarVariable:
        if isinstance(v, Constant) and np.size(v.data) == 1:
            value = np.asarray(v.data).reshape(())
            return ps.constant(value.astype(dtype) if value.dtype.kind == "f" else value)
        aux.append(v)  # a reduction of a non-wrt input, a shape-derived or an array constant
        return ps.get_scalar_type(dtype)()  # aux arrays are cast to dtype

    # Iterative post-order walk: deep graphs must not exhaust the recursion limit.
    stack = list(outputs)
    while stack:
        v = stack[-1]
        if v in scalars:
            stack.pop()
            continue
        operands = _operands(v, scalars)
        missing = [w for w in operands if w not in scalars]
        if missing:
            stack.extend(missing)
            continue
        stack.pop()
        if not operands:
            scalars[v] = leaf(v)
        elif isinstance(v.owner.op, Elemwise):
            scalar_op = _in_loop(v.owner.op.scalar_op, dtype)
            scalars[v] = scalar_op.make_node(*[scalars[w] for w in operands]).outputs[v.index]
        else:
            scalars[v] = scalars[operands[0]]
    aux_leaves = [scalars[v] for v in aux]
    return ScalarBody(leaves + aux_leaves, [scalars[out] for out in outputs], list(inputs), aux, dtype)


def passes_first(op) -> bool:
    """Whether, inside an elementwise loop, ``op`` just hands on its first input."""
    if isinstance(op, DimShuffle) and list(op.shuffle) != sorted(op.shuffle):
        return False  # a transpose moves elements: not the loop's job
    return isinstance(op, _PASS_FIRST)


def _operands(v: Variable, scalars: dict) -> list[Variable]:
    """The operands whose scalars give v's scalar; none for a leaf of the loop.

    A broadcast of a value computed before the loop that adds or drops axes other than
    leading ones (``arange(x.shape[0])[:, None]``) is itself the leaf: the aux value keeps
    the axes the loop lines it up with (the kernel aligns an aux value's axes with the
    last ones, as NumPy broadcasts, so adding leading axes needs no copy of its own).
    """
    if v.owner is None:
        return []
    if isinstance(v.owner.op, Elemwise):
        return list(v.owner.inputs)
    if not passes_first(v.owner.op):
        return []
    first = v.owner.inputs[0]
    if isinstance(v.owner.op, DimShuffle) and not _adds_leading_axes(v.owner.op, first) and _is_aux(first, scalars):
        return []
    return [first]


def _adds_leading_axes(op: DimShuffle, operand: Variable) -> bool:
    """Whether ``op`` only puts new axes before all of ``operand``'s (NumPy's broadcasting does that)."""
    order = list(op.new_order)
    added = order.count("x")
    return order == ["x"] * added + list(range(operand.type.ndim))


def _is_aux(v: Variable, scalars: dict) -> bool:
    """Whether ``v`` is computed before the loop: no input (nor a broadcast of one) and not a single number."""
    while v not in scalars:  # inputs are mapped from the start
        if v.owner is None:
            return not (isinstance(v, Constant) and np.size(v.data) == 1)
        if isinstance(v.owner.op, Elemwise):
            return False
        if not passes_first(v.owner.op):
            return True
        v = v.owner.inputs[0]
    return False


def _in_loop(scalar_op: ps.ScalarOp, dtype: str) -> ps.ScalarOp:
    """``scalar_op`` as the fused loop computes it.

    In float32, a cast to float64 (PyTensor's gradients cast to floatX) casts to float32;
    softplus is computed without branches (special.BranchFreeSoftplus), sigmoid without
    overflow (special.OverflowFreeSigmoid).
    """
    if dtype == "float32" and isinstance(scalar_op, ps.Cast) and scalar_op.o_type.dtype == "float64":
        return ps.convert_to_float32
    if type(scalar_op) is Softplus:  # PyTensor's own, not our subclass
        return branch_free_softplus
    if type(scalar_op) is Sigmoid:
        return overflow_free_sigmoid
    return scalar_op


def _as_result(scalar: ps.ScalarVariable, dtype: str) -> ps.ScalarVariable:
    """An op result of ``dtype``: cast, and wrap inputs and constants."""
    if scalar.type.dtype != dtype:
        return ps.cast(scalar, dtype)
    if scalar.owner is None:
        return ps.identity(scalar)
    return scalar

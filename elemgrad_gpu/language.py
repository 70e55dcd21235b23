"""The expression language's vocabulary: functions with their arity, constants, operators.

Names only, no implementations, so that parsing a string never imports PyTensor;
``elemgrad_gpu.functions`` holds the implementation of every name listed here.
"""
from __future__ import annotations

import math

_NAMES_BY_ARITY = {
    1: "sin cos tan arcsin arccos arctan sinh cosh tanh arcsinh arccosh arctanh exp exp2 "
    "expm1 log log2 log10 log1p sqrt abs sign erf erfc erfinv gammaln digamma sigmoid softplus "
    "sinc exprel",
    2: "arctan2 maximum minimum pow hypot polygamma xlogy xlog1py",
    3: "where clip",
}
ARITY: dict[str, int] = {name: arity for arity, names in _NAMES_BY_ARITY.items() for name in names.split()}
CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e}
# Operators of the language, by the symbol a parsed tree records ("neg": unary minus;
# "and": chained comparisons such as a < x < b).
OPERATORS = ("+", "-", "*", "/", "**", "neg", "<", "<=", ">", ">=", "==", "!=", "and")

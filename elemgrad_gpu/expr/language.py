"""The expression language's names: functions with their arity, constants, operators.

Names only, no implementations, so that parsing a string never imports PyTensor; all of
it is derived from the rows of ``vocabulary.py``, whose builders ``graph/functions.py``
resolves.
"""
from __future__ import annotations

from elemgrad_gpu.expr.vocabulary import ALIASES, BY_NAME, CONSTANTS, OPERATORS

ARITY: dict[str, int] = {name: row.arity for name, row in BY_NAME.items()}  # the rows' own names only
# ALIASES: other spellings of a function (asin, expit, psi), read as its name (arcsin, sigmoid, digamma)
LITERALS: dict[str, tuple[int, ...]] = {name: row.literal for name, row in BY_NAME.items() if row.literal}
MultiIndex = tuple[str, ...]  # the inputs a partial derivative is taken by, in order; () for the value

__all__ = ["ALIASES", "ARITY", "CONSTANTS", "LITERALS", "OPERATORS", "MultiIndex"]

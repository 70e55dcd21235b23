"""Names: input names compared as Python compares identifiers (NFKC), kept as written.

Python reads ``µ`` (U+00B5, micro sign) in an expression or a ``def`` as ``μ`` (U+03BC,
Greek mu): it normalizes identifiers to NFKC. A keyword spelled either way must therefore
name the same input, while messages and ``ElementwiseFunction.inputs`` show the name as
its user wrote it. Python normalizes keywords written in a call (``fn(µ=1)``) itself,
but not the keys of a dict (``fn(**{"µ": 1})``), nor the strings of ``wrt=``.
"""
from __future__ import annotations

import unicodedata
from typing import Sequence


def canonical(name: str) -> str:
    """``name`` as Python reads it as an identifier (NFKC)."""
    return name if name.isascii() else unicodedata.normalize("NFKC", name)


def resolve(name: str, names: Sequence[str]) -> str:
    """The input of ``names`` that ``name`` means (either spelling); ``name`` itself if none."""
    if name in names or not isinstance(name, str):
        return name
    wanted = canonical(name)
    return next((n for n in names if canonical(n) == wanted), name)

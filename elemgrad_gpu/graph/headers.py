"""The C headers of the accurate functions: read, prefixed and versioned in one place.

An op whose C code calls a header's functions (special.h, normal.h, gamma.h, bessel.h,
hypergeometric.h) names the headers it needs, in order; ``support_code`` gives their text
after eg_device.h (the DEVICE declaration every header uses, host C or CUDA device code),
``version`` the cache version that changes whenever any of that text does. Each header has
its own include guard, so a fused kernel calling ops of several families repeats none.
"""
from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

import numpy as np
from pytensor.scalar import basic as ps

DEVICE_H = Path(__file__).with_name("eg_device.h")


@cache
def support_code(*headers: Path) -> str:
    """eg_device.h, then each header's text, in order."""
    return "\n".join(path.read_text() for path in (DEVICE_H, *headers))


@cache
def version(*headers: Path) -> int:
    """A number that changes with the text ``support_code(*headers)`` gives."""
    return int(hashlib.sha256(support_code(*headers).encode()).hexdigest()[:15], 16)


def constant(value: float, like) -> ps.ScalarConstant:
    """``value`` as a scalar constant of ``like``'s (floating) dtype: float32 stays float32."""
    return ps.constant(np.asarray(value, dtype=like.type.dtype))

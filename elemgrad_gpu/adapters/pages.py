"""Huge pages for a framework's fresh CPU outputs, before the kernel first touches them.

PyTorch's CPU allocator (and XLA's: its handler does the same in C, ``jax_ffi.cc``) hands
out large tensors as fresh 4 KiB pages; at n = 10^7 the page faults of the first touch cost
more than the kernel's loop. Where Linux has transparent huge pages in "madvise" mode, the
2 MiB-aligned inside of a large output is marked for huge pages first, as NumPy does for
its own arrays: the advice changes no byte, only the page size of what is not yet touched.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys

HUGE = 1 << 21
LARGE = 1 << 22  # NumPy's threshold for the same advice
MADV_HUGEPAGE = 14  # Linux's value, on every architecture


@functools.lru_cache(maxsize=1)
def _madvise():
    """libc's madvise, or None off Linux (or where it cannot be found)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True).madvise
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    function.restype = ctypes.c_int
    return function


def advise_huge_pages(address: int, nbytes: int) -> None:
    """Mark the 2 MiB-aligned inside of [address, address + nbytes) for huge pages (advice
    only: a refusal is ignored); nothing for fewer than 4 MiB."""
    madvise = _madvise()
    if madvise is None or nbytes < LARGE:
        return
    start, end = (address + HUGE - 1) & ~(HUGE - 1), (address + nbytes) & ~(HUGE - 1)
    if end > start:
        madvise(start, end - start, MADV_HUGEPAGE)

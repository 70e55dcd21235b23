"""``.npy`` files read and written a block of rows at a time, each block mapped on its own.

A map of the whole file (``np.load(mmap_mode="r")``, ``open_memmap``) keeps every page it has
touched in the process's resident memory (RssFile) for as long as the map is open: over a file
larger than memory, the pages of the whole file. Here each block of rows maps only its own byte
range (``np.memmap`` with ``offset`` and ``shape``), and the map is closed (``munmap``) when the
last reference to the block goes: the process keeps resident only the blocks alive at a time
(the one being computed, the one being written; with ``--scheduler``, those in flight). The
pages stay in the kernel's page cache, which writes them back and reclaims them as it needs:
that is the system's cache, not memory the process holds.
"""
from __future__ import annotations

import os
from types import EllipsisType

import numpy as np

Index = slice | EllipsisType  # the rows of one block: a slice of the first axis, or ... for all


def map_rows(path: str, mode: str, offset: int, dtype: np.dtype, shape: tuple[int, ...], rows: slice,
             fortran: bool = False) -> np.ndarray:
    """Rows ``rows`` (a slice of the first axis) of the array of ``dtype`` and ``shape`` stored at byte
    ``offset`` of ``path``, as a memory map of their bytes only (mode ``"r"`` or ``"r+"``).

    An array in Fortran order keeps a block's rows apart: the map then spans the whole array and the
    block is a view of it; only the block's own pages are touched, and the map goes with the view."""
    start, stop, _ = rows.indices(shape[0])
    count, rest = max(0, stop - start), shape[1:]
    row_bytes = dtype.itemsize * int(np.prod(rest, dtype=np.int64))
    if count * row_bytes == 0:  # nothing to map: mmap refuses a length of 0
        return np.empty((count, *rest), dtype)
    if fortran:
        return np.memmap(path, dtype, mode, offset, shape, order="F")[start:stop]
    return np.memmap(path, dtype, mode, offset + start * row_bytes, (count, *rest))


class NpyRows:
    """A .npy input, read a block of rows at a time: ``rows[a:b]`` maps those rows only.

    ``whole`` is the file as ``np.load(path, mmap_mode="r")`` opens it (which checks the header);
    its map is closed once its shape, dtype, order and data offset are taken."""

    def __init__(self, path: str, whole: np.memmap):
        self.path, self.shape, self.ndim, self.dtype = path, tuple(whole.shape), whole.ndim, whole.dtype
        self.offset = int(whole.offset)
        self.fortran = whole.ndim > 1 and whole.flags.f_contiguous and not whole.flags.c_contiguous

    def __getitem__(self, index: slice) -> np.ndarray:
        return map_rows(self.path, "r", self.offset, self.dtype, self.shape, index, self.fortran)


class NpyRegion:
    """One result's array inside a .npy file being written (C order, its space already reserved):
    each block of rows is written through a map of its own bytes, closed at once."""

    def __init__(self, path: str, offset: int, dtype: np.dtype, shape: tuple[int, ...]):
        self.path, self.offset, self.dtype, self.shape = path, offset, np.dtype(dtype), tuple(shape)

    def write(self, index: Index, values: np.ndarray) -> None:
        shape = self.shape or (1,)  # a 0-d result: one row of one value
        rows = slice(0, shape[0]) if index is Ellipsis else index
        block = map_rows(self.path, "r+", self.offset, self.dtype, shape, rows)
        block[...] = np.reshape(values, block.shape)
        del block  # the last reference: the map is closed here, its pages left to the page cache


def sync(path: str) -> None:
    """Write the file's pages to disk (as ``msync`` did for a whole-file map) before it is renamed into place."""
    descriptor = os.open(path, os.O_RDWR)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)

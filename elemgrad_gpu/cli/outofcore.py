"""``elemgrad eval`` beyond memory and beyond one machine: Zarr files, and chunks run on a Dask cluster.

Zarr in: a store (a ``.zarr`` folder, or a ``.zip`` file) holding one array (like a .npy: the
one input not given by --param) or a group of arrays named by input (like a .npz); each chunk
of rows is read from the store as it is needed. Zarr out: a group of one array per result,
named as in a .npz, written chunk by chunk into the staging folder and moved into place at the
end (whole or not at all, as the other formats). Zarr is imported only when a Zarr file is named.

``--scheduler ADDRESS``: each chunk of rows is sent to a worker of the Dask cluster at ADDRESS
(``dask.distributed.Client``), a few chunks ahead of the one being written, and its results come
back to be written here in order: memory stays bounded, and the file is read and written by
this process only (the workers need no access to it).
"""
from __future__ import annotations

import collections
import os
import sys
import zipfile

import numpy as np
from tqdm import tqdm

from elemgrad_gpu.errors import UsageError


def _zarr():
    try:
        import zarr
    except ImportError:
        raise UsageError("Zarr files need the zarr package: pip install 'elemgrad_gpu[dask]'") from None
    return zarr


def _open(path: str):
    """The array or group stored at ``path`` (a folder, or a .zip file), read-only."""
    zarr = _zarr()
    try:
        store = zarr.storage.ZipStore(path, mode="r") if path.lower().endswith(".zip") else path
        return zarr.open(store, mode="r")
    except (FileNotFoundError, ValueError, KeyError, OSError, zipfile.BadZipFile) as error:
        raise UsageError(f"cannot read {path} as Zarr: {error}") from None


class _Rows:
    """A Zarr array read one block of rows at a time, as NumPy arrays."""

    def __init__(self, array):
        self.array, self.shape, self.ndim, self.dtype = array, tuple(array.shape), array.ndim, np.dtype(array.dtype)

    def __getitem__(self, index) -> np.ndarray:
        return np.asarray(self.array[index])


def zarr_arrays(path: str, free: list[str]) -> dict:
    """The arrays of a Zarr store by input name: one array for the one free input, or a group of
    arrays named by input; those along the rows are read a block at a time, the others whole."""
    found = _open(path)
    if hasattr(found, "arrays"):
        arrays = {name: array for name, array in found.arrays()}
        if not arrays:
            raise UsageError(f"{path} holds no arrays: store one array per input, named by the input")
    elif len(free) != 1:
        raise UsageError(f"{path} holds one array, but the inputs {', '.join(free) or '(none)'} are not given by "
                         f"--param: give all but one by --param, or store a Zarr group of arrays named by input")
    else:
        arrays = {free[0]: found}
    for name, array in arrays.items():
        if np.dtype(array.dtype).kind not in "biuf":
            raise UsageError(f"{path}: array {name!r} holds {array.dtype}, not real numbers")
    top = max(a.ndim for a in arrays.values())
    rows = max((a.shape[0] for a in arrays.values() if a.ndim == top and top), default=None)
    return {name: _Rows(a) if top and a.ndim == top and a.shape[0] == rows else np.asarray(a[...])
            for name, a in arrays.items()}


class ZarrFile:
    """Results as a Zarr group, one array per result, written block by block into the staging folder."""

    def __init__(self, path: str, staging: str, table, keys: list[str]):
        self.path, self.shape, self.keys = path.rstrip("/\\") or path, table.shape, keys  # out.zarr/ is out.zarr
        self.zipped = path.lower().endswith(".zip")
        self.temp = os.path.join(staging, "out.zip" if self.zipped else "out.zarr")
        self.store, self.targets = None, []

    def write(self, index, inputs: dict[str, np.ndarray], outputs) -> None:
        if not self.targets:
            self.targets = self._open(outputs[0])
        for target, output in zip(self.targets, outputs):
            target[index] = output

    def _open(self, first: np.ndarray) -> list:
        """One array per result; its chunks are the first block's rows (each block then writes whole chunks)."""
        zarr = _zarr()
        self.store = zarr.storage.ZipStore(self.temp, mode="w") if self.zipped else self.temp
        group = zarr.open_group(self.store, mode="w")
        chunks = tuple(max(1, n) for n in (first.shape[0] if first.ndim else 1, *self.shape[1:]))[:len(self.shape)]
        return [group.create_array(key, shape=self.shape, dtype=first.dtype, chunks=chunks) for key in self.keys]

    def finish(self) -> None:
        if not self.targets:  # no block was written: an empty result still gets its arrays
            self.targets = self._open(np.empty((0, *self.shape[1:])))
        if self.zipped:
            self.store.close()
        os.replace(self.temp, self.path)


def evaluate_on_cluster(address: str, fn, params: dict, table, sink, chunk: int) -> None:
    """As eval's ``_evaluate``, with each block computed by a worker of the Dask cluster at ``address``."""
    try:
        from dask.distributed import Client
    except ImportError:
        raise UsageError("--scheduler needs Dask's distributed package: pip install 'elemgrad_gpu[dask]'") from None
    indices = [...]
    if table.shape:
        indices = [slice(a, a + chunk) for a in range(0, table.shape[0], chunk)] or [slice(0, 0)]
    try:
        client = Client(address, timeout="20s")
    except (OSError, TimeoutError, ValueError) as error:
        raise UsageError(f"--scheduler {address}: cannot reach a Dask scheduler there ({error})") from None
    with client, tqdm(total=table.shape[0] if table.shape else 1, unit="row", unit_scale=True, file=sys.stderr,
                      disable=None if len(indices) > 1 else True) as bar:
        ahead = 2 * max(1, sum(w["nthreads"] for w in client.scheduler_info()["workers"].values()))
        pending: collections.deque = collections.deque()
        for index, block in zip(indices, table.blocks(indices)):
            pending.append((index, block, client.submit(_compute, fn, block, params, pure=False)))
            if len(pending) >= ahead:
                _write(pending.popleft(), sink, bar, table)
        while pending:
            _write(pending.popleft(), sink, bar, table)


def _compute(fn, block: dict, params: dict) -> tuple:
    """Run on a worker: one block's results."""
    return tuple(fn(**block, **params))


def _write(item, sink, bar, table) -> None:
    index, block, future = item
    outputs = future.result()
    sink.write(index, block, outputs)
    bar.update(len(outputs[0]) if table.shape else 1)

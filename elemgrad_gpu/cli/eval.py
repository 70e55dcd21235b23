"""``elemgrad eval``: values and derivatives over the arrays of a .npy, .npz or .csv file.

The work goes in chunks of rows (the first axis of the results), so memory stays
bounded whatever the file's size: .npy inputs are memory-mapped, CSV is streamed, and
.npy/.npz results are filled chunk by chunk in memory-mapped files; each chunk maps only its
own rows and the map is closed when the chunk is done (``npyblocks``), so the process holds a
few chunks' pages, not the file's. Output files appear
whole or not at all: everything is written in a staging folder beside the output,
moved into place with ``os.replace`` at the end, and the folder removed in any case
(an error, Ctrl-C, SIGTERM). The space of each memory-mapped result is reserved
(``posix_fallocate``) before it is mapped: on a full disk the command ends with one
line of error, not a SIGBUS when a page of the map finds no block to go to.
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import errno
import io
import itertools
import os
import shutil
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from typing import Callable, Iterator, Protocol, Sequence

import numpy as np
from tqdm import tqdm

from elemgrad_gpu.cli import npyblocks, outofcore, structured
from elemgrad_gpu.cli.explain import FUNCTION_HELP
from elemgrad_gpu.cli.common import add_derivative_options, compile_from, output_names, param, positive, subcommand
from elemgrad_gpu.errors import UsageError

CHUNK = 2 ** 20
FORMATS = (".npy", ".npz", ".csv", ".zarr", ".zip")
NOTES = """\
inputs (--input): .npz, one array per input, by name (each member is loaded whole:
  use .npy or .csv for inputs larger than memory); .npy, one array, for an expression
  with one input besides the --param ones (memory-mapped); .csv, a header row of input
  names, then one row per point (streamed). The arrays broadcast like NumPy.
results (--output): .npz, one array per result, named f, df_dx, d2f_dx2, d2f_dx_dmu ...
  (the names f, df/dx, d2f/dx2, d2f/dx dmu with '/' and ' ' made '_'); .npy, the one
  result, or several stacked along a new first axis in the order asked for; .csv, the
  input columns of the file, then one column per result (1-d results only), at
  %.17g (float64) or %.9g (float32), which read back exactly; .zarr (a folder) or .zip
  (a Zarr zip store), a Zarr group of one array per result, named as in a .npz. Without
  --output, a summary of each result is printed.
Zarr inputs (.zarr folder or .zip store): one array (as a .npy) or a group of arrays
  named by input (as a .npz), read chunk by chunk.
--scheduler ADDRESS runs the chunks on the workers of a Dask cluster (dask scheduler /
  dask worker); this process reads the inputs and writes the results."""
Index = npyblocks.Index  # the rows of one block: a slice of the first axis, or ... for all


def register(subparsers) -> None:
    """Add the ``eval`` subcommand."""
    parser = subcommand(subparsers, "eval", "evaluate values and derivatives over the arrays of a file",
                        "elemgrad eval '-(x - mu)**2/(2*s**2) - log(s)' --input points.csv --param mu=0.5 "
                        "--param s=2 --derivatives f x mu --output results.npz")
    parser.epilog = f"{NOTES}\n\n{parser.epilog}"
    parser.add_argument("expression", nargs="?", help="an expression such as 'tanh(x)**2' (or --function with "
                        "--diagonal or --blocks)")
    parser.add_argument("--function", metavar="FILE.py:NAME", help=f"with --diagonal or --blocks: {FUNCTION_HELP}")
    parser.add_argument("--input", required=True, metavar="FILE", help="the inputs: .npy, .npz or .csv")
    parser.add_argument("--output", metavar="FILE", help="where the results go: .npy, .npz or .csv "
                        "(default: print a summary)")
    add_derivative_options(parser)
    parser.add_argument("--param", type=param, action="append", default=[], metavar="NAME=VALUE",
                        help="a scalar input, e.g. mu=0.3 (repeatable)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    parser.add_argument("--dtype", choices=("float32", "float64"), help="compute in this dtype "
                        "(default: float32 for float32 inputs, else float64)")
    parser.add_argument("--chunk", "--chunks", type=positive, default=CHUNK, metavar="N", dest="chunk",
                        help=f"rows per chunk (default: {CHUNK}); memory holds a few chunks, whatever the file's size")
    parser.add_argument("--scheduler", metavar="ADDRESS", help="run the chunks on the Dask cluster whose scheduler "
                        "is at ADDRESS, e.g. tcp://10.0.0.1:8786 (needs elemgrad_gpu[dask])")
    structured.add_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Read the inputs, evaluate chunk by chunk, write or summarize the results."""
    params = _params(args.param)
    if args.structure:
        return structured.run_eval(args, params)
    if args.function:
        raise UsageError("--function needs --diagonal or --blocks (a function's elementwise derivatives: "
                         "eg.compile in Python)")
    if args.expression is None:
        raise UsageError("give an expression such as 'tanh(x)**2' (or --function FILE.py:NAME with --diagonal "
                         "or --blocks)")
    read, write = _suffix(args.input, "--input", READERS), args.output and _suffix(args.output, "--output", WRITERS)
    fn = compile_from(args, device=args.device, dtype=args.dtype)
    names = output_names(fn)
    keys = [name.replace("/", "_").replace(" ", "_") for name in names]
    _check_unique(keys, "result")
    for name in params:
        if name not in fn.inputs:
            raise UsageError(f"--param names {name!r}, which is not an input; the inputs are {', '.join(fn.inputs)}")
    table = read(args.input, [n for n in fn.inputs if n not in params])
    _check_inputs(table.names, params, fn.inputs, args.input)
    staging = write and _staging(args.output, args.input)
    try:
        sink: Sink = write(args.output, staging, table, keys) if write else Summary(names, table.shape)
        if args.scheduler:
            outofcore.evaluate_on_cluster(args.scheduler, fn, params, table, sink, args.chunk)
        else:
            _evaluate(fn, params, table, sink, args.chunk)
        sink.finish()
    except OSError as error:
        if error.filename is None and error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            raise OSError(f"--output {args.output}: {error.strerror}") from None  # name the file
        raise
    finally:
        if staging:
            shutil.rmtree(staging, ignore_errors=True)
    return 0


def _evaluate(fn, params: dict[str, float], table: Table, sink: Sink, chunk: int) -> None:
    """Run ``fn`` over the table's blocks of ``chunk`` rows into ``sink``, with a progress bar if more than one."""
    indices: list[Index] = [...]
    if table.shape:
        indices = [slice(a, a + chunk) for a in range(0, table.shape[0], chunk)] or [slice(0, 0)]
    with tqdm(total=table.shape[0] if table.shape else 1, unit="row", unit_scale=True, file=sys.stderr,
              disable=None if len(indices) > 1 else True) as bar:
        for index, block in zip(indices, table.blocks(indices)):
            outputs = fn(**block, **params)
            sink.write(index, block, outputs)
            bar.update(len(outputs[0]) if table.shape else 1)


def _params(pairs: Sequence[tuple[str, float]]) -> dict[str, float]:
    _check_unique([name for name, _ in pairs], "--param")
    return dict(pairs)


def _check_unique(names: Sequence[str], what: str) -> None:
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise UsageError(f"{what} {', '.join(map(repr, repeated))} given more than once")


def _suffix(path: str, option: str, table: dict):
    suffix = os.path.splitext(path.rstrip("/\\"))[1].lower()  # a .zarr folder may be named with a slash
    if suffix not in table:
        raise UsageError(f"{option} {path}: the name must end in {', '.join(FORMATS)}")
    return table[suffix]


def _check_inputs(found: Sequence[str], params: dict[str, float], inputs: Sequence[str], path: str) -> None:
    unknown = [n for n in found if n not in inputs]
    if unknown:
        raise UsageError(f"{path} holds {', '.join(map(repr, unknown))}, which the expression does not use; "
                         f"its inputs are {', '.join(inputs)}")
    both = [n for n in found if n in params]
    if both:
        raise UsageError(f"{', '.join(map(repr, both))} given both in {path} and by --param: keep one")
    missing = [n for n in inputs if n not in found and n not in params]
    if missing:
        raise UsageError(f"missing input {', '.join(map(repr, missing))}: give it in {path} or by --param NAME=VALUE")


def _staging(output: str, input_path: str) -> str:
    """A fresh folder beside ``output`` to write in, after checking that ``output`` may be written."""
    folder = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(folder):
        raise UsageError(f"--output {output}: the folder {folder} does not exist")
    if os.path.isdir(output) and output.lower().rstrip("/").endswith(".zarr"):
        raise UsageError(f"--output {output} exists: remove it or choose another name (a Zarr folder is not "
                         "overwritten)")
    if os.path.isdir(output):
        raise UsageError(f"--output {output} is a folder: give a file name")
    if os.path.exists(output) and os.path.samefile(output, input_path):
        raise UsageError(f"--output {output} is the input file: choose another name")
    return tempfile.mkdtemp(prefix=".elemgrad-eval-", dir=folder)


# Reading


@dataclass
class Table:
    """The array inputs of a file: names, the shape they broadcast to, and their blocks of rows."""

    names: list[str]
    shape: tuple[int, ...]
    blocks: Callable[[list[Index]], Iterator[dict[str, np.ndarray]]]  # the rows of each index, in order


def _load(path: str, **options):
    try:
        return np.load(path, **options)
    except (ValueError, EOFError, zipfile.BadZipFile) as error:
        raise UsageError(f"cannot read {path}: {error}") from None


def _check_members(path: str) -> None:
    """Refuse a .npz whose members' headers claim more data than the members hold (a damaged or
    hostile file), before NumPy allocates what a header claims: 10^11 elements are 745 GiB."""
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if not info.filename.endswith(".npy"):
                    continue
                with archive.open(info) as member:
                    version = np.lib.format.read_magic(member)
                    read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                                   else np.lib.format.read_array_header_2_0)
                    shape, _, dtype = read_header(member)
                    needed = member.tell() + int(np.prod(shape, dtype=object)) * dtype.itemsize
                if needed > info.file_size and not dtype.hasobject:  # objects: np.load refuses them
                    break
            else:
                return
    except (ValueError, EOFError, zipfile.BadZipFile) as error:
        raise UsageError(f"cannot read {path}: {error}") from None
    raise UsageError(f"cannot read {path}: its array {info.filename[:-4]!r} claims shape {shape} "
                     f"({needed:,} bytes) but holds {info.file_size:,} bytes: the file is damaged")


def _arrays(arrays: dict[str, np.ndarray]) -> Table:
    """A Table over arrays in memory or memory-mapped: each block slices the first axis of the
    results from the arrays that span it; the others broadcast along it and go whole."""
    try:
        shape = np.broadcast_shapes(*(a.shape for a in arrays.values()))
    except ValueError:
        listed = ", ".join(f"{n} {a.shape}" for n, a in arrays.items())
        raise UsageError(f"the inputs' shapes do not broadcast together: {listed}") from None
    spans = {n for n, a in arrays.items() if shape and a.ndim == len(shape) and a.shape[0] == shape[0]}

    def blocks(indices: list[Index]) -> Iterator[dict[str, np.ndarray]]:
        for index in indices:
            yield {n: a[index] if n in spans else a for n, a in arrays.items()}

    return Table(list(arrays), shape, blocks)


def read_npy(path: str, free: list[str]) -> Table:
    """A .npy file: the one input (``free``: those not given by --param), memory-mapped a block at a time."""
    if len(free) != 1:
        raise UsageError(f"a .npy file holds one array, but the inputs {', '.join(free) or '(none)'} are not given "
                         f"by --param: give all but one by --param, or use .npz or .csv")
    whole = _load(path, mmap_mode="r")
    return _arrays({free[0]: npyblocks.NpyRows(path, whole) if whole.ndim else np.array(whole)})


def read_npz(path: str, free: list[str]) -> Table:
    """A .npz file: one array per input, by name, each loaded whole (after checking its header)."""
    _check_members(path)
    with _load(path) as archive:
        try:
            return _arrays({name: archive[name] for name in archive.files})
        except (ValueError, EOFError, zipfile.BadZipFile) as error:
            raise UsageError(f"cannot read {path}: {error}") from None
        except MemoryError:
            raise UsageError(f"{path} does not fit in memory (a .npz is loaded whole): "
                             "save the inputs as .npy (memory-mapped) or .csv (streamed)") from None


def read_csv(path: str, free: list[str]) -> Table:
    """A CSV file, UTF-8 (a byte order mark is allowed): a header row of input names, then one row per
    point (blank lines skipped), streamed."""
    with _csv_errors(path), open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = [name.strip() for name in next(reader, [])]
        if not header:
            raise UsageError(f"{path} is empty: it needs a header row of input names")
        _check_unique(header, f"{path}: column")
        rows = sum(1 for row in reader if row)

    def blocks(indices: list[Index]) -> Iterator[dict[str, np.ndarray]]:
        with _csv_errors(path), open(path, newline="", encoding="utf-8-sig") as handle:
            reader = (row for row in itertools.islice(csv.reader(handle), 1, None) if row)
            for index in indices:
                values = _floats(list(itertools.islice(reader, index.stop - index.start)), header, path, index.start)
                yield dict(zip(header, values.T))

    return Table(header, (rows,), blocks)


@contextlib.contextmanager
def _csv_errors(path: str) -> Iterator[None]:
    """A file that is not UTF-8 text, or that the csv module cannot split (a field over its limit of
    128 KiB, a NUL byte), as a UsageError naming the file."""
    try:
        yield
    except UnicodeDecodeError as error:
        raise UsageError(f"{path} is not UTF-8 text (it holds the byte {error.object[error.start]:#04x}): "
                         "save it as UTF-8 CSV") from None
    except csv.Error as error:
        raise UsageError(f"{path} is not a CSV file of numbers: {error}") from None


def _floats(rows: list[list[str]], header: list[str], path: str, first: int) -> np.ndarray:
    """CSV rows as a float64 array (rows, columns), or a UsageError naming the first bad row."""
    try:
        return np.array(rows, dtype=np.float64).reshape(len(rows), len(header))
    except ValueError:
        for number, row in enumerate(rows, first + 1):
            if len(row) != len(header):
                raise UsageError(f"{path} row {number}: {len(row)} fields, but the header has {len(header)}") from None
            for field in row:
                try:
                    float(field)
                except ValueError:
                    raise UsageError(f"{path} row {number}: {field!r} is not a number") from None
        raise


# Writing


class Sink(Protocol):
    """Where the results of each block go."""

    def write(self, index: Index, inputs: dict[str, np.ndarray], outputs: Sequence[np.ndarray]) -> None: ...

    def finish(self) -> None: ...


class Summary:
    """Each result's name, shape, dtype, min, max and mean, printed at the end."""

    def __init__(self, names: list[str], shape: tuple[int, ...]):
        self.names, self.shape, self.dtype = names, shape, ""
        self.low, self.high = np.full(len(names), np.inf), np.full(len(names), -np.inf)
        self.total = np.zeros(len(names))

    def write(self, index: Index, inputs: dict[str, np.ndarray], outputs: Sequence[np.ndarray]) -> None:
        self.dtype = outputs[0].dtype.name
        self.low = np.minimum(self.low, [np.min(o, initial=np.inf) for o in outputs])
        self.high = np.maximum(self.high, [np.max(o, initial=-np.inf) for o in outputs])
        self.total += [np.sum(o, dtype=np.float64) for o in outputs]

    def finish(self) -> None:
        count = int(np.prod(self.shape))
        rows = [("result", "shape", "dtype", "min", "max", "mean")]
        for name, low, high, total in zip(self.names, self.low, self.high, self.total):
            numbers = (low, high, total / count) if count else (np.nan,) * 3
            rows.append((name, str(self.shape), self.dtype, *(f"{v:.6g}" for v in numbers)))
        widths = [max(len(row[k]) for row in rows) for k in range(len(rows[0]))]
        for row in rows:
            print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


class ArrayFile:
    """.npy or .npz results, each block written through a memory map of its own rows of .npy files in
    the staging folder (``npyblocks.NpyRegion``)."""

    def __init__(self, path: str, staging: str, table: Table, keys: list[str]):
        self.path, self.staging, self.shape, self.keys = path, staging, table.shape, keys
        self.targets: list[npyblocks.NpyRegion] = []

    def write(self, index: Index, inputs: dict[str, np.ndarray], outputs: Sequence[np.ndarray]) -> None:
        if not self.targets:
            self.targets = self.open(outputs[0].dtype)
        for target, output in zip(self.targets, outputs):
            target.write(index, output)

    def open(self, dtype: np.dtype) -> list[npyblocks.NpyRegion]:
        """The arrays to fill, one per result."""
        raise NotImplementedError

    def _create(self, name: str, dtype: np.dtype, shape: tuple[int, ...], count: int = 1) -> list[npyblocks.NpyRegion]:
        """A new .npy file of ``shape`` in the staging folder, its space reserved on disk: ``count`` arrays of
        ``shape[1:]`` one after the other if ``count`` is above 1 (results stacked), else one of ``shape``."""
        path = os.path.join(self.staging, name)
        header = _npy_header(dtype, shape)
        size = len(header) + int(np.prod(shape, dtype=object)) * np.dtype(dtype).itemsize
        try:
            with open(path, "wb") as handle:
                handle.write(header)
                handle.flush()
                reserve(handle.fileno(), len(header), size)
        except OSError as error:
            if error.errno == errno.EFBIG:
                raise OSError(f"--output {self.path}: the results ({size:,} bytes) are over this process's "
                              f"file size limit (ulimit -f): {error.strerror}") from None
            free = shutil.disk_usage(self.staging).free
            raise OSError(f"--output {self.path}: no room for the results ({size:,} bytes; {free:,} bytes "
                          f"free in {os.path.dirname(self.staging)}): {error.strerror}") from None
        part = shape[1:] if count > 1 else shape
        step = int(np.prod(part, dtype=np.int64)) * np.dtype(dtype).itemsize
        return [npyblocks.NpyRegion(path, len(header) + k * step, dtype, part) for k in range(count)]


def _npy_header(dtype: np.dtype, shape: tuple[int, ...]) -> bytes:
    """The header of a .npy file of ``dtype`` and ``shape`` (format 1.0, as np.save writes)."""
    header = io.BytesIO()
    fields = np.lib.format.header_data_from_array_1_0(np.empty((0,), dtype)) | {"shape": tuple(shape)}
    np.lib.format.write_array_header_1_0(header, fields)
    return header.getvalue()


def reserve(descriptor: int, start: int, end: int) -> None:
    """Give bytes ``start`` to ``end`` of the file real blocks, so that writing them through a memory
    map cannot fail (a write through a map that meets a full disk is a SIGBUS, which kills the process).

    ``posix_fallocate`` (ENOSPC, or EFBIG past ``ulimit -f``, as an OSError); where the system or
    the file system has none, zeros are written there, which fail the same way.
    """
    try:
        os.posix_fallocate(descriptor, start, end - start)
        return
    except AttributeError:  # no posix_fallocate (macOS, Windows)
        pass
    except OSError as error:
        if error.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
            raise
    block = bytes(2 ** 20)
    os.lseek(descriptor, start, os.SEEK_SET)
    for offset in range(start, end, len(block)):
        os.write(descriptor, block[:end - offset])


class NpyFile(ArrayFile):
    """One result as it is, several stacked along a new first axis."""

    def open(self, dtype: np.dtype) -> list[npyblocks.NpyRegion]:
        if len(self.keys) == 1:
            return self._create("out.npy", dtype, self.shape)
        return self._create("out.npy", dtype, (len(self.keys), *self.shape), count=len(self.keys))

    def finish(self) -> None:
        npyblocks.sync(os.path.join(self.staging, "out.npy"))
        os.replace(os.path.join(self.staging, "out.npy"), self.path)


class NpzFile(ArrayFile):
    """One .npy member per result, named by its key, stored uncompressed as np.savez does."""

    def open(self, dtype: np.dtype) -> list[npyblocks.NpyRegion]:
        return [region for key in self.keys for region in self._create(f"{key}.npy", dtype, self.shape)]

    def finish(self) -> None:
        archive = os.path.join(self.staging, "out.npz")
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED, allowZip64=True) as zipped:
            for key in self.keys:
                zipped.write(os.path.join(self.staging, f"{key}.npy"), f"{key}.npy")
        os.replace(archive, self.path)


class CsvFile:
    """The file's input columns, then one column per result, appended block by block."""

    def __init__(self, path: str, staging: str, table: Table, keys: list[str]):
        if len(table.shape) != 1:
            raise UsageError(f"--output {path}: a CSV file holds one point per row, but the results have shape "
                             f"{table.shape}: write .npz or .npy instead")
        _check_unique([*table.names, *keys], "CSV column")
        self.path, self.temp, self.inputs = path, os.path.join(staging, "out.csv"), table.names
        with open(self.temp, "w", newline="") as handle:
            csv.writer(handle).writerow([*table.names, *keys])

    def write(self, index: Index, inputs: dict[str, np.ndarray], outputs: Sequence[np.ndarray]) -> None:
        columns = [np.broadcast_to(inputs[n], outputs[0].shape) for n in self.inputs] + list(outputs)
        formats = ["%.9g" if column.dtype == np.float32 else "%.17g" for column in columns]
        with open(self.temp, "a", newline="") as handle:
            np.savetxt(handle, np.column_stack(columns), fmt=formats, delimiter=",")

    def finish(self) -> None:
        os.replace(self.temp, self.path)


def read_zarr(path: str, free: list[str]) -> Table:
    """A Zarr store (a .zarr folder or a .zip file): one array, or a group of arrays by input name."""
    return _arrays(outofcore.zarr_arrays(path, free))


READERS = {".npy": read_npy, ".npz": read_npz, ".csv": read_csv, ".zarr": read_zarr, ".zip": read_zarr}
WRITERS = {".npy": NpyFile, ".npz": NpzFile, ".csv": CsvFile, ".zarr": outofcore.ZarrFile, ".zip": outofcore.ZarrFile}

"""``elemgrad bench``: value + first derivative, elemgrad_gpu beside its peers, on this machine.

Each tool computes f and df/dx for x = linspace(-4, 4, n): elemgrad_gpu (device auto),
NumPy with closed-form derivatives written by hand, PyTensor's grad(sum(y)) compiled
with the C VM, and, where installed, JAX jit(vmap(value_and_grad)) and PyTorch eager
autograd.grad(y.sum(), x) (the tools are in elemgrad_gpu.bench.peers, shared with benchmarks/).
logpdf's mu and sigma are scalar inputs, passed to every tool at call time. A time is
the median of --repeat calls after one warm-up; each tool's results are checked
against elemgrad_gpu's.
"""
from __future__ import annotations

import argparse
import datetime
import importlib.util
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
from tqdm import tqdm

from elemgrad_gpu import backends
from elemgrad_gpu.bench.peers import (FUNCTIONS, MU, SIGMA, Call, agreement, as_numpy, elemgrad_tool, jax_tool,
                                      numpy_tool, pytensor_tool, torch_tool)
from elemgrad_gpu.cli.common import positive, subcommand
from elemgrad_gpu.errors import UsageError
from elemgrad_gpu.cli.plot import figure_path, new_figure, save
from elemgrad_gpu.runtime.device import select_device

RTOL = {"float64": 1e-6, "float32": 1e-4}
ARRAYS = 16  # arrays of n values alive at once, at most: x, two tools' results, a peer's temporaries
PEERS = {"jax": ("jax", jax_tool), "pytorch": ("torch", torch_tool)}  # tool: (module, builder)


class Row(NamedTuple):
    """One measurement: a tool's median time for a function at n points, and its check."""

    function: str
    n: int
    tool: str
    seconds: float
    check: str  # "reference" (elemgrad_gpu), "ok" or "MISMATCH: ..."


def register(subparsers) -> None:
    """Add the ``bench`` subcommand."""
    parser = subcommand(subparsers, "bench", "time value + first derivative beside NumPy by hand, PyTensor, "
                        "and JAX and PyTorch where installed, on this machine",
                        "elemgrad bench --functions tanh2 gelu --sizes 1000 1000000 -o bench.png")
    parser.add_argument("--functions", nargs="+", choices=FUNCTIONS, default=list(FUNCTIONS),
                        help="tanh2: tanh(x)**2; softplus; gelu (tanh form); logpdf: Gaussian log-density "
                        f"with scalar inputs mu = {MU}, sigma = {SIGMA} (default: all)")
    parser.add_argument("--sizes", nargs="+", type=positive, default=[1_000, 100_000, 1_000_000], metavar="N",
                        help="numbers of points, such as 1000 or 1e6 (default: 1000 100000 1000000); each "
                        f"must leave room for {ARRAYS} arrays of N values in the memory available")
    parser.add_argument("--dtype", choices=tuple(RTOL), default="float64", help="(default: float64)")
    parser.add_argument("--repeat", type=positive, default=20, metavar="R",
                        help="timed calls per measurement, after one warm-up (default: 20)")
    parser.add_argument("-o", "--output", metavar="FILE", help="also draw time against n: .png, .svg or .pdf")
    parser.epilog = ("exit status 1 when a tool's results disagree with elemgrad_gpu's "
                     f"(rtol {RTOL['float64']:g} in float64, {RTOL['float32']:g} in float32)\n\n{parser.epilog}")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Measure every function, size and tool; print the table (and draw it with -o)."""
    path = args.output and figure_path(args.output)
    functions, sizes = list(dict.fromkeys(args.functions)), sorted(set(args.sizes))
    _check_memory(sizes[-1], np.dtype(args.dtype))
    builders = {"elemgrad_gpu": elemgrad_tool, "numpy": numpy_tool, "pytensor": pytensor_tool}
    print(_header(args.dtype, args.repeat))
    for tool, (module, builder) in PEERS.items():
        if importlib.util.find_spec(module):
            builders[tool] = builder
        else:
            print(f"{tool}: not installed, left out")
    rows: list[Row] = []
    with tqdm(total=len(functions) * len(sizes) * len(builders), desc="bench", file=sys.stderr,
              disable=None, leave=False) as bar:
        for name in functions:
            bar.set_postfix_str(f"{name}: compiling")
            tools = {tool: build(FUNCTIONS[name], args.dtype) for tool, build in builders.items()}
            for n in sizes:
                x = np.linspace(-4, 4, n, dtype=args.dtype)
                for tool, bind in tools.items():  # elemgrad_gpu first: the reference
                    bar.set_postfix_str(f"{name} n={n} {tool}")
                    seconds, result = measure(bind(x), args.repeat)
                    if tool == "elemgrad_gpu":
                        reference, check = result, "reference"
                    else:
                        check = agreement(result, reference, RTOL[args.dtype])
                    rows.append(Row(name, n, tool, seconds, check))
                    bar.update()
    print(_table(rows))
    if path:
        _draw(rows, args.dtype, path)
        print(f"wrote {path}")
    mismatches = sum(row.check.startswith("MISMATCH") for row in rows)
    if mismatches:
        print(f"{mismatches} result(s) disagree with elemgrad_gpu's", file=sys.stderr)
    return 1 if mismatches else 0


def _check_memory(n: int, dtype: np.dtype) -> None:
    """Refuse a size whose arrays would not fit in the memory available now (a MemoryError, or worse
    the machine swapping, half-way through the run)."""
    available = available_memory()
    needed = ARRAYS * n * dtype.itemsize
    if available is not None and needed > available:
        largest = available // (ARRAYS * dtype.itemsize)
        raise UsageError(f"--sizes {n:,} needs about {needed / 2**30:,.1f} GiB ({ARRAYS} arrays of {n:,} {dtype.name} "
                         f"values), but {available / 2**30:,.1f} GiB of memory is available: give sizes up to "
                         f"{largest:,}")


def available_memory() -> int | None:
    """Bytes of memory available now: MemAvailable of /proc/meminfo, else the physical memory, else None."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def measure(call: Call, repeat: int) -> tuple[float, list[np.ndarray]]:
    """The median seconds of ``repeat`` calls after one warm-up, and the result as NumPy arrays."""
    result = [as_numpy(a) for a in call()]
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def _header(dtype: str, repeat: int) -> str:
    device = select_device("auto")
    copies = "" if device.name == backends.host_device() else " (NumPy in and out: times include the copies)"
    machine = platform.processor() or platform.machine()
    return (f"elemgrad bench: value + first derivative, {dtype}, median of {repeat} calls after one warm-up\n"
            f"machine: {machine}, {os.cpu_count()} CPUs; elemgrad_gpu device: {device.name}{copies}; "
            f"date: {datetime.datetime.now().isoformat(' ', 'seconds')}")


def _table(rows: list[Row]) -> str:
    lines = [f"{'function':<10} {'n':>11}  {'tool':<13} {'median ms':>10} {'x elemgrad_gpu':>15}  check"]
    base = {(row.function, row.n): row.seconds for row in rows if row.tool == "elemgrad_gpu"}
    for row in rows:
        ratio = row.seconds / base[row.function, row.n]
        lines.append(f"{row.function:<10} {row.n:>11,}  {row.tool:<13} {row.seconds * 1e3:>10.3f} {ratio:>15.2f}  "
                     f"{row.check}")
    return "\n".join(lines)


def _draw(rows: list[Row], dtype: str, path: Path) -> None:
    names = list(dict.fromkeys(row.function for row in rows))
    figure = new_figure(figsize=(4.5 * len(names), 4.2))
    for ax, name in zip(figure.subplots(1, len(names), squeeze=False)[0], names):
        for tool in dict.fromkeys(row.tool for row in rows):
            points = [(row.n, row.seconds * 1e3) for row in rows if row.function == name and row.tool == tool]
            ax.loglog(*zip(*points), marker="o", label=tool)
        ax.set(title=f"{name} ({dtype})", xlabel="n", ylabel="median ms")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    save(figure, path)


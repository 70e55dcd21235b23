"""The host time of a GPU call, and the CUDA launch shape: what THREADS and BLOCKS_PER_SM
(elemgrad_gpu/backends/cuda/backend.py) rest on.

    python benchmarks/gpu_launch.py [--json PATH] [--no-sweep]   (on a CUDA machine; gpu_check.sh runs it)

Host time per call at n = 1,000 (value + first derivative of each benchmark function, float32
and float64): 2,000 calls in a row without a synchronization, so the time is the host's,
of the plain call with preallocated outputs (``fn(x, out=(y, dy))``), the plain call
allocating its outputs (``fn(x)``), the bound call (``fn.bind``), and CuPy's ``RawKernel``
launch of the very kernel the plain call launches, on the same arrays (the floor CuPy's
own launch sets). The table is printed as Markdown; ``--json`` writes it too (gpu_summary.py
reads it).

Then, unless ``--no-sweep``: for value + first derivative at 512 MiB of input (n = 2^27
float32, 2^26 float64), the device time of a call (CUDA events) and its bandwidth (inputs
read once + outputs written once) as a share of the device-to-device copy's, for each
launch shape (THEANO_FLAGS elemgrad__cuda_threads and elemgrad__cuda_blocks_per_sm). The
last line is THEANO_FLAGS=... for the best shape (the default unless another is 1% better
on average).

Every function here takes the CuPy module as ``cp``, so tests/bench/test_gpu_launch.py runs
the host table on the CPU emulation of CuPy (its numbers mean nothing there; that the
RawKernel launch computes what the plain call computes does).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from functools import partial
from typing import Callable

import numpy as np

import elemgrad_gpu as eg
from elemgrad_gpu.backends.cuda import backend as backend_cuda
from elemgrad_gpu.backends.cuda.backend import Launch
from elemgrad_gpu.bench.peers import FUNCTIONS, scalars

SIZES = {"float32": 2 ** 27, "float64": 2 ** 26}
HOST_N, HOST_CALLS = 1000, 2000
COLUMNS = ("plain, out=", "plain, new outputs", "bound", "RawKernel")
SHAPES = [Launch(threads, per_sm) for threads in (128, 256, 512, 1024) for per_sm in (4, 8, 16, 32, 0)]
BETTER_BY = 1.01  # a shape replaces the default only when its mean share is this much higher


def flags(launch: Launch) -> str:
    """THEANO_FLAGS selecting ``launch``."""
    return f"elemgrad__cuda_threads={launch.threads},elemgrad__cuda_blocks_per_sm={launch.blocks_per_sm}"


def calls(cp, name: str, dtype: str, n: int = HOST_N, columns: tuple[str, ...] = COLUMNS
          ) -> dict[str, Callable[[], object]]:
    """Ways (``columns`` of COLUMNS) of computing value + slope of benchmark function ``name``
    at n points, each a call of no arguments."""
    function = FUNCTIONS[name]
    fn = eg.compile(function.expression, orders=(0, 1), device="cuda", dtype=dtype)
    params = scalars(function, dtype)
    x = cp.linspace(-4, 4, n, dtype=dtype)
    args = [x if input_name == "x" else params[input_name] for input_name in fn.inputs]
    out = (cp.empty_like(x), cp.empty_like(x))
    fn(*args, out=out)  # compiled, and the call of this signature remembered
    made = {"plain, out=": lambda: partial(fn, *args, out=out), "plain, new outputs": lambda: partial(fn, *args),
            "bound": lambda: fn.bind(*args, out=out), "RawKernel": lambda: raw_kernel(cp, fn, dtype, args, out)}
    return {column: made[column]() for column in columns}


def raw_kernel(cp, fn, dtype: str, args: list, out: tuple) -> Callable[[], object]:
    """CuPy's RawKernel launch of the kernel a plain call of ``args`` launches (its source, options, grid
    and arguments)."""
    backend = backend_cuda.CudaBackend()
    inputs = [a if isinstance(a, cp.ndarray) else cp.asarray(np.array([a], dtype=dtype)) for a in args]
    n = max(a.size for a in inputs)
    sms = cp.cuda.Device().attributes["MultiProcessorCount"]
    name, blocks = Launch.configured().choose(n, inputs, out, np.dtype(dtype).itemsize, sms)
    if name != "eg_vectorized":
        raise RuntimeError(f"the plain call would launch {name}, not eg_vectorized: an unaligned array?")
    kernel = cp.RawKernel(fn.source("cuda", dtype=dtype), name, options=backend.options())
    steps = [np.int64(1 if a.size == n else 0) for a in inputs]
    arguments = (np.int64(n), *steps, *inputs, *out)
    grid, block = (blocks,), (Launch.configured().threads,)
    return lambda: kernel(grid, block, arguments)


def per_call(cp, call: Callable[[], object], count: int = HOST_CALLS) -> float:
    """Microseconds of host time per call over ``count`` calls in a row, without a synchronization."""
    call()
    cp.cuda.Device().synchronize()
    start = time.perf_counter()
    for _ in range(count):
        call()
    seconds = (time.perf_counter() - start) / count
    cp.cuda.Device().synchronize()
    return seconds * 1e6


def host_times(cp, count: int = HOST_CALLS) -> list[dict]:
    """Per function and dtype, the host time of a call each way (COLUMNS), in microseconds."""
    rows = []
    for dtype in SIZES:
        for name in FUNCTIONS:
            made = calls(cp, name, dtype)
            rows.append({"function": name, "dtype": dtype, "n": HOST_N,
                         **{column: per_call(cp, made[column], count) for column in COLUMNS}})
    return rows


def host_table(rows: list[dict]) -> str:
    """The host times as a Markdown table."""
    lines = [f"host time per call at n = {HOST_N:,}, {HOST_CALLS:,} calls without a synchronization (us)", "",
             "| function | dtype | " + " | ".join(COLUMNS) + " |", "|---|---|" + "---|" * len(COLUMNS)]
    lines += [f"| {r['function']} | {r['dtype']} | " + " | ".join(f"{r[c]:.1f}" for c in COLUMNS) + " |"
              for r in rows]
    return "\n".join(lines)


def kernel_seconds(cp, call: Callable[[], object], rounds: int = 10, count: int = 10) -> float:
    """The device time of one ``call``: the median over rounds of CUDA events around ``count`` calls in a row.

    The host queues the calls faster than the device runs them, so the host's part
    of each call stays out of the time.
    """
    start, stop = cp.cuda.Event(), cp.cuda.Event()
    call()
    times = []
    for _ in range(rounds):
        start.record()
        for _ in range(count):
            call()
        stop.record()
        stop.synchronize()
        times.append(cp.cuda.get_elapsed_time(start, stop) * 1e-3 / count)
    return statistics.median(times)


def shape_sweep(cp) -> Launch:
    """Print each launch shape's share of the copy bandwidth, per function and dtype; return the best."""
    default = Launch.configured()
    print(f"launch shapes, threads/blocks per SM (0: no cap); default {default.threads}/{default.blocks_per_sm}")
    print("  " + " ".join(f"{launch.threads}/{launch.blocks_per_sm}" for launch in SHAPES))
    shares: dict[Launch, list[float]] = {launch: [] for launch in SHAPES}
    for dtype, n in SIZES.items():
        x = cp.linspace(-4, 4, n, dtype=dtype)
        y = cp.empty_like(x)
        copy = 2 * x.nbytes / kernel_seconds(cp, lambda: cp.copyto(y, x))
        print(f"{dtype} n=2^{n.bit_length() - 1}: device copy {copy / 1e9:.0f} GB/s")
        for name in FUNCTIONS:
            for launch in SHAPES:
                os.environ["THEANO_FLAGS"] = flags(launch)
                try:
                    call = calls(cp, name, dtype, n, ("plain, out=",))["plain, out="]
                    shares[launch].append(3 * x.nbytes / kernel_seconds(cp, call) / copy)
                except Exception as error:  # noqa: BLE001 - too many registers for the block, say
                    print(f"  {name} {launch}: {type(error).__name__}: {error}")
                    shares[launch].append(0.0)
            print(f"  {name:8s} " + " ".join(f"{shares[launch][-1]:.3f}" for launch in SHAPES))
    os.environ.pop("THEANO_FLAGS", None)
    mean = {launch: statistics.fmean(values) for launch, values in shares.items()}
    best = max(mean, key=mean.__getitem__)
    print(f"mean share: default {mean.get(default, float('nan')):.3f}, best {best} {mean[best]:.3f}")
    return best if mean[best] > BETTER_BY * mean.get(default, 0.0) else default


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="also write the host times to this JSON file")
    parser.add_argument("--no-sweep", action="store_true", help="only the host times")
    args = parser.parse_args(argv)
    import cupy as cp

    print(cp.cuda.runtime.getDeviceProperties(0)["name"].decode(), time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
    rows = host_times(cp)
    print(host_table(rows), flush=True)
    if args.json:
        with open(args.json, "w") as file:
            json.dump(rows, file, indent=1)
    if not args.no_sweep:
        print(f"THEANO_FLAGS={flags(shape_sweep(cp))}")


if __name__ == "__main__":
    main()

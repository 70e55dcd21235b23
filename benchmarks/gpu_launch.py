"""The CUDA launch shape, measured: what THREADS and BLOCKS_PER_SM (elemgrad_gpu/backends/cuda/backend.py) rest on.

    python benchmarks/gpu_launch.py        (on a CUDA machine; benchmarks/gpu_check.sh runs it)

For value + first derivative of each benchmark function at 512 MiB of input (n = 2^27
float32, 2^26 float64), the device time of a call (CUDA events) and its
bandwidth (inputs read once + outputs written once) as a share of the device-to-device
copy's, for each launch shape (THEANO_FLAGS elemgrad__cuda_threads and
elemgrad__cuda_blocks_per_sm); before that, the host time of one call at n = 1000 with
preallocated outputs, and of the same call bound once (``fn.bind``), without and with
a synchronization after it. The last line is
THEANO_FLAGS=... for the best shape (the default unless another is 1% better on average).
"""
from __future__ import annotations

import os
import statistics
import time
from typing import Callable

import cupy as cp

from elemgrad_gpu.backends.cuda.backend import Launch
from elemgrad_gpu.bench.peers import FUNCTIONS, elemgrad_tool

SIZES = {"float32": 2 ** 27, "float64": 2 ** 26}
SHAPES = [Launch(threads, per_sm) for threads in (128, 256, 512, 1024) for per_sm in (4, 8, 16, 32, 0)]
BETTER_BY = 1.01  # a shape replaces the default only when its mean share is this much higher


def flags(launch: Launch) -> str:
    """THEANO_FLAGS selecting ``launch``."""
    return f"elemgrad__cuda_threads={launch.threads},elemgrad__cuda_blocks_per_sm={launch.blocks_per_sm}"


def kernel_seconds(call: Callable[[], object], rounds: int = 10, calls: int = 10) -> float:
    """The device time of one ``call``: the median over rounds of CUDA events around ``calls`` calls in a row.

    The host queues the calls faster than the device runs them, so the host's part
    of each call stays out of the time.
    """
    start, stop = cp.cuda.Event(), cp.cuda.Event()
    call()
    times = []
    for _ in range(rounds):
        start.record()
        for _ in range(calls):
            call()
        stop.record()
        stop.synchronize()
        times.append(cp.cuda.get_elapsed_time(start, stop) * 1e-3 / calls)
    return statistics.median(times)


def shape_sweep() -> Launch:
    """Print each launch shape's share of the copy bandwidth, per function and dtype; return the best."""
    default = Launch.configured()
    print(f"launch shapes, threads/blocks per SM (0: no cap); default {default.threads}/{default.blocks_per_sm}")
    print("  " + " ".join(f"{launch.threads}/{launch.blocks_per_sm}" for launch in SHAPES))
    shares: dict[Launch, list[float]] = {launch: [] for launch in SHAPES}
    for dtype, n in SIZES.items():
        x = cp.linspace(-4, 4, n, dtype=dtype)
        y = cp.empty_like(x)
        copy = 2 * x.nbytes / kernel_seconds(lambda: cp.copyto(y, x))
        print(f"{dtype} n=2^{n.bit_length() - 1}: device copy {copy / 1e9:.0f} GB/s")
        for name, function in FUNCTIONS.items():
            for launch in SHAPES:
                os.environ["THEANO_FLAGS"] = flags(launch)
                call = elemgrad_tool(function, dtype, 1, device="cuda", preallocate=True)(x)
                try:
                    shares[launch].append(3 * x.nbytes / kernel_seconds(call) / copy)
                except Exception as error:  # noqa: BLE001 - too many registers for the block, say
                    print(f"  {name} {launch}: {type(error).__name__}: {error}")
                    shares[launch].append(0.0)
            print(f"  {name:8s} " + " ".join(f"{shares[launch][-1]:.3f}" for launch in SHAPES))
    del os.environ["THEANO_FLAGS"]
    mean = {launch: statistics.fmean(values) for launch, values in shares.items()}
    best = max(mean, key=mean.__getitem__)
    print(f"mean share: default {mean.get(default, float('nan')):.3f}, best {best} {mean[best]:.3f}")
    return best if mean[best] > BETTER_BY * mean.get(default, 0.0) else default


def host_time() -> None:
    """Print the host time of one call at n = 1000 (outputs preallocated; then bound), without and with a sync."""
    for dtype in SIZES:
        x = cp.linspace(-4, 4, 1000, dtype=dtype)
        for name, function in FUNCTIONS.items():
            times = []
            for bound in (False, True):
                call = elemgrad_tool(function, dtype, 1, device="cuda", preallocate=True, bound=bound)(x)
                times += [per_call(call, sync) for sync in (False, True)]
            print(f"host time per call, {name} {dtype} n=1000: {times[0]:.1f} us, {times[1]:.1f} us with a sync; "
                  f"bound: {times[2]:.1f} us, {times[3]:.1f} us with a sync")


def per_call(call: Callable[[], object], sync: bool, calls: int = 2000) -> float:
    """Microseconds of host time per call over ``calls`` calls, each followed by a sync if ``sync``."""
    call()
    cp.cuda.Device().synchronize()
    start = time.perf_counter()
    for _ in range(calls):
        call()
        if sync:
            cp.cuda.Device().synchronize()
    seconds = (time.perf_counter() - start) / calls
    cp.cuda.Device().synchronize()
    return seconds * 1e6


if __name__ == "__main__":
    print(cp.cuda.runtime.getDeviceProperties(0)["name"].decode(), time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
    host_time()
    print(f"THEANO_FLAGS={flags(shape_sweep())}")

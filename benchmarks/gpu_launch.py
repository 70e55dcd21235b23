"""The CUDA launch shape, measured: what THREADS and BLOCKS_PER_SM (elemgrad_gpu/backend_cuda.py) rest on.

    python benchmarks/gpu_launch.py        (on a CUDA machine; benchmarks/gpu_check.sh runs it)

For value + first derivative of each benchmark function at 512 MiB of input (n = 2^27
float32, 2^26 float64), the device time of a call (CUDA events) and its
bandwidth (inputs read once + outputs written once) as a share of the device-to-device
copy's, for each launch shape; then the host time of one call at n = 1000 with
preallocated outputs, without and with a synchronization after it.
"""
from __future__ import annotations

import statistics
import time
from typing import Callable

import cupy as cp
import numpy as np

from elemgrad_gpu import backend_cuda
from elemgrad_gpu.peers import FUNCTIONS, elemgrad_tool

SIZES = {"float32": 2 ** 27, "float64": 2 ** 26}
SHAPES = [(threads, per_sm) for threads in (128, 256, 512, 1024) for per_sm in (4, 8, 16, 32, None)]


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


def shape_sweep() -> None:
    """Print, per function and dtype, each launch shape's share of the copy bandwidth."""
    default = backend_cuda.THREADS, backend_cuda.BLOCKS_PER_SM
    print(f"launch shapes (threads per block, blocks per SM cap; None: one step per thread), default {default}")
    for dtype, n in SIZES.items():
        x = cp.linspace(-4, 4, n, dtype=dtype)
        y = cp.empty_like(x)
        copy = 2 * x.nbytes / kernel_seconds(lambda: cp.copyto(y, x))
        print(f"{dtype} n=2^{n.bit_length() - 1}: device copy {copy / 1e9:.0f} GB/s")
        for name, function in FUNCTIONS.items():
            call = elemgrad_tool(function, dtype, 1, device="cuda", preallocate=True)(x)
            shares = []
            for threads, per_sm in SHAPES:
                backend_cuda.THREADS, backend_cuda.BLOCKS_PER_SM = threads, per_sm or 2 ** 31
                try:
                    shares.append(3 * x.nbytes / kernel_seconds(call) / copy)
                except cp.cuda.driver.CUDADriverError as error:  # too many registers for the block, say
                    print(f"  {name} {threads}/{per_sm}: {error}")
                    shares.append(0.0)
            backend_cuda.THREADS, backend_cuda.BLOCKS_PER_SM = default
            best = int(np.argmax(shares))
            row = " ".join(f"{share:.3f}" for share in shares)
            print(f"  {name:8s} {row}  best {SHAPES[best]} {shares[best]:.3f}")
    print("  columns:", " ".join(f"{t}/{p}" for t, p in SHAPES))


def host_time() -> None:
    """Print the host time of one call at n = 1000 (outputs preallocated), without and with a sync."""
    for dtype in SIZES:
        x = cp.linspace(-4, 4, 1000, dtype=dtype)
        for name, function in FUNCTIONS.items():
            call = elemgrad_tool(function, dtype, 1, device="cuda", preallocate=True)(x)
            seconds = []
            for sync in (False, True):
                call()
                cp.cuda.Device().synchronize()
                start = time.perf_counter()
                for _ in range(2000):
                    call()
                    if sync:
                        cp.cuda.Device().synchronize()
                seconds.append((time.perf_counter() - start) / 2000)
                cp.cuda.Device().synchronize()
            print(f"host time per call, {name} {dtype} n=1000: {seconds[0] * 1e6:.1f} us, "
                  f"{seconds[1] * 1e6:.1f} us with a sync")


if __name__ == "__main__":
    print(cp.cuda.runtime.getDeviceProperties(0)["name"].decode(), time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
    shape_sweep()
    host_time()

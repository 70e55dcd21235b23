"""The Dask overhead target of issue 18, timed in interleaved rounds (a shared VM changes speed over seconds).

n = 10^8 float64 in 10 chunks, f and df/dx of a Gaussian log-density, threaded scheduler. Each
round times, back to back:

* the single-process call that allocates its outputs, and the same call into arrays
  allocated once (``out=``);
* Dask to new NumPy arrays (``dask.compute``), Dask stored into arrays allocated once
  (``da.store``), and Dask stored into arrays allocated in the round (``np.empty`` then
  ``da.store``, the outputs allocated as the single call's are).

The ratios are taken within each round (the target: Dask <= 1.15x the single call, outputs
allocated both ways); the table gives medians over rounds.

    PYTHONPATH=$PWD python benchmarks/dask_overhead_interleaved.py [--rounds 9]
"""
import argparse
import statistics
import time
from datetime import datetime, timezone

import dask
import dask.array as da
import numpy as np

import elemgrad_gpu as eg

N, CHUNKS = 10 ** 8, 10
EXPRESSION = "-(x - mu)**2/(2*s**2) - log(s)"


def variants(fn, x):
    """name -> a call doing one variant's whole work."""
    lazy = fn(da.from_array(x, chunks=N // CHUNKS), 0.25, 1.5)
    kept = (np.zeros(N), np.zeros(N))

    def store_fresh():
        targets = [np.empty(N), np.empty(N)]
        da.store(list(lazy), targets, scheduler="threads", lock=False)
        return targets

    return {
        "single call, outputs allocated": lambda: fn(x, 0.25, 1.5),
        "single call into out= (allocated once)": lambda: fn(x, 0.25, 1.5, out=kept),
        "Dask, dask.compute to new NumPy arrays": lambda: dask.compute(*lazy, scheduler="threads"),
        "Dask, da.store into arrays allocated once": lambda: da.store(list(lazy), list(kept), scheduler="threads",
                                                                      lock=False),
        "Dask, da.store into arrays allocated in the round": store_fresh,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    fn = eg.compile(EXPRESSION, orders=(0, 1), device="cpu")
    x = np.random.default_rng(18).normal(size=N)
    calls = variants(fn, x)
    for call in calls.values():  # warm up: compile, first touch of the kept arrays
        call()
    times = {name: [] for name in calls}
    for _ in range(args.rounds):
        for name, call in calls.items():
            start = time.perf_counter()
            result = call()
            times[name].append(time.perf_counter() - start)
            del result
    against = {"single call, outputs allocated": "single call, outputs allocated",
               "single call into out= (allocated once)": "single call into out= (allocated once)",
               "Dask, dask.compute to new NumPy arrays": "single call, outputs allocated",
               "Dask, da.store into arrays allocated once": "single call into out= (allocated once)",
               "Dask, da.store into arrays allocated in the round": "single call, outputs allocated"}
    print(f"{EXPRESSION}, f and df/dx, float64, n = 1e8 in {CHUNKS} chunks, threads; "
          f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; {args.rounds} interleaved rounds")
    print("| how | median s | min s | ratio (median of per-round ratios) | against |\n|---|---|---|---|---|")
    for name, measured in times.items():
        base = times[against[name]]
        ratio = statistics.median(t / b for t, b in zip(measured, base))
        print(f"| {name} | {statistics.median(measured):.3f} | {min(measured):.3f} | {ratio:.2f} | {against[name]} |")


if __name__ == "__main__":
    main()

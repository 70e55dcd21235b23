"""LocalCluster scaling, 1 against 2 worker processes, interleaved (a noisy machine drifts).

    PYTHONPATH=$PWD python benchmarks/dask_scaling.py [n] [rounds]

Each worker is pinned to its own core (test_dask.pin_to_one_core), so the kernel runs one
thread per worker; x (normal, float64) is made and persisted on the workers in chunks of
10^7 and the sums of f and df/dx of a Gaussian log-density are timed, so no data crosses
processes. Configurations alternate, ``rounds`` times 3 calls each; prints every time, the
medians, the spread and the throughput ratio.
"""
import statistics
import sys
import time

import dask.array as da
from dask.distributed import Client, LocalCluster, wait

import elemgrad_gpu as eg
from test_dask import CLUSTER_CHUNK, EXPRESSION, pin_to_one_core


def timed_calls(workers: int, n: int, calls: int = 3) -> list[float]:
    with LocalCluster(n_workers=workers, processes=True, threads_per_worker=1, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        client.run(pin_to_one_core)
        fn = eg.compile(EXPRESSION, orders=(0, 1), device="cpu")
        x = da.random.default_rng(18).normal(size=n, chunks=CLUSTER_CHUNK).persist()
        wait(x)
        sums = [output.sum() for output in fn(x, 0.25, 1.5)]
        client.compute(sums, sync=True)  # each worker builds or loads the kernel
        times = []
        for _ in range(calls):
            start = time.perf_counter()
            client.compute(sums, sync=True)
            times.append(time.perf_counter() - start)
        return times


def main(n: int, rounds: int) -> None:
    times: dict[int, list[float]] = {1: [], 2: []}
    for _ in range(rounds):
        for workers in times:
            times[workers] += timed_calls(workers, n)
            print(workers, "workers:", " ".join(f"{t:.2f}" for t in times[workers]), flush=True)
    for workers, ts in times.items():
        median = statistics.median(ts)
        print(f"{workers} worker(s): median {median:.2f} s (min {min(ts):.2f}, max {max(ts):.2f}), "
              f"{n / median / 1e6:.0f} M elements/s")
    print(f"throughput ratio, 2 workers / 1: medians {statistics.median(times[1]) / statistics.median(times[2]):.2f}, "
          f"best calls {min(times[1]) / min(times[2]):.2f}")


if __name__ == "__main__":
    main(int(float(sys.argv[1])) if len(sys.argv) > 1 else 4 * 10 ** 8, int(sys.argv[2]) if len(sys.argv) > 2 else 2)

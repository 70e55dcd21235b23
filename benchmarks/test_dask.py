"""Dask (issue 18): the cost of going through Dask, and a LocalCluster's throughput with 1 and 2 workers.

* threaded scheduler, n = 10^8 float64 in 10 chunks, value and derivative of a Gaussian
  log-density, with outputs allocated both ways (the issue's target: Dask <= 1.15x the
  single-process time): computed to new NumPy arrays (``dask.compute``) against the single
  call that allocates its outputs, and stored into arrays allocated once (``da.store``)
  against the single call into arrays allocated once (``out=``);
* LocalCluster of 1 and of 2 worker processes (one thread each, each pinned to its own core
  so that the kernel, which otherwise starts a thread per available core, runs one thread per
  worker: the scaling measured is the workers', not the kernel's threads), x made on the
  workers (dask.array.random) and each output summed there, so the time is the workers'
  kernels and Dask's scheduling, not transfers: throughput in elements per second, at the
  issue's n = 4*10^8 in chunks of 10^7 (benchmarks/dask_scaling.py interleaves the two
  configurations on a noisy machine).

Both are large (GBs of memory): `pytest benchmarks/test_dask.py --bench-large
--benchmark-columns=median,iqr,rounds`. Not run in CI.
"""
import dask
import dask.array as da
import numpy as np
import pytest
from dask.distributed import Client, LocalCluster

import elemgrad_gpu as eg

N, CHUNKS = 10 ** 8, 10
N_CLUSTER, CLUSTER_CHUNK = 4 * 10 ** 8, 10 ** 7
EXPRESSION = "-(x - mu)**2/(2*s**2) - log(s)"

pytestmark = pytest.mark.large


@pytest.fixture(scope="module")
def fn():
    return eg.compile(EXPRESSION, orders=(0, 1), device="cpu")


@pytest.fixture(scope="module")
def x():
    return np.random.default_rng(18).normal(size=N)


def test_single_process_call(benchmark, fn, x):
    benchmark.group = "dask overhead, n=1e8 float64"
    benchmark.pedantic(fn, args=(x, 0.25, 1.5), rounds=5, warmup_rounds=1)


def test_single_process_call_into_preallocated(benchmark, fn, x):
    """The single call writing into arrays allocated once (``out=``): the counterpart of ``da.store`` below."""
    benchmark.group = "dask overhead, n=1e8 float64"
    targets = (np.zeros(N), np.zeros(N))
    benchmark.pedantic(fn, args=(x, 0.25, 1.5), kwargs={"out": targets}, rounds=5, warmup_rounds=1)


def test_threaded_scheduler_10_chunks(benchmark, fn, x):
    benchmark.group = "dask overhead, n=1e8 float64"
    lazy = fn(da.from_array(x, chunks=N // CHUNKS), 0.25, 1.5)
    benchmark.pedantic(dask.compute, args=lazy, kwargs={"scheduler": "threads"}, rounds=5, warmup_rounds=1)


def test_threaded_scheduler_10_chunks_stored_into_preallocated(benchmark, fn, x):
    """Without Dask's final concatenation into fresh memory (the cost that dominates on a VM with slow page
    faults): each chunk's outputs are copied into arrays allocated once, as ``out=`` gives the single call."""
    benchmark.group = "dask overhead, n=1e8 float64"
    lazy = fn(da.from_array(x, chunks=N // CHUNKS), 0.25, 1.5)
    targets = [np.zeros(N), np.zeros(N)]
    benchmark.pedantic(da.store, args=(list(lazy), targets), kwargs={"scheduler": "threads", "lock": False},
                       rounds=5, warmup_rounds=1)


def pin_to_one_core(dask_worker):
    """Run on each worker before its first kernel: one core each (worker i on core i), so the
    kernel module, which reads the process's CPU affinity when it loads, runs one thread."""
    import os

    cores = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cores[int(dask_worker.name) % len(cores)]})


@pytest.mark.parametrize("workers", [1, 2])
def test_local_cluster_throughput(benchmark, fn, workers):
    benchmark.group = f"LocalCluster, n={N_CLUSTER:.0e} float64, sums of f and df/dx"
    with LocalCluster(n_workers=workers, processes=True, threads_per_worker=1, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        client.run(pin_to_one_core)
        x_dask = da.random.default_rng(18).normal(size=N_CLUSTER, chunks=CLUSTER_CHUNK).persist()
        sums = [output.sum() for output in fn(x_dask, 0.25, 1.5)]
        benchmark.pedantic(lambda: client.compute(sums, sync=True), rounds=5, warmup_rounds=1)
        benchmark.extra_info["elements_per_second"] = N_CLUSTER / benchmark.stats.stats.median

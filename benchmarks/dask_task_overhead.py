"""Dask's cost per task, for the weak-scaling projection of docs/SCALING.md (issue 18).

Many tasks that do almost nothing, so the time per task is what Dask adds around a kernel:

* threaded scheduler (``dask.compute(..., scheduler="threads")``): a compiled function on a
  Dask array of ``TASKS`` chunks of one element each (the ChunkTask plus the getitem that
  splits its outputs), and a plain ``map_blocks`` of a no-op for comparison;
* distributed: a ``dask scheduler`` process and one ``dask worker`` process with one thread
  (no nanny), started here on free ports: the same graphs through the scheduler, the network
  layer and the worker, with the wall time per task and the CPU time each process spent per
  task (from /proc/PID/stat, Linux). The scheduler's CPU per task is what bounds a cluster's
  task rate whatever its number of workers (one central scheduler sees every task); the
  worker's is what each worker adds to its own tasks. Over a network add its latency.

Prints medians of ``ROUNDS`` rounds, in microseconds per chunk and per task (each chunk is a few
tasks: the chunk of x, the kernel, one getitem per output, one sum per output, and its share of
the sums' tree). Not run in CI:
``PYTHONPATH=$PWD python benchmarks/dask_task_overhead.py``.
"""
import os
import socket
import statistics
import subprocess
import sys
import time

import dask
import dask.array as da
import numpy as np
from dask.distributed import Client

import elemgrad_gpu as eg

TASKS, ROUNDS = 500, 5
EXPRESSION = "-(x - mu)**2/(2*s**2) - log(s)"


def per_task(compute, lazy) -> float:
    """The median over ROUNDS of the time per chunk to compute ``lazy`` (after one warm-up round)."""
    compute(lazy)
    times = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        compute(lazy)
        times.append((time.perf_counter() - start) / TASKS)
    return statistics.median(times)


def graphs():
    fn = eg.compile(EXPRESSION, orders=(0, 1), device="cpu")
    x = da.from_array(np.linspace(-1, 1, TASKS), chunks=1)
    ours = [output.sum() for output in fn(x, 0.25, 1.5)]  # every chunk: the kernel task, two getitems, two sums
    plain = [x.map_blocks(np.negative).sum()]  # every chunk: one no-op task and its sum
    return {"compiled function, f and df/dx": ours, "map_blocks(np.negative)": plain}


def main() -> None:
    lazy = graphs()
    tasks = {name: count_tasks(graph) / TASKS for name, graph in lazy.items()}
    for name, graph in lazy.items():
        seconds = per_task(lambda g: dask.compute(*g, scheduler="threads"), graph)
        report("threads", name, seconds, tasks[name])
    with cluster() as (address, scheduler, worker), Client(address) as client:
        for name, graph in lazy.items():
            before = [cpu_seconds(scheduler.pid), cpu_seconds(worker.pid), time.process_time()]
            seconds = per_task(lambda g: client.compute(g, sync=True), graph)
            after = [cpu_seconds(scheduler.pid), cpu_seconds(worker.pid), time.process_time()]
            report("distributed", name, seconds, tasks[name])
            count = tasks[name] * TASKS * (ROUNDS + 1)
            spent = ", ".join(f"{who} {(b - a) / count * 1e6:.0f}" for who, a, b in
                              zip(("scheduler", "worker", "client"), before, after))
            print(f"{'':12s} CPU per task (us): {spent}")


class cluster:
    """A scheduler and one single-threaded worker, each a process of its own, stopped at the end."""

    def __enter__(self):
        port = free_port()
        dask_cli = [sys.executable, "-m", "dask"]
        self.processes = [subprocess.Popen([*dask_cli, "scheduler", "--port", str(port), "--no-dashboard"],
                                           stderr=subprocess.DEVNULL)]
        address = f"tcp://127.0.0.1:{port}"
        self.processes.append(subprocess.Popen([*dask_cli, "worker", address, "--nthreads", "1", "--no-nanny",
                                                "--no-dashboard"], stderr=subprocess.DEVNULL, env=os.environ))
        with Client(address, timeout="60s") as client:
            client.wait_for_workers(1, timeout=120)
        return address, *self.processes

    def __exit__(self, *exc):
        for process in self.processes:
            process.terminate()
            process.wait(30)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def count_tasks(graph) -> int:
    """The tasks a scheduler runs for ``graph``: those of its optimized graph (as ``compute`` optimizes)."""
    merged = {}
    for collection in dask.optimize(*graph):
        merged.update(dict(collection.__dask_graph__()))
    return len(merged)


def report(scheduler: str, name: str, seconds: float, tasks: float) -> None:
    print(f"{scheduler:12s} {name:32s} {seconds * 1e6:8.1f} us per chunk, {tasks:.2f} tasks per chunk, "
          f"{seconds / tasks * 1e6:7.1f} us per task")


if __name__ == "__main__":
    main()

"""Interleaved timing on a noisy machine: each round times every tool once, in turn.

A shared VM changes speed over seconds (other tenants, clock), which pytest-benchmark,
timing one tool after another, reads as differences between tools. Here each round
times all tools back to back, and the ratio to elemgrad_gpu is taken within the round;
the table gives medians over rounds.

    python benchmarks/interleaved.py [--sizes 1000 100000 10000000] [--rounds 30]
"""
import argparse
import platform
import statistics
import time
from datetime import datetime, timezone

import numpy as np

from elemgrad_gpu.bench.peers import FUNCTIONS, Call, elemgrad_tool, numpy_tool, pytensor_tool

TOOLS = {"elemgrad_gpu": elemgrad_tool, "pytensor grad(sum) C": pytensor_tool, "numpy by hand": numpy_tool}


def seconds(call: Call, repeat: int) -> float:
    """The mean time of ``repeat`` calls."""
    start = time.perf_counter()
    for _ in range(repeat):
        call()
    return (time.perf_counter() - start) / repeat


def main() -> None:
    """Time every tool in turn, round after round; print the medians and the ratios to elemgrad_gpu."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 100_000, 10_000_000])
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    tools = {name: build(FUNCTIONS["tanh2"], "float64") for name, build in TOOLS.items()}
    print(f"tanh(x)^2, value + first derivative, float64; {platform.machine()} {platform.processor() or ''}, "
          f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; medians over {args.rounds} interleaved rounds")
    print("| n | tool | median ms | time / elemgrad_gpu (median of per-round ratios) |\n|---|---|---|---|")
    for n in args.sizes:
        calls = {name: bind(np.linspace(-3, 3, n)) for name, bind in tools.items()}
        repeat = max(1, 200_000 // n)
        times: dict[str, list[float]] = {name: [] for name in calls}
        for _ in range(args.rounds):
            for name, call in calls.items():
                call()
                times[name].append(seconds(call, repeat))
        for name, series in times.items():
            ratio = statistics.median(t / e for t, e in zip(series, times["elemgrad_gpu"]))
            print(f"| {n:,} | {name} | {statistics.median(series) * 1e3:.4g} | {ratio:.2f} |")


if __name__ == "__main__":
    main()

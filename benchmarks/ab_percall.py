"""Per-call time of two checkouts of elemgrad_gpu, measured in the same run, interleaved.

    python benchmarks/ab_percall.py BEFORE_CHECKOUT AFTER_CHECKOUT [--rounds 40] [--calls 2000] [--cpu 0]

Each checkout runs in its own worker process (both packages are called elemgrad_gpu),
both pinned to the same CPU (``--cpu``), so that what else runs there slows both alike;
round after round, each worker times a batch of calls of value + first derivative of
tanh(x)**2 on n = 1,000 float64 points on the CPU (fresh outputs, as a plain call), and
the batches alternate between the two, so that the machine's noise falls on both alike.
Prints, per checkout, the median time per call over the rounds and its spread
(quartiles, min, max), then the ratio of the medians and the median (and quartiles) of
each round's ratio, its two batches having run back to back.
"""
import argparse
import statistics
import subprocess
import sys

WORKER = r"""
import os, sys, time
os.sched_setaffinity(0, {int(sys.argv[2])})
import numpy as np
sys.path.insert(0, sys.argv[1])
import elemgrad_gpu as eg
assert eg.__file__.startswith(sys.argv[1]), eg.__file__
fn = eg.compile("tanh(x)**2", orders=(0, 1), device="cpu")
x = np.linspace(-2, 2, 1000)
for _ in range(2000):
    fn(x)
print("ready", flush=True)
for line in sys.stdin:
    calls = int(line)
    start = time.perf_counter()
    for _ in range(calls):
        fn(x)
    print((time.perf_counter() - start) / calls, flush=True)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkouts", nargs=2, help="the two repository roots, before and after")
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--cpu", type=int, default=0, help="the CPU both workers run on (default: 0)")
    args = parser.parse_args()
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, root, str(args.cpu)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                text=True) for root in args.checkouts]
    for worker in workers:
        assert worker.stdout.readline().strip() == "ready"
    times: list[list[float]] = [[], []]
    for round_ in range(args.rounds):
        order = (0, 1) if round_ % 2 == 0 else (1, 0)
        for k in order:
            workers[k].stdin.write(f"{args.calls}\n")
            workers[k].stdin.flush()
            times[k].append(float(workers[k].stdout.readline()))
    for worker in workers:
        worker.stdin.close()
        worker.wait()
    for root, seconds in zip(args.checkouts, times):
        us = sorted(t * 1e6 for t in seconds)
        q1, median, q3 = statistics.quantiles(us, n=4)
        print(f"{root}: median {median:.3f} us per call (quartiles {q1:.3f}-{q3:.3f}, min {us[0]:.3f}, "
              f"max {us[-1]:.3f}; {args.rounds} rounds of {args.calls} calls)")
    ratios = sorted(a / b for b, a in zip(*times))  # each round's two batches ran back to back
    r1, r2, r3 = statistics.quantiles(ratios, n=4)
    print(f"after / before: {statistics.median(times[1]) / statistics.median(times[0]):.3f} (medians); "
          f"per round: median {r2:.3f}, quartiles {r1:.3f}-{r3:.3f}")


if __name__ == "__main__":
    main()

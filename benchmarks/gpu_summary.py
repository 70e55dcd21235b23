"""The GPU check in one table: what benchmarks/gpu_check.sh measured, against issue 20's targets.

    python benchmarks/gpu_summary.py DIR

Reads, from DIR (what gpu_check.sh wrote; a missing file leaves its rows "not run"):
``tests*.xml`` (the gpu-marked tests, JUnit XML), ``launch.json`` (benchmarks/gpu_launch.py
--json: host time per call at n = 1,000), ``gpu_bench.json`` and ``gpu_bench_torch.json``
(benchmarks/test_gpu_peers.py, pytest-benchmark JSON). Prints one Markdown table: a row per
check and function, float32 and float64 side by side, the target, and whether it is met.

Targets (issue 20): host time of a repeated plain call at most 10 us, of a bound call at
most 6 us; at 512 MiB of input (n = 2^27 float32, 2^26 float64), value + first derivative,
at least 97% of the device-copy bandwidth for plain and bound calls, and faster than the
faster of JAX and torch.compile.
"""
from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

FUNCTIONS = ("tanh2", "softplus", "gelu", "logpdf")
DTYPES = ("float32", "float64")
HOST_TARGETS = {"plain, out=": 10.0, "plain, new outputs": 10.0, "bound": 6.0, "RawKernel": None}
SHARE_TARGET = 0.97


def tests_row(folder: Path) -> list[str]:
    """The gpu-marked tests: passed, failed, skipped."""
    paths = sorted(folder.glob("tests*.xml"))  # tests.xml, then tests_memory.xml
    if not paths:
        return ["gpu-marked tests", "all", "not run", "", "all pass", "no"]
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for suite in (s for path in paths for s in ElementTree.parse(path).getroot().iter("testsuite")):
        for key in counts:
            counts[key] += int(suite.get(key, 0))
    failed = counts["failures"] + counts["errors"]
    passed = counts["tests"] - failed - counts["skipped"]
    text = f"{passed} passed, {failed} failed, {counts['skipped']} skipped"
    return ["gpu-marked tests", "all", text, "", "all pass", "yes" if passed and not failed else "no"]


def host_rows(folder: Path) -> list[list[str]]:
    """Host time per call at n = 1,000, each way of calling, per function."""
    path = folder / "launch.json"
    measured = json.loads(path.read_text()) if path.exists() else []
    times = {(r["function"], r["dtype"], column): r[column] for r in measured for column in HOST_TARGETS}
    rows = []
    for column, target in HOST_TARGETS.items():
        for function in FUNCTIONS:
            cells = [times.get((function, dtype, column)) for dtype in DTYPES]
            met = "" if target is None else verdict(all(c is not None and c <= target for c in cells), cells)
            rows.append([f"host us per call, {column}, n=1000", function,
                         *[f"{c:.1f}" if c is not None else "not run" for c in cells],
                         f"<= {target:g} us" if target else "(CuPy's floor)", met])
    return rows


def verdict(ok: bool, cells: list) -> str:
    return "not run" if any(c is None for c in cells) else "yes" if ok else "no"


def bench_rows(folder: Path) -> list[list[str]]:
    """Share of the copy bandwidth (plain, bound) and the ratio to the faster peer, per function, at 512 MiB."""
    medians: dict[tuple, float] = {}
    shares: dict[tuple, float] = {}
    for name in ("gpu_bench.json", "gpu_bench_torch.json"):
        path = folder / name
        if not path.exists():
            continue
        benchmarks = json.loads(path.read_text())["benchmarks"]
        copies = {(b["extra_info"]["dtype"], b["extra_info"]["n"]): b["extra_info"]["bytes"] / b["stats"]["median"]
                  for b in benchmarks if b["extra_info"].get("tool") == "device copy"}
        for b in benchmarks:
            info = b["extra_info"]
            if info.get("derivatives") != "vg" or info.get("n", 0) < 2 ** 20:
                continue
            key = (info["function"], info["dtype"], info["tool"])
            medians[key] = b["stats"]["median"]
            copy = copies.get((info["dtype"], info["n"]))
            if copy:
                shares[key] = info["bytes"] / b["stats"]["median"] / copy
    rows = []
    for tool, label in (("elemgrad_gpu", "plain"), ("elemgrad_gpu bound", "bound")):
        for function in FUNCTIONS:
            cells = [shares.get((function, dtype, tool)) for dtype in DTYPES]
            rows.append([f"share of copy bandwidth, {label}, 2^27 f32 / 2^26 f64", function,
                         *[f"{c:.1%}" if c is not None else "not run" for c in cells], f">= {SHARE_TARGET:.0%}",
                         verdict(all(c is not None and c >= SHARE_TARGET for c in cells), cells)])
    for function in FUNCTIONS:
        cells = []
        for dtype in DTYPES:
            peers = [medians[(function, dtype, p)] for p in ("jax", "torch.compile") if (function, dtype, p) in medians]
            ours = medians.get((function, dtype, "elemgrad_gpu"))
            cells.append(ours / min(peers) if ours and peers else None)
        rows.append(["plain call / faster of JAX and torch.compile", function,
                     *[f"{c:.2f}" if c is not None else "not run" for c in cells], "< 1",
                     verdict(all(c is not None and c < 1 for c in cells), cells)])
    return rows


def table(folder: Path) -> str:
    rows = [tests_row(folder), *host_rows(folder), *bench_rows(folder)]
    lines = ["| check | function | float32 | float64 | target | met |", "|---|---|---|---|---|---|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python benchmarks/gpu_summary.py DIR (the folder gpu_check.sh wrote)")
    print(table(Path(sys.argv[1])))

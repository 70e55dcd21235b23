"""A pytest-benchmark run as Markdown tables and a log-log plot of time against n.

    python benchmarks/report.py RUN.json [-o DIR]

Writes DIR/RUN.md (also printed) and DIR/RUN.png; DIR defaults to RUN.json's folder.
The Markdown opens with the machine (CPU, cores; the GPU where extra_info names one)
and the run's date, then has a table per benchmark group: each tool's median and
min time, GB/s where extra_info has "bytes" (inputs read once + outputs written once),
the share of the device-copy bandwidth where the run has a copy of that dtype and n,
and the median over elemgrad_gpu's and over the group's fastest. The PNG has a panel
per function, derivatives, dtype and device (from extra_info), a line per tool.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path
from typing import NamedTuple

from elemgrad_gpu.cli.plot import new_figure, save

REFERENCE_TOOL = "elemgrad_gpu"
COPY_TOOL = "device copy"
UNITS = (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9))


class Row(NamedTuple):
    """One benchmark of the run, with what its extra_info says about it."""

    group: str
    tool: str
    median: float
    min: float
    bytes: int | None
    n: int | None
    device: str  # extra_info's "gpu", else "cpu"
    panel: str | None  # "tanh2 vg float64 (cpu)": the plot panel it belongs to, where extra_info says
    copy_key: tuple | None  # (device, dtype, n): which device copy it compares with


def rows_of(run: dict) -> list[Row]:
    """The run's benchmarks as Rows, in the run's order."""
    rows = []
    for bench in run["benchmarks"]:
        info, stats = bench.get("extra_info", {}), bench["stats"]
        device = info.get("gpu", "cpu")
        panel = None
        if "function" in info and "n" in info:
            panel = " ".join(filter(None, (info["function"], info.get("derivatives"), info.get("dtype"))))
            panel += f" ({device})"
        rows.append(Row(bench.get("group") or bench["name"], info.get("tool", bench["name"]), stats["median"],
                        stats["min"], info.get("bytes"), info.get("n"), device, panel,
                        (device, info.get("dtype"), info.get("n")) if "n" in info else None))
    return rows


def duration(seconds: float) -> str:
    """12.3 ms, 5.71 µs: three or four significant digits in a readable unit."""
    unit, scale = next(((u, s) for u, s in UNITS if seconds >= s), UNITS[-1])
    value = seconds / scale
    return f"{value:.3f} {unit}" if value < 10 else f"{value:.1f} {unit}" if value < 100 else f"{value:.0f} {unit}"


def header(run: dict, rows: list[Row]) -> str:
    """The machine and the date of the run."""
    machine = run.get("machine_info", {})
    cpu = machine.get("cpu", {})
    line = f"machine: {cpu.get('brand_raw', machine.get('processor') or '?')}, {cpu.get('count', '?')} cores " \
           f"({machine.get('machine', '?')})"
    gpus = sorted({row.device for row in rows} - {"cpu"})
    if gpus:
        line += f"; GPU: {', '.join(gpus)}"
    commit = run.get("commit_info", {})
    version = f"commit {commit['id'][:10]}{' (dirty)' if commit.get('dirty') else ''}; " if commit.get("id") else ""
    return (f"# Benchmark run of {run.get('datetime', '?')}\n\n{line}  \n{version}python "
            f"{machine.get('python_version', '?')}, pytest-benchmark {run.get('version', '?')}")


def bandwidth(row: Row) -> float | None:
    """GB/s: bytes moved over the median time, where the bytes are known."""
    return row.bytes / row.median / 1e9 if row.bytes else None


def table(group: str, rows: list[Row], copies: dict[tuple, float]) -> str:
    """One group's Markdown table, fastest first; ratios are of medians (above 1: slower)."""
    fastest = min(row.median for row in rows)
    reference = next((row.median for row in rows if row.tool == REFERENCE_TOOL), None)
    with_copy = any(row.copy_key in copies and row.tool != COPY_TOOL for row in rows)
    columns = ["tool", "median", "min", "GB/s", *["of copy"] * with_copy, f"x {REFERENCE_TOOL}", "x fastest"]
    lines = [f"### {group}", "", "| " + " | ".join(columns) + " |", "|---" * len(columns) + "|"]
    for row in sorted(rows, key=lambda row: row.median):
        rate = bandwidth(row)
        cells = [row.tool, duration(row.median), duration(row.min), f"{rate:.3g}" if rate else ""]
        if with_copy:
            copy = copies.get(row.copy_key)
            cells.append(f"{rate / copy:.0%}" if rate and copy and row.tool != COPY_TOOL else "")
        cells += [f"{row.median / reference:.2f}" if reference else "", f"{row.median / fastest:.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown(run: dict) -> str:
    """The header and a table per group, in the run's order."""
    rows = rows_of(run)
    copies = {row.copy_key: bandwidth(row) for row in rows if row.tool == COPY_TOOL and bandwidth(row)}
    groups: dict[str, list[Row]] = {}
    for row in rows:
        groups.setdefault(row.group, []).append(row)
    tables = [table(group, members, copies) for group, members in groups.items()]
    return "\n\n".join([header(run, rows), *tables]) + "\n"


def plot(rows: list[Row], path: Path) -> None:
    """Median time against n, log-log: a panel per function/derivatives/dtype/device, a line per tool."""
    panels: dict[str, list[Row]] = {}
    for row in rows:
        if row.panel:
            panels.setdefault(row.panel, []).append(row)
    tools = list(dict.fromkeys(row.tool for members in panels.values() for row in members))
    columns = min(4, max(1, len(panels)))
    figure = new_figure(figsize=(4.2 * columns, 3.4 * -(-max(1, len(panels)) // columns) + 0.8))
    axes = figure.subplots(-(-max(1, len(panels)) // columns), columns, squeeze=False).flat
    for (panel, members), ax in zip(panels.items(), axes):
        for index, tool in enumerate(tools):
            points = sorted((row.n, row.median) for row in members if row.tool == tool)
            if points:
                ax.loglog(*zip(*points), marker="o", color=f"C{index % 10}", label=tool,
                          linewidth=2.5 if tool == REFERENCE_TOOL else 1.2)
        ax.set(title=panel, xlabel="n", ylabel="median seconds")
        ax.grid(True, which="both", alpha=0.3)
    for ax in axes:  # the cells left over
        ax.set_visible(False)
    handles = {label: handle for ax in figure.axes for handle, label in zip(*ax.get_legend_handles_labels())}
    if handles:
        figure.legend(handles.values(), handles.keys(), loc="outside lower center", ncols=min(len(handles), 2 * columns))
    save(figure, path)


def main(argv: list[str] | None = None) -> int:
    """Read RUN.json, print the Markdown, write it and the PNG to DIR (exit 1 without matplotlib: no PNG)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a pytest-benchmark JSON file (--benchmark-json)")
    parser.add_argument("-o", "--output", type=Path, help="the folder to write RUN.md and RUN.png to "
                        "(default: the JSON file's folder)")
    args = parser.parse_args(argv)
    run = json.loads(args.run.read_text())
    folder = args.output or args.run.parent
    folder.mkdir(parents=True, exist_ok=True)
    text = markdown(run)
    (folder / f"{args.run.stem}.md").write_text(text)
    print(text)
    if importlib.util.find_spec("matplotlib") is None:
        print(f"wrote {folder / args.run.stem}.md; no plot: matplotlib is not installed", file=sys.stderr)
        return 1
    plot(rows_of(run), folder / f"{args.run.stem}.png")
    print(f"wrote {folder / args.run.stem}.md and .png", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

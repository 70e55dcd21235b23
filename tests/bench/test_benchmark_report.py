"""benchmarks/report.py on a small pytest-benchmark-shaped run: its tables' numbers, and a real PNG."""
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

REPORT = Path(__file__).resolve().parents[2] / "benchmarks" / "report.py"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
GPU = "NVIDIA Test GPU"


def load_report():
    spec = importlib.util.spec_from_file_location("benchmark_report", REPORT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def bench(group: str, tool: str, median: float, n: int, nbytes: int | None = None, gpu: str | None = None) -> dict:
    """One benchmark as pytest-benchmark writes it, extra_info as benchmarks/suite.py records it."""
    function, *derivatives, dtype, _ = group.split()  # "copy float32 n=2^27" has no derivatives
    info = {"function": function, "derivatives": " ".join(derivatives), "dtype": dtype, "n": n, "tool": tool}
    info.update({"bytes": nbytes} if nbytes else {}, **({"gpu": gpu} if gpu else {}))
    return {"group": group, "name": f"test[{tool}]", "extra_info": info,
            "stats": {"median": median, "min": median * 0.9, "mean": median, "rounds": 5}}


RUN = {
    "machine_info": {"cpu": {"brand_raw": "Test CPU 9000", "count": 8}, "machine": "x86_64", "python_version": "3.11.7"},
    "commit_info": {"id": "0123456789abcdef", "dirty": True},
    "datetime": "2026-01-02T03:04:05+00:00",
    "version": "5.3.1",
    "benchmarks": [
        bench("tanh2 vg float64 n=10^3", "elemgrad_gpu", 2e-6, 1000, 24_000),
        bench("tanh2 vg float64 n=10^3", "numpy", 1e-6, 1000, 24_000),
        bench("tanh2 vg float64 n=10^3", "jax", 4e-6, 1000, 24_000),
        bench("tanh2 vg float64 n=10^6", "elemgrad_gpu", 2e-3, 10 ** 6, 24_000_000),
        bench("tanh2 vg float64 n=10^6", "numpy", 6e-3, 10 ** 6),
        bench("softplus vg float32 n=10^6", "numpy", 1e-3, 10 ** 6, 12_000_000),
        bench("softplus vg float32 n=10^6", "jax", 3e-3, 10 ** 6, 12_000_000),
        bench("copy float32 n=2^27", "device copy", 0.376e-3, 2 ** 27, 8 * 2 ** 27, GPU),
        bench("tanh2 vg float32 n=2^27", "elemgrad_gpu", 0.6e-3, 2 ** 27, 12 * 2 ** 27, GPU),
        bench("tanh2 vg float32 n=2^27", "jax", 0.683e-3, 2 ** 27, 12 * 2 ** 27, GPU),
    ],
}


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """Run report.py's main on RUN: (the Markdown, {group: {tool: cells}}, the PNG's path)."""
    folder = tmp_path_factory.mktemp("report")
    (folder / "run.json").write_text(json.dumps(RUN))
    assert load_report().main([str(folder / "run.json"), "-o", str(folder / "out")]) == 0
    text = (folder / "out" / "run.md").read_text()
    tables = {}
    for section in text.split("### ")[1:]:
        group, _, header, _, *lines = section.strip().splitlines()
        columns = [cell.strip() for cell in header.strip("|").split("|")]
        rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]
        tables[group] = {row[0]: dict(zip(columns, row)) for row in rows}
    return text, tables, folder / "out" / "run.png"


def test_the_header_names_the_machine_the_gpu_and_the_date(report):
    text, _, _ = report
    head = text.split("###")[0]
    assert "Test CPU 9000, 8 cores (x86_64)" in head and f"GPU: {GPU}" in head
    assert "2026-01-02T03:04:05" in head and "commit 0123456789 (dirty)" in head


def test_one_table_per_group_fastest_first(report):
    text, tables, _ = report
    assert list(tables) == list(dict.fromkeys(b["group"] for b in RUN["benchmarks"]))
    section = text.split("### tanh2 vg float64 n=10^3")[1].split("###")[0]
    assert [line.split("|")[1].strip() for line in section.strip().splitlines()[2:]] == ["numpy", "elemgrad_gpu", "jax"]


def test_times_rates_and_ratios(report):
    _, tables, _ = report
    small = tables["tanh2 vg float64 n=10^3"]
    assert small["elemgrad_gpu"]["median"] == "2.000 µs" and small["elemgrad_gpu"]["min"] == "1.800 µs"
    assert small["elemgrad_gpu"]["GB/s"] == "12"  # 24,000 bytes in 2 µs
    assert (small["numpy"]["x elemgrad_gpu"], small["numpy"]["x fastest"]) == ("0.50", "1.00")
    assert (small["jax"]["x elemgrad_gpu"], small["jax"]["x fastest"]) == ("2.00", "4.00")
    large = tables["tanh2 vg float64 n=10^6"]
    assert large["numpy"]["GB/s"] == "" and large["numpy"]["x elemgrad_gpu"] == "3.00"
    assert large["elemgrad_gpu"]["median"] == "2.000 ms"
    assert tables["softplus vg float32 n=10^6"]["jax"]["x elemgrad_gpu"] == ""  # no elemgrad_gpu in the group
    assert "of copy" not in small["numpy"]


def test_share_of_the_device_copy_bandwidth(report):
    _, tables, _ = report
    gpu = tables["tanh2 vg float32 n=2^27"]
    assert gpu["elemgrad_gpu"]["of copy"] == "94%"  # (12 / 0.6) / (8 / 0.376)
    assert gpu["jax"]["of copy"] == f"{(12 / 0.683) / (8 / 0.376):.0%}"
    assert tables["copy float32 n=2^27"]["device copy"]["GB/s"] == f"{8 * 2 ** 27 / 0.376e-3 / 1e9:.3g}"


def test_the_plot_is_a_real_png(report):
    _, _, path = report
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    image = pytest.importorskip("matplotlib.image").imread(path)
    height, width = image.shape[:2]
    assert 600 <= width <= 6000 and 300 <= height <= 6000, image.shape
    assert np.std(image[..., :3]) > 0.05  # not blank: lines, text and grids on white
    assert len(np.unique(image[..., :3].reshape(-1, 3), axis=0)) > 20

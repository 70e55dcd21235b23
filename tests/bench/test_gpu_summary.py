"""benchmarks/gpu_summary.py: the one table of the GPU check, from the files gpu_check.sh writes
(here made by hand, with numbers whose verdicts are known)."""
import importlib.util
import json
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_summary.py"
spec = importlib.util.spec_from_file_location("gpu_summary", SCRIPT)
summary = importlib.util.module_from_spec(spec)
spec.loader.exec_module(summary)

JUNIT = """<?xml version="1.0"?><testsuites><testsuite name="pytest" tests="{tests}" failures="{failures}"
errors="0" skipped="{skipped}"></testsuite></testsuites>"""


def bench(function, dtype, tool, median, n=2 ** 27, derivatives="vg"):
    nbytes = (2 if tool == "device copy" else 3) * n * (4 if dtype == "float32" else 8)  # read x, write 1 or 2
    return {"stats": {"median": median}, "extra_info": {"function": function, "dtype": dtype, "n": n, "tool": tool,
                                                       "derivatives": derivatives, "bytes": nbytes}}


def rows(text):
    """The table's rows by (check, function): their cells."""
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in text.splitlines()[2:]]
    return {tuple(row[:2]): row for row in cells}


def test_nothing_run_says_so(tmp_path):
    table = rows(summary.table(tmp_path))
    assert table[("gpu-marked tests", "all")][2:] == ["not run", "", "all pass", "no"]
    assert table[("host us per call, bound, n=1000", "gelu")][2:4] == ["not run", "not run"]
    assert table[("plain call / faster of JAX and torch.compile", "logpdf")][-1] == "not run"


def test_measured_values_against_the_targets(tmp_path):
    (tmp_path / "tests.xml").write_text(JUNIT.format(tests=40, failures=0, skipped=2))
    (tmp_path / "tests_memory.xml").write_text(JUNIT.format(tests=2, failures=1, skipped=0))
    launch = [{"function": f, "dtype": d, "n": 1000, "plain, out=": 9.0, "plain, new outputs": 12.0,
               "bound": 5.5 if f != "gelu" else 6.5, "RawKernel": 7.0}
              for d in ("float32", "float64") for f in summary.FUNCTIONS]
    (tmp_path / "launch.json").write_text(json.dumps(launch))
    # the copies take 0.4 ms; a call moving 1.5 times their bytes in 0.6 ms is at 100% of their bandwidth
    benchmarks = [bench("tanh2", "float32", "device copy", 4e-4), bench("tanh2", "float64", "device copy", 4e-4,
                                                                        n=2 ** 26)]
    for f in summary.FUNCTIONS:
        benchmarks += [bench(f, "float32", "elemgrad_gpu", 6e-4 if f != "logpdf" else 6.4e-4),
                       bench(f, "float32", "elemgrad_gpu bound", 6e-4), bench(f, "float32", "jax", 7e-4),
                       bench(f, "float64", "elemgrad_gpu", 6e-4, n=2 ** 26),
                       bench(f, "float64", "elemgrad_gpu bound", 6e-4, n=2 ** 26),
                       bench(f, "float64", "jax", 5e-4, n=2 ** 26),
                       bench(f, "float32", "elemgrad_gpu", 1e-5, n=1000)]  # small n: not a bandwidth row
    (tmp_path / "gpu_bench.json").write_text(json.dumps({"benchmarks": benchmarks}))
    (tmp_path / "gpu_bench_torch.json").write_text(json.dumps({"benchmarks": [
        bench("tanh2", "float32", "device copy", 4e-4), bench("tanh2", "float64", "torch.compile", 4e-4, n=2 ** 26)]}))
    table = rows(summary.table(tmp_path))
    assert table[("gpu-marked tests", "all")][2:] == ["39 passed, 1 failed, 2 skipped", "", "all pass", "no"]
    assert table[("host us per call, plain, out=, n=1000", "tanh2")][2:] == ["9.0", "9.0", "<= 10 us", "yes"]
    assert table[("host us per call, plain, new outputs, n=1000", "tanh2")][-1] == "no"
    assert table[("host us per call, bound, n=1000", "gelu")][-1] == "no"
    assert table[("host us per call, bound, n=1000", "tanh2")][-1] == "yes"
    assert table[("host us per call, RawKernel, n=1000", "tanh2")][-2:] == ["(CuPy's floor)", ""]
    plain = ("share of copy bandwidth, plain, 2^27 f32 / 2^26 f64", "logpdf")
    assert table[plain][2:] == ["93.8%", "100.0%", ">= 97%", "no"]
    assert table[("share of copy bandwidth, bound, 2^27 f32 / 2^26 f64", "softplus")][2:] == [
        "100.0%", "100.0%", ">= 97%", "yes"]
    assert table[("plain call / faster of JAX and torch.compile", "tanh2")][2:] == ["0.86", "1.50", "< 1", "no"]

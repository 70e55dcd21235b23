"""elemgrad plot and elemgrad bench, run as a user would (and a few failures provoked in-process)."""
import importlib.util
import subprocess
import sys

import numpy as np
import pytest

from elemgrad_gpu.cli import main as cli
from elemgrad_gpu.cli import bench as cli_bench

LOGPDF = "-(x - mu)**2/(2*s**2) - log(s)"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def elemgrad(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "elemgrad_gpu", *args], capture_output=True, text=True, timeout=300)


def assert_valid_png(path) -> None:
    """A PNG that matplotlib reads back, of a sensible size, not blank."""
    image = pytest.importorskip("matplotlib.image").imread(path)
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    height, width = image.shape[:2]
    assert 300 <= width <= 4000 and 300 <= height <= 4000, image.shape
    assert len(np.unique(image.reshape(-1, image.shape[-1]), axis=0)) > 1


def assert_one_line_error(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr, result.stderr
    assert all(word in result.stderr for word in words), result.stderr


def test_plot_writes_a_png_of_f_and_its_derivatives(tmp_path):
    path = tmp_path / "logpdf.png"
    result = elemgrad("plot", LOGPDF, "--range", "-3", "3", "--param", "mu=0.3", "--param", "s=1.5", "-o", str(path))
    assert result.returncode == 0, result.stderr
    assert "f, df/dx, d2f/dx2 over x" in result.stdout  # the default orders: 0 1 2
    assert_valid_png(path)
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left beside it


@pytest.mark.parametrize("suffix, start", [(".svg", b"<?xml"), (".pdf", b"%PDF")])
def test_plot_writes_svg_and_pdf_by_suffix(tmp_path, suffix, start):
    path = tmp_path / f"tanh2{suffix}"
    result = elemgrad("plot", "tanh(t)**2", "--range", "-2", "2", "--derivatives", "f", "t", "--points", "50",
                      "-o", str(path))
    assert result.returncode == 0, result.stderr
    assert path.read_bytes().startswith(start)


def test_plot_without_a_needed_param_exits_2_and_writes_nothing(tmp_path):
    path = tmp_path / "out.png"
    result = elemgrad("plot", LOGPDF, "--range", "-3", "3", "--param", "mu=0.3", "-o", str(path))
    assert_one_line_error(result, "--param", "give a value for s")
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("name", ["out.jpg", "out"])
def test_plot_refuses_other_suffixes(tmp_path, name):
    result = elemgrad("plot", "tanh(x)", "--range", "0", "1", "-o", str(tmp_path / name))
    assert_one_line_error(result, ".png, .svg or .pdf")
    assert not any(tmp_path.iterdir())


def test_a_failed_write_leaves_the_old_file_and_no_partial_one(tmp_path, monkeypatch, capsys):
    figure = pytest.importorskip("matplotlib.figure")

    def savefig(self, file, **options):
        file.write(PNG_SIGNATURE)
        raise OSError("No space left on device")

    monkeypatch.setattr(figure.Figure, "savefig", savefig)
    path = tmp_path / "out.png"
    path.write_bytes(b"the previous plot")
    assert cli.main(["plot", "tanh(x)", "--range", "0", "1", "-o", str(path)]) == 2
    assert "No space left on device" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [path] and path.read_bytes() == b"the previous plot"


def test_plot_without_matplotlib_says_how_to_install_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib fails, find_spec says None
    assert cli.main(["plot", "tanh(x)", "--range", "0", "1", "-o", str(tmp_path / "out.png")]) == 2
    assert "pip install 'elemgrad_gpu[plot]'" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_bench_prints_a_table_of_every_tool():
    result = elemgrad("bench", "--sizes", "1000", "5000", "--repeat", "3", "--functions", "tanh2", "logpdf")
    assert result.returncode == 0, result.stdout + result.stderr
    header, machine, *lines = result.stdout.splitlines()
    assert "median of 3 calls" in header and "elemgrad_gpu device:" in machine and "date:" in machine
    for peer, module in cli_bench.PEERS.items():
        assert (f"{peer}: not installed, left out" in lines) == (importlib.util.find_spec(module[0]) is None)
    rows = {tuple(line.split()[:3]): line.split()[3:] for line in lines if line.startswith(("tanh2", "logpdf"))}
    for function in ("tanh2", "logpdf"):
        for n in ("1,000", "5,000"):
            assert rows[function, n, "elemgrad_gpu"][1:] == ["1.00", "reference"]
            for tool in ("numpy", "pytensor"):
                assert rows[function, n, tool][-1] == "ok" and float(rows[function, n, tool][0]) > 0


def test_bench_draws_a_png(tmp_path):
    path = tmp_path / "bench.png"
    result = elemgrad("bench", "--sizes", "1000", "2000", "--repeat", "1", "--functions", "gelu", "-o", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert_valid_png(path)


def test_bench_marks_a_wrong_peer_and_exits_1(monkeypatch, capsys):
    tanh2 = cli_bench.FUNCTIONS["tanh2"]
    wrong = tanh2._replace(by_hand={1: lambda x: (np.tanh(x) ** 2, 2 * np.tanh(x))})  # forgot the chain rule
    monkeypatch.setitem(cli_bench.FUNCTIONS, "tanh2", wrong)
    monkeypatch.setattr(cli_bench, "PEERS", {})
    assert cli.main(["bench", "--functions", "tanh2", "--sizes", "100", "--repeat", "1"]) == 1
    out = capsys.readouterr()
    assert "numpy         " in out.out and "MISMATCH: derivative off by" in out.out
    assert "1 result(s) disagree" in out.err

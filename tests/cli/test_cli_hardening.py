"""The command line under hostile conditions, run as real processes: a full disk, a file size
limit, SIGTERM mid-run, damaged or odd input files and bad options. Each ends with exit status
2 (143 for SIGTERM) and one line of error, never a traceback or a signal death, and leaves no
file behind."""
import os
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from elemgrad_gpu.cli import common
from elemgrad_gpu.cli import main as cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))}
COMMAND = [sys.executable, "-m", "elemgrad_gpu"]


def elemgrad(*args, cwd, **options) -> subprocess.CompletedProcess:
    return subprocess.run([*COMMAND, *map(str, args)], cwd=cwd, env=ENV, capture_output=True, text=True,
                          timeout=300, **options)


def assert_one_line_error(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr[-3000:])
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines and lines[0].startswith("elemgrad"), result.stderr
    for word in words:
        assert word in lines[0], result.stderr


# A full disk, and a file size limit


def on_a_full_disk(tmp_path, *args: str) -> tuple[subprocess.CompletedProcess, list[str]]:
    """Run elemgrad with a 1 MiB tmpfs mounted on tmp_path/full, in a private mount namespace (the
    mount vanishes with the process, whatever happens); return the result and what is left there.

    As root, ``unshare --mount``; otherwise a user namespace maps us to root (``unshare -rm``)."""
    (tmp_path / "full").mkdir()
    inner = (f'mount -t tmpfs -o size=1m tmpfs full || exit 99; {shlex.join([*COMMAND, *args])}; '
             'status=$?; echo "LEFT:$(ls -A full | tr "\\n" " ")" >&2; exit $status')
    unshare = ["unshare", "--mount"] if os.geteuid() == 0 else ["unshare", "--map-root-user", "--mount"]
    assert shutil.which("unshare"), "util-linux unshare is needed to mount a small tmpfs"
    result = subprocess.run([*unshare, "sh", "-c", inner], cwd=tmp_path, env=ENV, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode != 99, f"could not mount a tmpfs: {result.stderr}"
    left = result.stderr.rsplit("LEFT:", 1)[1].split()
    result.stderr = result.stderr.rsplit("LEFT:", 1)[0]
    return result, left


@pytest.mark.parametrize("rows, suffix, orders", [
    (200_000, ".npy", ["0", "1"]),  # 3.2 MB of memory-mapped results: was SIGBUS (exit 135)
    (200_000, ".npz", ["0", "1"]),  # two 1.6 MB members: no room for the first
    (70_000, ".npz", ["0"]),        # the 560 kB member fits, the archive copied from it does not
    (200_000, ".csv", ["0"]),       # streamed text
])
def test_a_full_disk_is_one_line_of_error_and_leaves_nothing(tmp_path, rows, suffix, orders):
    np.save(tmp_path / "in.npy", np.linspace(0, 1, rows))
    result, left = on_a_full_disk(tmp_path, "eval", "sin(x)", "--input", "in.npy", "--output", f"full/out{suffix}",
                                  "--device", "cpu", "--chunk", "50000", "--order", *orders)
    assert_one_line_error(result, f"--output full/out{suffix}", "No space left on device")
    assert left == []  # no staging folder holding the space, no partial output


def test_the_same_run_with_room_succeeds(tmp_path):
    """The reservation does not change the results: the full-disk case with room to spare, against NumPy."""
    x = np.linspace(0, 1, 200_000)
    np.save(tmp_path / "in.npy", x)
    assert elemgrad("eval", "sin(x)", "--input", "in.npy", "--output", "out.npy", "--device", "cpu",
                    "--chunk", "50000", cwd=tmp_path).returncode == 0
    out = np.load(tmp_path / "out.npy")
    np.testing.assert_allclose(out, [np.sin(x), np.cos(x)], rtol=1e-15, atol=1e-15)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.npy", "out.npy"]


def limit_file_size():
    resource.setrlimit(resource.RLIMIT_FSIZE, (2 ** 20, 2 ** 20))


@pytest.mark.parametrize("suffix", [".npy", ".csv"])
def test_a_file_size_limit_is_one_line_of_error_not_sigxfsz(tmp_path, suffix):
    """ulimit -f: SIGXFSZ killed the process (exit 153 in a shell) and left the staging folder."""
    np.save(tmp_path / "in.npy", np.linspace(0, 1, 200_000))
    result = elemgrad("eval", "sin(x)", "--input", "in.npy", "--output", f"out{suffix}", "--device", "cpu",
                      cwd=tmp_path, preexec_fn=limit_file_size)
    assert_one_line_error(result, f"--output out{suffix}", "File too large")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.npy"]


# SIGTERM


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_sigterm_mid_run_removes_the_staging_folder_and_exits_143(tmp_path, signum):
    np.save(tmp_path / "in.npy", np.linspace(0, 1, 2_000_000))
    process = subprocess.Popen([*COMMAND, "eval", "sin(x)", "--input", "in.npy", "--output", "out.npy",
                                "--device", "cpu", "--chunk", "100"], cwd=tmp_path, env=ENV,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        while not list(tmp_path.glob(".elemgrad-eval-*/out.npy")):  # mid-run: the results are being written
            assert process.poll() is None and time.monotonic() < deadline, process.communicate()
            time.sleep(0.05)
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 128 + signum, stderr  # 143 for SIGTERM, 129 for SIGHUP
    assert "Traceback" not in stderr and f"stopped by {signal.Signals(signum).name}" in stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.npy"]


# Mistakes of the user's


def damaged_npz(path, shape=(10 ** 11,)) -> None:
    """A 300-byte .npz whose member's header claims ``shape`` float64 values."""
    import io
    import zipfile
    member = io.BytesIO()
    np.lib.format.write_array_header_1_0(member, {"descr": "<f8", "fortran_order": False, "shape": shape})
    member.write(bytes(64))
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("x.npy", member.getvalue())


def make_inputs(folder) -> None:
    damaged_npz(folder / "huge.npz")
    (folder / "latin1.csv").write_bytes("x\n1\n\xe9\n".encode("latin-1"))
    (folder / "long.csv").write_text("x\n" + "1" * (129 * 1024) + "\n")
    (folder / "nul.csv").write_bytes(b"x\n1\x00\n")
    (folder / "ok.csv").write_text("x\n1\n")
    (folder / "folder.npz").mkdir()
    (folder / "folder.png").mkdir()


BAD = [
    (["eval", "x", "--input", "huge.npz"], "claims shape (100000000000,)"),
    (["eval", "x", "--input", "latin1.csv"], "latin1.csv is not UTF-8 text"),
    (["eval", "x", "--input", "long.csv"], "field larger than field limit"),
    (["eval", "x", "--input", "nul.csv"], "nul.csv"),
    (["eval", "x", "--input", "missing.csv"], "No such file"),
    (["eval", "x", "--input", "folder.npz"], "Is a directory"),
    (["eval", "x", "--input", "ok.csv", "--output", "folder.npz"], "folder.npz is a folder"),
    (["eval", "x", "--input", "ok.csv", "--output", "nowhere/out.npz"], "does not exist"),
    (["eval", "x", "--input", "ok.csv", "--output", "out.txt"], "must end in .npy, .npz, .csv"),
    (["eval", "x", "--input", "ok.csv", "--param", "mu=abc"], "expected NAME=NUMBER"),
    (["eval", "x", "--input", "ok.csv", "--chunk", "0"], "expected a positive integer"),
    (["eval", "x", "--input", "ok.csv", "--device", "tpu"], "unknown device 'tpu'"),
    (["eval", "x #+ y", "--input", "ok.csv"], "'#' is not allowed"),
    (["plot", "x", "--range", "0", "1", "--points", "1e8", "-o", "p.png"], "--points must be from 2 to 100,000"),
    (["plot", "x", "--range", "0", "inf", "-o", "p.png"], "--range A B needs finite A < B"),
    (["plot", "exp(x)", "--range", "0", "1000", "-o", "p.png"], "matplotlib cannot draw this figure"),
    (["plot", "x # $\\foo{$", "--range", "0", "1", "-o", "p.png"], "'#' is not allowed"),
    (["plot", "x", "--range", "0", "1", "-o", "folder.png"], "it is a folder"),
    (["plot", "x", "--range", "0", "1", "-o", "nowhere/p.png"], "there is no folder"),
    (["plot", "x", "--range", "0", "1", "-o", "p.jpg"], "use a .png, .svg or .pdf"),
    (["bench", "--sizes", "1e12", "--functions", "tanh2"], "--sizes 1,000,000,000,000 needs about"),
    (["bench", "--sizes", "1e-3"], "expected a positive integer"),
    (["derive", "x", "--order", "1000"], "orders must be integers from 0 to 8"),
]


@pytest.mark.parametrize("args, message", BAD, ids=[" ".join(args)[:60] for args, _ in BAD])
def test_a_mistake_is_one_line_of_error_exit_2_and_leaves_nothing(tmp_path, args, message):
    make_inputs(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    assert_one_line_error(elemgrad(*args, cwd=tmp_path), message)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_a_plot_title_is_shown_as_written_not_as_mathtext(tmp_path, monkeypatch):
    """matplotlib read '$...$' in the title as mathtext and raised on '\\foo' (a traceback when
    '#' comments let such text through the parser); now the text is drawn literally."""
    pytest.importorskip("matplotlib")
    from elemgrad_gpu.cli import plot as cli_plot
    compile_from = cli_plot.compile_from

    def compile_x(args, **options):  # the figure of x, under a title the parser would refuse
        args.expression, text = "x", args.expression
        try:
            return compile_from(args, **options)
        finally:
            args.expression = text

    monkeypatch.setattr(cli_plot, "compile_from", compile_x)
    path = tmp_path / "p.svg"
    assert cli.main(["plot", "x $\\foo{$", "--range", "0", "1", "-o", str(path)]) == 0
    assert "x $\\foo{$" in path.read_text()  # the title as text in the SVG


@pytest.mark.parametrize("text, value", [("1000", 1000), ("1e6", 10 ** 6), ("1_000", 1000), ("2.0E3", 2000)])
def test_counts_may_be_written_as_powers_of_ten(text, value):
    assert common.positive(text) == value


@pytest.mark.parametrize("text", ["0", "-1", "1.5", "1e-3", "inf", "nan", "ten", ""])
def test_counts_refuse_what_is_not_a_positive_integer(text):
    with pytest.raises(Exception, match="expected a positive integer"):
        common.positive(text)

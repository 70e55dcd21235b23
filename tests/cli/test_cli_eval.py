"""``elemgrad eval`` run as a user would: real files in, real files out, errors as one line."""
import subprocess
import sys

import numpy as np
import pytest

import elemgrad_gpu as eg

GAUSSIAN = "-(x - mu)**2/(2*s**2) - log(s)"


def elemgrad_eval(*args, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "elemgrad_gpu", "eval", *map(str, args), "--device", "cpu"],
                          cwd=cwd, capture_output=True, text=True, timeout=300)


def ok(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, result.stderr
    return result


def one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    return result.stderr


def sech2(x):
    return 1 / np.cosh(x) ** 2


def test_npz_to_npz_matches_the_closed_form(tmp_path):
    x = np.linspace(-3, 3, 101)
    np.savez(tmp_path / "in.npz", x=x)
    ok(elemgrad_eval("tanh(x)**2", "--input", "in.npz", "--order", "0", "1", "2", "--output", "out.npz", cwd=tmp_path))
    with np.load(tmp_path / "out.npz") as out:
        assert out.files == ["f", "df_dx", "d2f_dx2"]
        np.testing.assert_allclose(out["f"], np.tanh(x) ** 2, rtol=1e-14)
        np.testing.assert_allclose(out["df_dx"], 2 * np.tanh(x) * sech2(x), rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(out["d2f_dx2"], 2 * sech2(x) ** 2 - 4 * np.tanh(x) ** 2 * sech2(x), atol=1e-14)


def test_gaussian_log_density_with_params_and_mixed_partials(tmp_path):
    x = np.linspace(-4, 4, 57)
    np.savez(tmp_path / "in.npz", x=x)
    ok(elemgrad_eval(GAUSSIAN, "--input", "in.npz", "--param", "mu=0.5", "--param", "s=2",
                     "--derivatives", "f", "x", "mu", "x,mu", "s", "--output", "out.npz", cwd=tmp_path))
    mu, s = 0.5, 2.0
    with np.load(tmp_path / "out.npz") as out:
        assert out.files == ["f", "df_dx", "df_dmu", "d2f_dx_dmu", "df_ds"]
        np.testing.assert_allclose(out["f"], -(x - mu) ** 2 / (2 * s ** 2) - np.log(s), rtol=1e-14)
        np.testing.assert_allclose(out["df_dx"], -(x - mu) / s ** 2, rtol=1e-14)
        np.testing.assert_allclose(out["df_dmu"], (x - mu) / s ** 2, rtol=1e-14)
        np.testing.assert_allclose(out["d2f_dx_dmu"], np.full_like(x, 1 / s ** 2), rtol=1e-14)
        np.testing.assert_allclose(out["df_ds"], (x - mu) ** 2 / s ** 3 - 1 / s, rtol=1e-14)


@pytest.mark.parametrize("dtype, text", [("float64", "%.17g"), ("float32", "%.9g")])
def test_csv_to_csv_round_trips_exactly(tmp_path, dtype, text):
    x, mu = np.linspace(-2, 2, 41), np.linspace(0, 1, 41)
    np.savetxt(tmp_path / "in.csv", np.c_[x, mu], delimiter=",", header="x, mu", comments="", fmt="%.17g")
    ok(elemgrad_eval("sin(x)*exp(mu)", "--input", "in.csv", "--wrt", "x,mu", "--dtype", dtype,
                     "--output", "out.csv", cwd=tmp_path))
    lines = (tmp_path / "out.csv").read_text().splitlines()
    assert lines[0] == "x,mu,f,df_dx,df_dmu"
    table = np.loadtxt(lines[1:], delimiter=",")
    np.testing.assert_array_equal(table[:, 0], x)
    np.testing.assert_array_equal(table[:, 1], mu)
    expected = eg.compile("sin(x)*exp(mu)", wrt=("x", "mu"), orders=(0, 1), device="cpu", dtype=dtype)(x=x, mu=mu)
    for column, want in zip(table[:, 2:].T, expected):
        np.testing.assert_array_equal(column.astype(dtype), want)
    assert float(lines[1].split(",")[2]) == float(text % expected[0][0])
    np.testing.assert_allclose(expected[1], np.cos(x) * np.exp(mu), rtol=1e-6 if dtype == "float32" else 1e-14)


def test_npy_to_npy_one_result_or_several_stacked(tmp_path):
    x = np.linspace(-3, 3, 64).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    before = (tmp_path / "x.npy").read_bytes()
    ok(elemgrad_eval("x*exp(-a*x)", "--input", "x.npy", "--param", "a=0.5", "--order", "0", "1", "2",
                     "--output", "all.npy", cwd=tmp_path))
    stacked = np.load(tmp_path / "all.npy")
    assert stacked.shape == (3, 64) and stacked.dtype == np.float32
    e = np.exp(-0.5 * x.astype(np.float64))
    np.testing.assert_allclose(stacked, [x * e, (1 - 0.5 * x) * e, (0.25 * x - 1) * e], rtol=1e-5, atol=1e-6)
    ok(elemgrad_eval("x*exp(-a*x)", "--input", "x.npy", "--param", "a=0.5", "--order", "1", "--output", "one.npy",
                     cwd=tmp_path))
    np.testing.assert_array_equal(np.load(tmp_path / "one.npy"), stacked[1])
    assert (tmp_path / "x.npy").read_bytes() == before


@pytest.mark.parametrize("suffix", [".npz", ".npy", ".csv"])
def test_chunked_equals_unchunked(tmp_path, suffix):
    x = np.random.default_rng(0).normal(size=10_000)
    np.savez(tmp_path / "in.npz", x=x)
    np.save(tmp_path / "in.npy", x)
    np.savetxt(tmp_path / "in.csv", x, header="x", comments="", fmt="%.17g")
    for chunk in (1000, 1 << 20):
        ok(elemgrad_eval("log1p(exp(x))", "--input", f"in{suffix}", "--order", "0", "1", "2", "--chunk", chunk,
                         "--output", f"out{chunk}.npz", cwd=tmp_path))
    with np.load(tmp_path / "out1000.npz") as chunked, np.load(tmp_path / f"out{1 << 20}.npz") as whole:
        for key in ("f", "df_dx", "d2f_dx2"):
            assert chunked[key].shape == (10_000,)
            np.testing.assert_array_equal(chunked[key], whole[key])
        np.testing.assert_allclose(whole["df_dx"], 1 / (1 + np.exp(-x)), rtol=1e-14)


def test_chunks_of_a_2d_grid_broadcast_like_numpy(tmp_path):
    x, y = np.linspace(0, 1, 30)[:, None] * np.ones(20), np.linspace(1, 2, 20)
    np.savez(tmp_path / "in.npz", x=x, y=y)
    ok(elemgrad_eval("x*y**2", "--input", "in.npz", "--wrt", "x,y", "--chunk", 7, "--output", "out.npz", cwd=tmp_path))
    with np.load(tmp_path / "out.npz") as out:
        np.testing.assert_array_equal(out["f"], x * y ** 2)
        np.testing.assert_array_equal(out["df_dx"], np.broadcast_to(y ** 2, x.shape))
        np.testing.assert_array_equal(out["df_dy"], 2 * x * y)


def test_without_output_a_summary_is_printed(tmp_path):
    np.savez(tmp_path / "in.npz", x=np.array([0.0, 1.0, 2.0]))
    result = ok(elemgrad_eval("x**2", "--input", "in.npz", cwd=tmp_path))
    header, value, slope = (line.split() for line in result.stdout.splitlines())
    assert header == ["result", "shape", "dtype", "min", "max", "mean"]
    assert value == ["f", "(3,)", "float64", "0", "4", "1.66667"]
    assert slope == ["df/dx", "(3,)", "float64", "0", "4", "2"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.npz"]


def test_a_bad_expression_shows_a_caret(tmp_path):
    np.savez(tmp_path / "in.npz", x=np.zeros(3))
    result = elemgrad_eval("tanh(x", "--input", "in.npz", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1].strip() == "^"


@pytest.mark.parametrize("args, message", [
    (["x*mu", "--input", "in.npz"], "missing input 'mu'"),
    (["x", "--input", "extra.csv"], "'z', which the expression does not use"),
    (["x", "--input", "nowhere.npz"], "No such file"),
    (["x*mu", "--input", "in.npz", "--param", "x=1"], "'x' given both in in.npz and by --param"),
    (["x*mu", "--input", "in.npz", "--param", "mu=1", "--param", "mu=2"], "--param 'mu' given more than once"),
    (["x*mu", "--input", "in.npz", "--param", "nu=1"], "--param names 'nu', which is not an input"),
    (["x*mu", "--input", "in.npy"], "a .npy file holds one array"),
    (["x", "--input", "bad.csv"], "bad.csv row 2: 'oops' is not a number"),
    (["x", "--input", "in.txt"], "must end in .npy, .npz, .csv"),
    (["x", "--input", "in.npz", "--output", "in.npz"], "is the input file"),
    (["x", "--input", "grid.npz", "--output", "out.csv"], "a CSV file holds one point per row"),
    (["x", "--input", "in.npz", "--derivatives", "x", "x"], "'df_dx' given more than once"),
])
def test_usage_errors_are_one_line(tmp_path, args, message):
    np.savez(tmp_path / "in.npz", x=np.zeros(3))
    np.save(tmp_path / "in.npy", np.zeros(3))
    np.savez(tmp_path / "grid.npz", x=np.zeros((2, 3)))
    (tmp_path / "extra.csv").write_text("x,z\n1,2\n")
    (tmp_path / "bad.csv").write_text("x\n1\noops\n")
    before = sorted(p.name for p in tmp_path.iterdir())
    assert message in one_line_error(elemgrad_eval(*args, cwd=tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_an_output_folder_that_does_not_exist(tmp_path):
    np.savez(tmp_path / "in.npz", x=np.zeros(3))
    assert "does not exist" in one_line_error(elemgrad_eval("x", "--input", "in.npz", "--output", "no/out.npz",
                                                            cwd=tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.npz"]


FAILING = """
import sys
from elemgrad_gpu.cli import main as cli
from elemgrad_gpu.runtime.function import ElementwiseFunction

call, calls = ElementwiseFunction.__call__, []

def fail_on_the_third_chunk(self, *args, **kwargs):
    calls.append(1)
    if len(calls) == 3:
        raise {error}
    return call(self, *args, **kwargs)

ElementwiseFunction.__call__ = fail_on_the_third_chunk
sys.exit(cli.main(sys.argv[1:]))
"""


@pytest.mark.parametrize("suffix", [".npz", ".npy", ".csv"])
@pytest.mark.parametrize("error, code", [("KeyboardInterrupt", 130), ("OSError('No space left on device')", 2)])
def test_a_failure_midway_leaves_no_output_and_no_temporary_files(tmp_path, suffix, error, code):
    np.save(tmp_path / "in.npy", np.linspace(0, 1, 5000))
    previous = tmp_path / f"out{suffix}"
    previous.write_text("the previous results")
    result = subprocess.run([sys.executable, "-c", FAILING.format(error=error), "eval", "sin(x)", "--input", "in.npy",
                             "--chunk", "1000", "--output", previous.name, "--device", "cpu"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["in.npy", previous.name])
    assert previous.read_text() == "the previous results"

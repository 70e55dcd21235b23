"""The elemgrad command, run as a user would: derive, kernel, devices, demo, help, errors."""
import subprocess
import sys

import numpy as np
import pytest

SUBCOMMANDS = ("demo", "derive", "eval", "kernel", "devices", "plot", "bench")


def elemgrad(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "elemgrad_gpu", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_derive_prints_formulas_that_match_the_closed_form():
    result = elemgrad("derive", "tanh(x)**2", "--order", "0", "1")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "f = tanh(x)**2"
    name, formula = lines[1].split(" = ")
    assert name == "df/dx"
    x = np.linspace(-2, 2, 9)
    value = eval(formula, {"tanh": np.tanh, "x": x})  # noqa: S307 - our own printed formula, in a test
    np.testing.assert_allclose(value, 2 * np.tanh(x) / np.cosh(x) ** 2, rtol=1e-14)


def test_derive_mixed_partials():
    result = elemgrad("derive", "x*mu**2", "--derivatives", "f", "x", "x,mu", "mu,mu")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["f = x*mu**2", "df/dx = mu**2", "d2f/dx dmu = 2*mu", "d2f/dmu2 = 2*x"]


def test_kernel_prints_c_and_cuda_source():
    c = elemgrad("kernel", "sigmoid(x)")
    assert c.returncode == 0 and "PyUFunc_FromFuncAndData" in c.stdout
    cuda = elemgrad("kernel", "sigmoid(x)", "--backend", "cuda", "--dtype", "float32")
    assert cuda.returncode == 0 and "__global__" in cuda.stdout and "typedef float eg_real" in cuda.stdout


def test_devices_says_what_auto_picks_and_why(tmp_path):
    rc = tmp_path / "rc"
    rc.write_text("[global]\nfloatX = float32\n")
    result = subprocess.run([sys.executable, "-m", "elemgrad_gpu", "devices"], capture_output=True, text=True,
                            env={"THEANORC": str(rc), "THEANO_FLAGS": "device=cpu", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert "cpu      backend c     available" in result.stdout
    assert "device='auto' picks: cpu" in result.stdout
    assert f"THEANORC file {rc}" in result.stdout and "THEANO_FLAGS=device=cpu" in result.stdout
    assert "[global] floatX = float32" in result.stdout


def test_demo_is_what_a_bare_elemgrad_runs():
    result = elemgrad(timeout=600)
    assert result.returncode == 0, result.stderr
    assert "max error vs closed form" in result.stdout and "full Jacobian" in result.stdout
    assert "NotElementwiseError" in result.stdout


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_every_subcommand_has_help_with_an_example(command):
    result = elemgrad(command, "--help")
    assert result.returncode == 0 and "example:" in result.stdout and "elemgrad " + command in result.stdout


@pytest.mark.parametrize("args, message", [
    (("derive",), "the following arguments are required: expression"),
    (("derive", "x", "--order", "one"), "invalid int value"),
    (("frobnicate",), "invalid choice"),
    (("derive", "cumsum(x)"), "unknown function 'cumsum'"),
    (("derive", "x +* 2"), "syntax"),
    (("kernel", "x", "--backend", "opencl"), "invalid choice"),
])
def test_usage_errors_exit_2_with_one_line_and_no_traceback(args, message):
    result = elemgrad(*args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert message in result.stderr


def test_a_bad_expression_shows_a_caret():
    result = elemgrad("derive", "sin(x) + x.real")
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    caret = next(line for line in lines if line.strip() == "^")
    assert caret.index("^") - 4 == len("sin(x) + ")  # under the attribute access

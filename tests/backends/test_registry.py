"""The backend registry: a backend is one registered class, found by its device names;
configuration, the command line and devices() read the registry.

A test backend registered here (the C backend under another name and device) runs
through ``eg.compile(..., device=...)`` like a shipped one.
"""
import subprocess
import sys

import numpy as np
import pytest

import elemgrad_gpu as eg
from elemgrad_gpu import backends
from elemgrad_gpu.backends.c.backend import CBackend
from elemgrad_gpu.cli import main as cli


class RenamedC(CBackend):
    """The C backend under another name: what a new backend owes, and nothing more."""

    name = "c_renamed"


@pytest.fixture
def renamed(monkeypatch):
    monkeypatch.delenv("THEANO_FLAGS", raising=False)
    monkeypatch.setenv("THEANORC", "")
    backends.register("c_renamed", f"{__name__}:RenamedC", device="renamedcpu", detail="the C kernel, renamed")
    yield
    backends.unregister("c_renamed")


def test_a_registered_backend_runs_through_compile(renamed):
    fn = eg.compile("tanh(x)**2", orders=(0, 1), device="renamedcpu")
    assert fn.device == "renamedcpu" and fn.backend == "c_renamed"
    x = np.linspace(-2, 2, 7)
    value, slope = fn(x)
    np.testing.assert_allclose(value, np.tanh(x) ** 2, rtol=1e-14)
    np.testing.assert_allclose(slope, 2 * np.tanh(x) / np.cosh(x) ** 2, rtol=1e-13, atol=1e-300)
    assert "eg_block" in fn.source("c_renamed") or "kernel" in fn.source("c_renamed")
    assert {"device": "renamedcpu", "backend": "c_renamed", "available": True,
            "detail": "the C kernel, renamed"} in eg.devices()


def test_configuration_and_command_line_read_the_registry(renamed, monkeypatch, capsys):
    monkeypatch.setenv("THEANO_FLAGS", "device=renamedcpu")
    fn = eg.compile("x * 3")
    assert fn.device == "renamedcpu" and np.allclose(fn(np.array([1.5])), 3.0)  # d(3x)/dx
    assert cli.main(["kernel", "sin(x)", "--backend", "c_renamed"]) == 0
    assert "eg_" in capsys.readouterr().out
    monkeypatch.setenv("THEANO_FLAGS", "device=tpu")
    with pytest.raises(eg.ConfigError, match="expected auto, cpu, cuda, cuda:N or renamedcpu"):
        eg.compile("x * 3")


def test_unknown_names_list_what_the_registry_has(renamed):
    with pytest.raises(eg.DeviceError, match="use 'auto', 'cpu', 'cuda', 'cuda:N' or 'renamedcpu'"):
        eg.compile("x", device="tpu")
    with pytest.raises(eg.DeviceError, match="available backends are c, cuda and c_renamed"):
        eg.compile("x", device="cpu").source("rocm")


def test_registering_refuses_a_taken_device_name():
    with pytest.raises(ValueError, match="taken"):
        backends.register("other", "somewhere:Other", device="cpu")
    assert backends.names()[:2] == ("c", "cuda")


def test_device_names_are_parsed_once_by_the_registry():
    parsed = {text: backends.parse_device(text) for text in ("cpu", "cuda", "cuda:3", "gpu", "gpu2", "cuda1")}
    assert {t: (p.entry.name, p.text) for t, p in parsed.items()} == {
        "cpu": ("c", "cpu"), "cuda": ("cuda", "cuda:0"), "cuda:3": ("cuda", "cuda:3"), "gpu": ("cuda", "cuda:0"),
        "gpu2": ("cuda", "cuda:2"), "cuda1": ("cuda", "cuda:1")}
    assert backends.parse_device("auto") is None


def test_a_backend_module_is_imported_on_first_use():
    script = ("import sys, numpy as np, elemgrad_gpu as eg; eg.compile('x*2', device='cpu')(np.ones(2)); "
              "print('elemgrad_gpu.backends.cuda.backend' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"

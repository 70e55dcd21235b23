"""errors.py holds every error class, and a failure says whose it is: the caller's, this
machine's (compiler, cache) or elemgrad_gpu's own (a bug to report)."""
import inspect
import sys

import numpy as np
import pytest

import elemgrad_gpu as eg
from elemgrad_gpu import cache, errors
from elemgrad_gpu.backends.c import compile as ccompile


def test_every_error_class_of_the_library_is_defined_in_errors_py():
    import elemgrad_gpu.cli.main  # noqa: F401 - the command line's errors too
    import elemgrad_gpu.runtime.function  # noqa: F401

    for name, module in list(sys.modules.items()):
        if not name.startswith("elemgrad_gpu") or module is None:
            continue
        for _, kind in inspect.getmembers(module, inspect.isclass):
            if issubclass(kind, Exception) and kind.__module__.startswith("elemgrad_gpu"):
                assert kind.__module__ == "elemgrad_gpu.errors", f"{kind.__name__} is defined in {kind.__module__}"


def test_every_public_error_is_exported():
    for name, kind in inspect.getmembers(errors, inspect.isclass):
        if issubclass(kind, eg.ElemgradError) and name != "UsageError":
            assert getattr(eg, name) is kind, name


def test_machine_failures_are_compile_errors_but_not_bugs():
    for kind in (eg.ToolchainError, eg.CacheError):
        assert issubclass(kind, eg.CompileError) and not issubclass(kind, eg.InternalError)
    assert issubclass(eg.GeneratedCodeError, eg.CompileError) and issubclass(eg.GeneratedCodeError, eg.InternalError)


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("THEANO_FLAGS", f"elemgrad__cache_dir={tmp_path}")
    cache.forget()
    ccompile._version.cache_clear()
    yield tmp_path
    cache.forget()
    ccompile._version.cache_clear()


def test_a_missing_compiler_is_a_toolchain_error_naming_it(fresh_cache, monkeypatch):
    monkeypatch.setenv("THEANO_FLAGS", f"elemgrad__cache_dir={fresh_cache},elemgrad__cc=/nonexistent/eg-cc")
    with pytest.raises(eg.ToolchainError, match="no working C compiler.*/nonexistent/eg-cc") as caught:
        eg.compile("sinh(x) * 2.5625", device="cpu")(np.array([0.5]))
    assert not isinstance(caught.value, eg.InternalError)


def test_a_full_disk_is_a_cache_error_not_a_bug(fresh_cache, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ccompile.os, "replace", full)
    with pytest.raises(eg.CacheError, match="no space left") as caught:
        eg.compile("sinh(x) * 2.6875", device="cpu")(np.array([0.5]))
    assert not isinstance(caught.value, eg.InternalError)


def test_generated_code_the_compiler_refuses_is_a_bug_to_report(fresh_cache):
    with pytest.raises(eg.GeneratedCodeError, match="a bug: please report it") as caught:
        ccompile.load("this is not C;\n")
    assert isinstance(caught.value, eg.InternalError) and isinstance(caught.value, eg.CompileError)

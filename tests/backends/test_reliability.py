"""Cache faults and concurrency: damaged entries are rebuilt, races leave a sound cache."""
import concurrent.futures
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import elemgrad_gpu as eg
from elemgrad_gpu import cache
from elemgrad_gpu.backends.c import compile as ccompile

SCRIPT = """
import logging, sys, numpy as np, elemgrad_gpu as eg
logging.basicConfig(level=logging.DEBUG, format="%(message)s")
fn = eg.compile(sys.argv[1], orders=(0, 1))
print(repr(float(fn(np.array([0.7]))[1][0])))
"""


def run(cache, expression):
    env = dict(os.environ, THEANO_FLAGS=f"elemgrad__cache_dir={cache}")
    return subprocess.run([sys.executable, "-c", SCRIPT, expression], env=env, capture_output=True, text=True,
                          timeout=300)


def entries(cache):
    return sorted((cache / "c").glob("eg_*.so")), sorted((cache / "c").glob("eg_*.sha256"))


@pytest.mark.parametrize("damage", ["truncate", "garbage", "digest"])
def test_a_damaged_cache_entry_is_rebuilt_not_loaded(tmp_path, damage):
    expression = "cosh(x)**2 * 1.0625"
    first = run(tmp_path, expression)
    assert first.returncode == 0, first.stderr
    (library,), (digest,) = entries(tmp_path)
    data = library.read_bytes()
    if damage == "truncate":
        library.write_bytes(data[: len(data) // 3])
    elif damage == "garbage":
        library.write_bytes(bytes(len(data)))
    else:
        digest.write_text("0" * 64)
    second = run(tmp_path, expression)
    assert second.returncode == 0, second.stderr
    assert "is damaged; rebuilding" in second.stderr and "compiled kernel" in second.stderr
    assert second.stdout == first.stdout
    assert float(second.stdout) == pytest.approx(2 * np.cosh(0.7) * np.sinh(0.7) * 1.0625, rel=1e-14)
    assert ccompile._intact(library)


def test_an_unwritable_cache_directory_falls_back_to_a_temporary_one(tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the cache directory should be")
    monkeypatch.setenv("THEANO_FLAGS", f"elemgrad__cache_dir={blocker / 'cache'}")
    cache.forget()
    with pytest.warns(RuntimeWarning, match="cannot write the kernel cache .* using .*elemgrad_gpu-"):
        fn = eg.compile("sinh(x) * 2.375", device="cpu")
        np.testing.assert_allclose(fn(np.array([0.5])), 2.375 * np.cosh(0.5), rtol=1e-15)
    assert blocker.read_text().startswith("a file")


def test_a_full_disk_gives_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("THEANO_FLAGS", f"elemgrad__cache_dir={tmp_path}")
    cache.forget()

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ccompile.os, "replace", full)
    with pytest.raises(eg.CompileError, match="no space left on the disk of the kernel cache"):
        eg.compile("sinh(x) * 2.4375", device="cpu")(np.array([0.5]))
    assert not list(tmp_path.rglob("eg_*"))  # nothing half-written left behind


def test_eight_threads_compile_once_and_all_get_the_right_numbers(monkeypatch, tmp_path):
    monkeypatch.setenv("THEANO_FLAGS", f"elemgrad__cache_dir={tmp_path}")
    cache.forget()
    builds = []
    real_build = ccompile._build
    monkeypatch.setattr(ccompile, "_build", lambda *a: builds.append(a[1]) or real_build(*a))
    fn = eg.compile("tanh(x)**2 * 1.125 + x", orders=(0, 1), device="cpu")
    start = threading.Barrier(8)
    x = np.linspace(-2, 2, 100_001)

    def call(k):
        start.wait()
        return fn(x + k)[1]

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(call, range(8)))
    for k, slope in enumerate(results):
        t = np.tanh(x + k)
        np.testing.assert_allclose(slope, 2.25 * t * (1 - t * t) + 1, rtol=1e-13)
    assert len(builds) == 1


def test_two_processes_compiling_the_same_new_expression_both_succeed(tmp_path):
    expression = "sinh(x)**3 * 1.03125"
    env = dict(os.environ, THEANO_FLAGS=f"elemgrad__cache_dir={tmp_path}")
    processes = [subprocess.Popen([sys.executable, "-c", SCRIPT, expression], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=300) for p in processes]
    assert all(p.returncode == 0 for p in processes), outputs
    assert outputs[0][0] == outputs[1][0]
    libraries, digests = entries(tmp_path)
    assert len(libraries) == len(digests) == 1 and ccompile._intact(libraries[0])
    assert not [p for p in (tmp_path / "c").iterdir() if p.is_dir()]  # no temporary build folders left
    third = run(tmp_path, expression)
    assert "loading cached kernel" in third.stderr and "compiled kernel" not in third.stderr


def _child_slope(n: int) -> float:
    return float(eg.compile("tanh(x)**2", orders=(0, 1), device="cpu")(np.linspace(-3, 3, n))[1].sum())


def test_large_arrays_use_threads_and_forked_children_do_not_hang():
    import multiprocessing

    n = 2 ** 20 + 3  # above the threading threshold, not a multiple of the block
    x = np.linspace(-3, 3, n)
    fn = eg.compile("tanh(x)**2", orders=(0, 1), device="cpu")
    slope = fn(x)[1]
    t = np.tanh(x)
    np.testing.assert_allclose(slope, 2 * t * (1 - t * t), rtol=0, atol=1e-12)  # scaled by max(1, |ref|) = 1
    halves = np.concatenate([fn(x[: n // 2])[1], fn(x[n // 2:])[1]])  # different splits, same numbers
    np.testing.assert_array_equal(np.sort(halves), np.sort(slope))
    with multiprocessing.get_context("fork").Pool(1) as pool:  # the parent has run threads already
        assert pool.apply_async(_child_slope, (n,)).get(timeout=120) == pytest.approx(float(slope.sum()), rel=1e-12)

"""Kernels are cached on disk and reused by later processes; no full-size temporaries."""
import os
import subprocess
import sys
import tracemalloc

import numpy as np

import elemgrad_gpu as eg

SCRIPT = """
import logging, numpy as np, elemgrad_gpu as eg
logging.basicConfig(level=logging.DEBUG, format="%(message)s")
print(eg.compile("sinh(x) * 7.25 + cosh(x)**3", orders=(0, 1))(np.array([0.5]))[1][0])
"""


def run_in_new_process(cache):
    env = dict(os.environ, THEANO_FLAGS=f"elemgrad__cache_dir={cache}")
    return subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=True)


def test_a_later_process_loads_the_compiled_kernel_from_disk(tmp_path):
    first = run_in_new_process(tmp_path)
    assert "compiled kernel" in first.stderr
    libraries = sorted((tmp_path / "c").glob("*.so"))
    assert len(libraries) == 1
    stamp = libraries[0].stat().st_mtime_ns
    second = run_in_new_process(tmp_path)
    assert "loading cached kernel" in second.stderr and "compiled kernel" not in second.stderr
    assert libraries[0].stat().st_mtime_ns == stamp
    expected = 7.25 * np.cosh(0.5) + 3 * np.cosh(0.5) ** 2 * np.sinh(0.5)
    assert float(first.stdout) == float(second.stdout) and abs(float(first.stdout) - expected) < 1e-12 * expected


def test_no_full_size_temporaries_beyond_the_outputs():
    n = 10 ** 7
    xs = np.linspace(-3, 3, n)
    fn = eg.compile(lambda x, mu: eg.exp(-(x - mu) ** 2) * eg.tanh(x), derivatives=[(), ("x",), ("mu",)])
    fn(xs[:10], 0.5)  # compile outside the measurement
    tracemalloc.start()
    try:
        outputs = fn(xs, 0.5)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    output_bytes = sum(o.nbytes for o in outputs)
    assert output_bytes == 3 * 8 * n
    assert peak < output_bytes + n  # far less than one more full-size array (8n bytes)

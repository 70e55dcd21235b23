"""The out-of-core run of docs/SCALING.md (issue 18): an input larger than memory for ``elemgrad eval --chunks``.

``make PATH [N]``: a float32 .npy of N elements (default 2*10^9, 8 GB), uniform on [-4, 4],
written 10^7 elements at a time (never whole in memory).
``check INPUT OUTPUT``: ten chunks of 10^7 rows of OUTPUT (the stacked f and df/dx of
``elemgrad eval 'tanh(x)**2' --order 0 1``), the first, the last and eight at random, compared
bit for bit with the in-memory call of the compiled function, and the relative error of that
call against NumPy in float64 (f = tanh(x)^2, df/dx = 2 tanh(x) / cosh(x)^2).

The run itself, measured with ``/usr/bin/time -v`` (the command is in docs/SCALING.md). Not in CI.
"""
import sys

import numpy as np

CHUNK = 10 ** 7


def make(path: str, n: int = 2 * 10 ** 9) -> None:
    rng = np.random.default_rng(2026)
    with open(path, "wb") as handle:
        np.lib.format.write_array_header_1_0(handle, {"descr": "<f4", "fortran_order": False, "shape": (n,)})
        for start in range(0, n, CHUNK):
            block = rng.random(min(CHUNK, n - start), dtype=np.float32)
            block *= 8
            block -= 4
            handle.write(block.tobytes())


def check(input_path: str, output_path: str) -> None:
    import elemgrad_gpu as eg

    fn = eg.compile("tanh(x)**2", orders=(0, 1), device="cpu")
    x, out = np.load(input_path, mmap_mode="r"), np.load(output_path, mmap_mode="r")
    assert out.shape == (2, x.size) and out.dtype == np.float32, (out.shape, out.dtype)
    picked = np.random.default_rng(7).integers(0, x.size // CHUNK, 8) * CHUNK
    starts = sorted({0, x.size - CHUNK, *map(int, picked)})
    same, worst = True, [0.0, 0.0]
    for start in starts:
        chunk = np.array(x[start:start + CHUNK])
        ours = fn(chunk)
        same &= all(np.array_equal(out[k, start:start + CHUNK], ours[k]) for k in range(2))
        wide = chunk.astype(np.float64)
        for k, reference in enumerate((np.tanh(wide) ** 2, 2 * np.tanh(wide) / np.cosh(wide) ** 2)):
            nonzero = reference != 0
            error = np.abs(ours[k][nonzero] - reference[nonzero]) / np.abs(reference[nonzero])
            worst[k] = max(worst[k], float(error.max()))
    print(f"rows {starts}: bitwise equal to the in-memory call: {same}; "
          f"worst relative error against float64 NumPy: f {worst[0]:.3g}, df/dx {worst[1]:.3g}")


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2], *map(int, sys.argv[3:]))
    else:
        check(sys.argv[2], sys.argv[3])

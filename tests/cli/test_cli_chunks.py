"""``elemgrad eval --chunks N`` out of core: .npy memory maps and Zarr stores read chunk by chunk,
.npy and Zarr results written whole or not at all, and ``--scheduler`` running the chunks on a
Dask cluster. Values are compared with the in-memory call of the compiled function (itself
checked against closed forms in tests/cli/test_cli_eval.py). Bounded memory: the .npy files
are mapped a chunk at a time (checked on /proc/self/maps, Linux), measured on an 8 GB input
once (docs/SCALING.md)."""
import os

import numpy as np
import pytest
import zarr
from dask.distributed import LocalCluster

import elemgrad_gpu as eg
from elemgrad_gpu.cli import eval as cli_eval
from elemgrad_gpu.cli import outofcore
from elemgrad_gpu.cli.main import main
from test_cli_eval import elemgrad_eval, ok, one_line_error  # tests/cli is on sys.path (no __init__.py)

EXPRESSION = "log1p(exp(x - mu)) * tanh(x)"


@pytest.fixture(scope="module")
def fn():
    return eg.compile(EXPRESSION, orders=(0, 1, 2), device="cpu")


@pytest.fixture(scope="module")
def x():
    return np.random.default_rng(18).normal(scale=3, size=10_007)


def leftovers(folder) -> list[str]:
    return sorted(name for name in os.listdir(folder) if name.startswith((".elemgrad", "out")))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_npy_in_chunks_to_npy_equals_the_in_memory_call(tmp_path, fn, x, dtype):
    np.save(tmp_path / "in.npy", x.astype(dtype))
    ok(elemgrad_eval(EXPRESSION, "--input", "in.npy", "--param", "mu=0.5", "--order", "0", "1", "2",
                     "--chunks", 1000, "--output", "out.npy", cwd=tmp_path))
    stacked = np.load(tmp_path / "out.npy")
    assert stacked.dtype == np.dtype(dtype) and stacked.shape == (3, x.size)
    for got, want in zip(stacked, fn(x.astype(dtype), np.asarray(0.5, dtype))):
        assert np.array_equal(got, want)


def mapped_bytes(folder) -> int:
    """Bytes of this process's address space mapped from files under ``folder`` (Linux: /proc/self/maps)."""
    total, prefix = 0, os.path.realpath(folder) + os.sep
    with open("/proc/self/maps") as maps:
        for line in maps:
            fields = line.split(maxsplit=5)
            if len(fields) == 6 and fields[5].strip().startswith(prefix):
                start, end = (int(address, 16) for address in fields[0].split("-"))
                total += end - start
    return total


@pytest.mark.parametrize("output", ["out.npy", "out.npz"])
def test_the_npy_files_are_mapped_a_few_chunks_at_a_time(tmp_path, monkeypatch, x, output):
    """Over an input 20 chunks long, the maps of the input and of the results alive while each chunk is
    written span at most three chunks (and some pages for alignment), not the files: the pages a map
    has touched count in the process's resident memory until the map is closed."""
    x = np.random.default_rng(5).normal(size=200_000)
    np.save(tmp_path / "in.npy", x)
    chunk, seen = 10_000, []
    write = cli_eval.ArrayFile.write

    def write_and_look(self, index, inputs, outputs):
        seen.append(mapped_bytes(tmp_path))  # the input chunk is mapped
        write(self, index, inputs, outputs)
        seen.append(mapped_bytes(tmp_path))

    monkeypatch.setattr(cli_eval.ArrayFile, "write", write_and_look)
    assert main(["eval", "sin(x)", "--input", str(tmp_path / "in.npy"), "--order", "0", "1", "--chunks", str(chunk),
                 "--output", str(tmp_path / output), "--device", "cpu"]) == 0
    chunk_bytes = chunk * x.itemsize * 3  # the input's rows and the two results' rows
    assert len(seen) == 2 * x.size // chunk and 0 < max(seen) <= 3 * chunk_bytes + 16 * 4096
    if output.endswith(".npy"):
        f, df_dx = np.load(tmp_path / output)
    else:
        with np.load(tmp_path / output) as results:
            f, df_dx = results["f"], results["df_dx"]
    assert np.allclose(f, np.sin(x), rtol=0, atol=1e-15) and np.allclose(df_dx, np.cos(x), rtol=0, atol=1e-15)


@pytest.mark.parametrize("store", ["in.zarr", "in.zip"])
def test_zarr_group_in_to_zarr_out_equals_the_in_memory_call(tmp_path, fn, x, store):
    mu = np.linspace(-1, 1, x.size)
    backing = zarr.storage.ZipStore(tmp_path / store, mode="w") if store.endswith(".zip") else tmp_path / store
    group = zarr.open_group(backing, mode="w")
    group.create_array("x", shape=x.shape, dtype=x.dtype, chunks=(3000,))[:] = x
    group.create_array("mu", shape=mu.shape, dtype=mu.dtype, chunks=(4000,))[:] = mu
    if store.endswith(".zip"):
        backing.close()
    for output in ("out.zarr/", "out.zip"):
        ok(elemgrad_eval(EXPRESSION, "--input", store, "--order", "0", "1", "2", "--chunks", 1500,
                         "--output", output, cwd=tmp_path))
        results = zarr.open_group(zarr.storage.ZipStore(tmp_path / output, mode="r") if output.endswith(".zip")
                                  else tmp_path / output, mode="r")
        assert sorted(name for name, _ in results.arrays()) == ["d2f_dx2", "df_dx", "f"]
        for key, want in zip(["f", "df_dx", "d2f_dx2"], fn(x, mu)):
            assert np.array_equal(results[key][:], want)


def test_one_zarr_array_in_with_a_param(tmp_path, fn, x):
    zarr.open_array(tmp_path / "in.zarr", mode="w", shape=x.shape, dtype=x.dtype, chunks=(2048,))[:] = x
    ok(elemgrad_eval(EXPRESSION, "--input", "in.zarr/", "--param", "mu=-0.25", "--order", "0", "1", "2",
                     "--chunks", 4096, "--output", "out.npz", cwd=tmp_path))
    with np.load(tmp_path / "out.npz") as out:
        for key, want in zip(["f", "df_dx", "d2f_dx2"], fn(x, -0.25)):
            assert np.array_equal(out[key], want)


def test_an_existing_zarr_output_is_not_overwritten(tmp_path, x):
    np.save(tmp_path / "in.npy", x)
    (tmp_path / "out.zarr").mkdir()
    message = one_line_error(elemgrad_eval("tanh(x)", "--input", "in.npy", "--output", "out.zarr", cwd=tmp_path))
    assert "out.zarr exists: remove it or choose another name" in message


@pytest.mark.parametrize("output", ["out.npy", "out.zarr", "out.zip"])
def test_no_partial_output_when_a_chunk_fails_midway(tmp_path, monkeypatch, capsys, x, output):
    """The third chunk fails (as a late error would): no output file or staging folder is left."""
    np.save(tmp_path / "in.npy", x)
    blocks = cli_eval._arrays

    def failing_late(arrays):
        table = blocks(arrays)
        read = table.blocks

        def blocks_then_fail(indices):
            for number, block in enumerate(read(indices)):
                if number == 2:
                    raise OSError("the input's disk went away")
                yield block

        table.blocks = blocks_then_fail
        return table

    monkeypatch.setattr(cli_eval, "_arrays", failing_late)
    status = main(["eval", "tanh(x)", "--input", str(tmp_path / "in.npy"), "--order", "0", "1", "--chunks", "1000",
                   "--output", str(tmp_path / output), "--device", "cpu"])
    assert status != 0 and "the input's disk went away" in capsys.readouterr().err
    assert leftovers(tmp_path) == []


def test_no_partial_output_when_an_input_of_wrong_length_is_found_late(tmp_path, x):
    """A CSV whose last rows are short is found out at the last chunk: nothing is written."""
    rows = "\n".join(f"{float(v)!r},0.5" for v in x[:300]) + "\n1.0\n"
    (tmp_path / "in.csv").write_text("x,mu\n" + rows)
    message = one_line_error(elemgrad_eval(EXPRESSION, "--input", "in.csv", "--chunks", 100, "--output", "out.npy",
                                           cwd=tmp_path))
    assert "row 301: 1 fields, but the header has 2" in message
    assert leftovers(tmp_path) == []


@pytest.fixture(scope="module")
def scheduler():
    with LocalCluster(n_workers=1, processes=True, threads_per_worker=1, dashboard_address=None) as cluster:
        yield cluster.scheduler_address


def test_scheduler_runs_the_chunks_on_a_cluster(tmp_path, fn, x, scheduler):
    np.save(tmp_path / "in.npy", x)
    ok(elemgrad_eval(EXPRESSION, "--input", "in.npy", "--param", "mu=0.5", "--order", "0", "1", "2",
                     "--chunks", 2000, "--scheduler", scheduler, "--output", "out.npz", cwd=tmp_path))
    with np.load(tmp_path / "out.npz") as out:
        for key, want in zip(["f", "df_dx", "d2f_dx2"], fn(x, 0.5)):
            assert np.array_equal(out[key], want)


def test_an_unreachable_scheduler_is_one_line(tmp_path, x):
    np.save(tmp_path / "in.npy", x[:10])
    message = one_line_error(elemgrad_eval("tanh(x)", "--input", "in.npy", "--scheduler", "tcp://127.0.0.1:9",
                                           "--output", "out.npy", cwd=tmp_path))
    assert "--scheduler tcp://127.0.0.1:9: cannot reach a Dask scheduler there" in message
    assert leftovers(tmp_path) == []


def test_zarr_without_the_zarr_package_is_a_usage_error(monkeypatch):
    import builtins

    real = builtins.__import__

    def no_zarr(name, *args, **kwargs):
        if name == "zarr":
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_zarr)
    with pytest.raises(eg.errors.UsageError, match=r"pip install 'elemgrad_gpu\[dask\]'"):
        outofcore.zarr_arrays("in.zarr", ["x"])


@pytest.mark.parametrize("name, content", [("bad.zip", b"not a zip file"), ("missing.zarr", None)])
def test_an_unreadable_zarr_input_is_one_line(tmp_path, name, content):
    if content is not None:
        (tmp_path / name).write_bytes(content)
    message = one_line_error(elemgrad_eval("tanh(x)", "--input", name, "--output", "out.npy", cwd=tmp_path))
    assert f"cannot read {name} as Zarr" in message
    assert leftovers(tmp_path) == []


def test_a_zarr_group_with_a_single_value_input(tmp_path, fn):
    group = zarr.open_group(tmp_path / "in.zarr", mode="w")
    x = np.linspace(-2, 2, 999)
    group.create_array("x", shape=x.shape, dtype=x.dtype, chunks=(100,))[:] = x
    group.create_array("mu", shape=(), dtype="float64")[...] = 0.75
    ok(elemgrad_eval(EXPRESSION, "--input", "in.zarr", "--order", "0", "1", "2", "--chunks", 250,
                     "--output", "out.npz", cwd=tmp_path))
    with np.load(tmp_path / "out.npz") as out:
        for key, want in zip(["f", "df_dx", "d2f_dx2"], fn(x, 0.75)):
            assert np.array_equal(out[key], want)

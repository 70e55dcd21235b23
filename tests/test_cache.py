"""The disk cache as a security boundary (cache.py): another local user cannot make us run
their code, and odd files in the cache (links, FIFOs, huge files) never hang or exhaust memory.

The suite runs as root, so "another user" is simulated by giving files and directories to
uid 12345 with os.chown. A planted entry carries a C constructor that creates a marker
file: the marker appears only if the planted code was compiled and loaded.
"""
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import elemgrad_gpu as eg
from elemgrad_gpu import cache
from elemgrad_gpu.backends.c import compile as ccompile

SCRIPT = """
import json, logging, sys, numpy as np, elemgrad_gpu as eg
logging.basicConfig(level=logging.DEBUG, format="%(message)s")
fn = eg.compile(sys.argv[1], orders=(0, 1), device="cpu")
print(json.dumps({"slope": float(fn(np.array([0.7]))[1][0]), "pytensor": "pytensor" in sys.modules}))
"""
EXPRESSION = "tanh(x)**2 * 1.1875"
SLOPE = 2 * 1.1875 * np.tanh(0.7) * (1 - np.tanh(0.7) ** 2)  # d/dx of the expression at 0.7
OTHER_UID = 12345
PLANTED = '\n#include <stdio.h>\n__attribute__((constructor)) static void eg_planted(void) ' \
          '{ FILE *f = fopen("MARKER", "w"); if (f) fclose(f); }\n'


def _limit_memory():
    resource.setrlimit(resource.RLIMIT_AS, (8 << 30, 8 << 30))  # a runaway read fails instead of eating the machine


def run(cache_dir: Path, tmpdir: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, THEANO_FLAGS=f"elemgrad__cache_dir={cache_dir}")
    if tmpdir is not None:
        env["TMPDIR"] = str(tmpdir)
    return subprocess.run([sys.executable, "-c", SCRIPT, EXPRESSION], env=env, capture_output=True, text=True,
                          timeout=timeout, preexec_fn=_limit_memory)


def check(result: subprocess.CompletedProcess, traced: bool | None = None) -> None:
    assert result.returncode == 0, result.stderr[-3000:]
    output = json.loads(result.stdout)
    assert output["slope"] == pytest.approx(SLOPE, rel=1e-13)
    if traced is not None:
        assert output["pytensor"] == traced


def plan_record(cache_dir: Path) -> Path:
    (record,) = (cache_dir / "plans").glob("*.json")
    return record


def library(cache_dir: Path) -> Path:
    (path,) = (cache_dir / "c").glob("eg_*.so")
    return path


def planted_record(record: Path, marker: Path) -> str:
    """``record`` with C code added that creates ``marker``, and its plain SHA-256 recomputed,
    as an attacker who knows the format (but not the user's key) would write it."""
    body = json.loads(record.read_text())["body"]
    body["source"] += PLANTED.replace("MARKER", str(marker))
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    return json.dumps({"body": body, "sha256": digest, "hmac": digest})


def chown_tree(path: Path, uid: int) -> None:
    for item in [path, *path.rglob("*")]:
        os.chown(item, uid, uid, follow_symlinks=False)


def test_a_planted_plan_with_a_correct_sha256_but_no_valid_hmac_is_traced_again_not_used(tmp_path):
    check(run(tmp_path / "cache"), traced=True)
    record, marker = plan_record(tmp_path / "cache"), tmp_path / "planted-code-ran"
    record.write_text(planted_record(record, marker))
    second = run(tmp_path / "cache")
    check(second, traced=True)
    assert not marker.exists(), "the planted code was compiled and loaded"
    assert "is damaged" in second.stderr
    check(run(tmp_path / "cache"), traced=False)  # the record was rewritten, authentic again


@pytest.mark.parametrize("planted", ["code", "garbage"])
def test_a_planted_library_with_a_correct_sha256_is_rebuilt_never_loaded(tmp_path, planted):
    check(run(tmp_path / "cache"))
    path, marker = library(tmp_path / "cache"), tmp_path / "planted-code-ran"
    fake = tmp_path / "fake.so"
    if planted == "code":
        (tmp_path / "fake.c").write_text(PLANTED.replace("MARKER", str(marker)))
        subprocess.run(["cc", "-shared", "-fPIC", "-o", str(fake), str(tmp_path / "fake.c")], check=True)
    else:
        fake.write_bytes(b"\x7fELF garbage" * 1000)
    os.chmod(fake, 0o600)
    os.replace(fake, path)
    path.with_name(path.name + ".sha256").write_text(hashlib.sha256(path.read_bytes()).hexdigest())
    second = run(tmp_path / "cache")
    check(second)
    assert not marker.exists(), "the planted library was loaded"
    assert "is damaged; rebuilding" in second.stderr and "compiled kernel" in second.stderr
    assert ccompile._intact(path)


@pytest.mark.parametrize("problem", ["another user's", "writable by others"])
def test_an_authentic_library_that_others_could_rewrite_is_rebuilt(tmp_path, problem):
    check(run(tmp_path / "cache"))
    path = library(tmp_path / "cache")
    if problem == "another user's":
        os.chown(path, OTHER_UID, OTHER_UID)  # its owner could change it between the check and the load
    else:
        os.chmod(path, 0o666)
    second = run(tmp_path / "cache")
    check(second)
    assert "is damaged; rebuilding" in second.stderr and "compiled kernel" in second.stderr
    assert path.stat().st_uid == os.geteuid() and path.stat().st_mode & 0o777 == 0o600


def test_the_key_file_is_private_and_one_that_is_not_is_refused(tmp_path):
    check(run(tmp_path / "cache"))
    key = tmp_path / "cache" / "key"
    (tmp_path / "tmp").mkdir()
    info = key.lstat()
    assert info.st_mode & 0o777 == 0o600 and info.st_uid == os.geteuid() and info.st_size == 32
    for problem in ("readable by others", "another user's", "symbolic link"):
        if problem == "readable by others":
            os.chmod(key, 0o644)
        elif problem == "another user's":
            os.chmod(key, 0o600)
            os.chown(key, OTHER_UID, OTHER_UID)
        else:
            key.unlink()
            key.symlink_to(tmp_path / "elsewhere")
            (tmp_path / "elsewhere").write_bytes(bytes(32))
        result = run(tmp_path / "cache", tmpdir=tmp_path / "tmp")
        check(result)
        assert "cannot write the kernel cache" in result.stderr and f"{key}" in result.stderr, problem


@pytest.mark.parametrize("squat", ["another user's", "writable by others", "symbolic link"])
def test_a_fallback_directory_another_user_could_have_made_is_refused(tmp_path, squat):
    check(run(tmp_path / "good"), traced=True)  # the record's name, which an attacker can compute too
    record, marker = plan_record(tmp_path / "good"), tmp_path / "planted-code-ran"
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    squatted = temporary / f"elemgrad_gpu-{os.geteuid()}"
    content = tmp_path / "elsewhere" if squat == "symbolic link" else squatted
    (content / "plans").mkdir(parents=True)
    (content / "c").mkdir()
    (content / "plans" / record.name).write_text(planted_record(record, marker))
    if squat == "symbolic link":
        squatted.symlink_to(content)
    elif squat == "another user's":
        os.chmod(content, 0o700)
        chown_tree(content, OTHER_UID)
    else:
        os.chmod(content, 0o777)
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the configured cache directory should be")
    result = run(blocker / "cache", tmpdir=temporary)
    check(result, traced=True)
    assert not marker.exists(), "the planted plan was used"
    assert f"refusing the fallback cache directory {squatted}" in result.stderr
    assert sorted(p.name for p in (content / "plans").iterdir()) == [record.name]  # nothing written there


def test_the_fallback_directory_is_private_and_reused_by_later_processes(tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the configured cache directory should be")
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    first = run(blocker / "cache", tmpdir=temporary)
    check(first, traced=True)
    assert "cannot write the kernel cache" in first.stderr and "refusing" not in first.stderr
    fallback = temporary / f"elemgrad_gpu-{os.geteuid()}"
    info = fallback.lstat()
    assert info.st_uid == os.geteuid() and info.st_mode & 0o777 == 0o700
    assert (fallback / "key").stat().st_mode & 0o777 == 0o600
    check(run(blocker / "cache", tmpdir=temporary), traced=False)  # the stored plan is found again


@pytest.mark.parametrize("entry", ["plan", "library"])
@pytest.mark.parametrize("kind", ["link to /dev/zero", "fifo", "huge sparse file"])
def test_links_fifos_and_huge_files_in_the_cache_are_never_read(tmp_path, entry, kind):
    check(run(tmp_path / "cache"))
    path = plan_record(tmp_path / "cache") if entry == "plan" else library(tmp_path / "cache")
    path.unlink()
    if kind == "link to /dev/zero":
        path.symlink_to("/dev/zero")
    elif kind == "fifo":
        os.mkfifo(path)
    else:
        with open(path, "wb") as handle:
            handle.truncate(1 << 34)  # 16 GiB, without the disk space
    check(run(tmp_path / "cache", timeout=240))  # a FIFO opened for reading would block without a writer
    assert path.is_file() and not path.is_symlink() and path.stat().st_size < 1 << 26  # replaced by a sound entry


def test_removing_the_cache_directory_while_running_does_not_break_later_compiles(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    monkeypatch.setenv("THEANO_FLAGS", f"elemgrad__cache_dir={root}")
    first = eg.compile("sinh(x) * 1.4375 + 0.0625", device="cpu")  # the derivative, 1.4375 cosh(x)
    np.testing.assert_allclose(first(np.array([0.5])), 1.4375 * np.cosh(0.5), rtol=1e-15)
    shutil.rmtree(root)  # a user clearing ~/.cache during a long session
    second = eg.compile("cosh(x) * 1.5625 - 0.0625", device="cpu")  # the derivative, 1.5625 sinh(x)
    np.testing.assert_allclose(second(np.array([0.5])), 1.5625 * np.sinh(0.5), rtol=1e-15)
    assert len(list((root / "c").glob("eg_*.so"))) == 1


def test_a_cache_dir_whose_tilde_names_no_user_is_a_config_error(monkeypatch):
    monkeypatch.setenv("THEANO_FLAGS", "elemgrad__cache_dir=~no_such_user_of_elemgrad/kernels")
    with pytest.raises(eg.ConfigError, match=r"cache_dir = '~no_such_user_of_elemgrad/kernels' is not valid.*user"):
        eg.compile("sinh(x) * 1.6875", device="cpu")(np.array([0.5]))


def test_an_authentic_library_that_cannot_be_loaded_is_rebuilt_once_with_a_warning(tmp_path, monkeypatch):
    monkeypatch.setenv("THEANO_FLAGS", f"elemgrad__cache_dir={tmp_path}")
    fn = eg.compile("sinh(x) * 1.8125 + 0.125", device="cpu")
    np.testing.assert_allclose(fn(np.array([0.5])), 1.8125 * np.cosh(0.5), rtol=1e-15)
    source = fn.source("c")
    name = ccompile.module_name(source)
    path = ccompile._library_path(name)
    garbage = b"\x7fELF not a library" * 100
    written = path.with_name("garbage")
    written.write_bytes(garbage)
    os.chmod(written, 0o600)
    os.replace(written, path)  # a new file: the loaded library's pages stay as they are
    ccompile._digest_path(path).write_text(cache.seal(path, [garbage]))
    assert ccompile._intact(path)  # as far as the store can tell, a sound entry
    monkeypatch.delitem(ccompile._loaded, name)
    with pytest.warns(RuntimeWarning, match="authentic but cannot be loaded"):
        module = ccompile.load(source)
    assert path.read_bytes() != garbage and ccompile._intact(path)
    np.testing.assert_allclose(module.kernel(np.array([0.5])), 1.8125 * np.cosh(0.5), rtol=1e-15)

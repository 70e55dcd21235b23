"""THEANORC files and THEANO_FLAGS: precedence, errors naming file, line and key."""
from pathlib import Path

import numpy as np
import pytest

import elemgrad_gpu as eg
from elemgrad_gpu import config

EXAMPLE = Path(__file__).resolve().parents[1] / "theanorc.example"


@pytest.fixture
def env(monkeypatch, tmp_path):
    monkeypatch.delenv("THEANO_FLAGS", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.theanorc of the machine's
    monkeypatch.delenv("THEANORC", raising=False)
    return monkeypatch


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_defaults_without_any_configuration(env):
    assert config.setting("elemgrad", "cache_dir") is None and config.setting("global", "device") is None


def test_the_example_file_parses_and_is_read(env):
    env.setenv("THEANORC", str(EXAMPLE))
    assert config.setting("elemgrad", "cache_dir") == "~/.cache/elemgrad_gpu"
    assert config.setting("global", "device") == "auto" and config.setting("global", "floatX") == "float64"


def test_flags_override_files_and_later_files_override_earlier(env, tmp_path):
    first = write(tmp_path / "a", "[global]\ndevice = cpu\nmode = FAST_RUN\n[elemgrad]\ncache_dir = /one\ncc = gcc\n")
    second = write(tmp_path / "b", "[elemgrad]\ncache_dir = /two\n")
    env.setenv("THEANORC", f"{first}:{second}")
    assert config.setting("elemgrad", "cache_dir") == "/two" and config.setting("elemgrad", "cc") == "gcc"
    assert config.setting("global", "device") == "cpu"
    env.setenv("THEANO_FLAGS", "device=cuda:1,floatX=float32,elemgrad__cache_dir=/three")
    assert config.setting("elemgrad", "cache_dir") == "/three"
    assert config.setting("global", "device") == "cuda:1" and config.setting("global", "floatX") == "float32"


def test_default_file_is_home_theanorc(env, tmp_path):
    write(tmp_path / ".theanorc", "[global]\nfloatX = float32\n[elemgrad]\ncc = clang\n")
    assert config.setting("elemgrad", "cc") == "clang"


def test_explicit_arguments_beat_the_configuration(env, tmp_path):
    env.setenv("THEANO_FLAGS", "device=cuda,floatX=float32")
    with pytest.raises(eg.DeviceError, match="not available"):
        eg.compile("x")  # "auto" defers to the configured device
    assert eg.compile("x", device="cpu").device == "cpu"
    fn = eg.compile("x*x", device="cpu")
    assert fn(2.0).dtype == np.float32  # floatX decides when only Python numbers are given
    assert fn(np.float64(2.0)).dtype == np.float64
    assert eg.compile("x*x", device="cpu", dtype="float64")(2.0).dtype == np.float64


@pytest.mark.parametrize("text, message", [
    ("[elemgrad\ncache_dir = /x\n", r"bad\.rc, line 1: malformed"),
    ("cache_dir = /x\n", r"bad\.rc, line 1: malformed"),
    ("[global]\ndevice = cpu\n[elemgrad]\ncache_dir = /x\ncolour = blue\n", r"bad\.rc, line 5: unknown key 'colour'"),
    ("[global]\nmode = FAST_RUN\nfloatX = float128\n", r"bad\.rc, line 3: \[global\] floatx = 'float128'"),
    ("[global]\ndevice = tpu\n", r"bad\.rc, line 2: \[global\] device = 'tpu'"),
])
def test_malformed_files_name_file_line_and_key(env, tmp_path, text, message):
    env.setenv("THEANORC", str(write(tmp_path / "bad.rc", text)))
    with pytest.raises(config.ConfigError, match=message):
        config.setting("elemgrad", "cache_dir")


@pytest.mark.parametrize("flags, message", [("elemgrad__cache_dir", "key=value"),
                                            ("elemgrad__colour=blue", "unknown key 'colour'"),
                                            ("device=cpu,floatX=half", "floatx = 'half'"),
                                            ("elemgrad__cuda_threads=300", "cuda_threads = '300'.*32, 64"),
                                            ("elemgrad__cuda_blocks_per_sm=-1", "cuda_blocks_per_sm = '-1'")])
def test_malformed_flags(env, flags, message):
    env.setenv("THEANO_FLAGS", flags)
    with pytest.raises(config.ConfigError, match=message):
        config.setting("elemgrad", "cache_dir")


def test_missing_theanorc_file_is_an_error(env, tmp_path):
    env.setenv("THEANORC", str(tmp_path / "nope"))
    with pytest.raises(config.ConfigError, match="nope"):
        config.setting("elemgrad", "cc")


def test_kernels_are_cached_where_the_flags_say(env, tmp_path):
    env.setenv("THEANO_FLAGS", f"elemgrad__cache_dir={tmp_path / 'kernels'}")
    fn = eg.compile("cosh(x) * 2.5 + sinh(x)**3")  # a kernel no other test builds
    np.testing.assert_allclose(fn(np.array([0.25])), 2.5 * np.sinh(0.25) + 3 * np.sinh(0.25) ** 2 * np.cosh(0.25))
    assert list((tmp_path / "kernels" / "c").glob("eg_*"))

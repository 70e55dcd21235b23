"""Configuration, as Theano users know it: THEANORC files and THEANO_FLAGS.

The files named by ``$THEANORC`` (several separated by ``os.pathsep``; default
``~/.theanorc``) are read in order, then ``$THEANO_FLAGS`` (``key=value,...``, where
``section__key`` names a key of another section than ``[global]``). Precedence:
explicit arguments, then THEANO_FLAGS, then the files, then the defaults.

We read ``[global] device`` and ``floatX`` (other ``[global]`` keys belong to the
Theano/PyTensor-era tools sharing the file and are left alone) and every key of
``[elemgrad]``. Values are read once per process for each value of THEANORC and
THEANO_FLAGS. A malformed file or flag, an unknown ``[elemgrad]`` key or a bad value
raises ConfigError naming the file, line and key. See ``theanorc.example``.
"""
from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Callable

from elemgrad_gpu import backends
from elemgrad_gpu.errors import ConfigError



def _choice(*allowed: str) -> Callable[[str], bool]:
    return lambda value: value in allowed


# (section, key) -> (what it is, or a function saying it, its check); the device names are the backend registry's
KEYS: dict[tuple[str, str], tuple[str | Callable[[], str], Callable[[str], bool]]] = {
    ("global", "device"): (lambda: backends.device_spellings().replace("'", ""), backends.is_device_name),
    ("global", "floatx"): ("float32 or float64", _choice("float32", "float64")),
    ("elemgrad", "cache_dir"): ("a directory for compiled kernels (a leading ~user must name a user of this machine)",
                                lambda v: bool(v) and not os.path.expanduser(v).startswith("~")),
    ("elemgrad", "cc"): ("the C compiler command", bool),
    ("elemgrad", "nvrtc_options"): ("extra NVRTC options, separated by spaces", lambda v: True),
    ("elemgrad", "cuda_threads"): ("CUDA threads per block: 32, 64, 128, 256, 512 or 1024",
                                   _choice(*(str(2 ** k) for k in range(5, 11)))),
    ("elemgrad", "cuda_blocks_per_sm"): ("the most CUDA blocks per SM, a whole number (0: no cap)",
                                         lambda v: v.isdigit() and int(v) <= 2 ** 16),
    ("elemgrad", "max_derivative_nodes"): ("the most operations of the derivative graphs, a whole number >= 1",
                                           lambda v: v.isdigit() and int(v) >= 1),
    ("elemgrad", "max_compile_seconds"): ("the most seconds to differentiate and simplify, a number > 0",
                                          lambda v: _positive_number(v)),
}


def _positive_number(value: str) -> bool:
    try:
        return 0 < float(value) < float("inf")
    except ValueError:
        return False


def setting(section: str, key: str) -> str | None:
    """The configured value of ``[section] key``, or None when nothing sets it."""
    theanorc = os.environ.get("THEANORC")
    files = tuple(theanorc.split(os.pathsep)) if theanorc else ()
    values = _settings(files, str(Path.home() / ".theanorc"), os.environ.get("THEANO_FLAGS", ""))
    return values.get((section, key.lower()))


def sources() -> list[str]:
    """Where the configuration comes from, for ``elemgrad_gpu.devices()`` and reports."""
    theanorc = os.environ.get("THEANORC")
    files = theanorc.split(os.pathsep) if theanorc else [str(Path.home() / ".theanorc")]
    found = [f"THEANORC file {f}" for f in files if Path(f).expanduser().is_file()]
    return found + ([f"THEANO_FLAGS={os.environ['THEANO_FLAGS']}"] if os.environ.get("THEANO_FLAGS") else [])


@lru_cache(maxsize=8)
def _settings(files: tuple[str, ...], default_file: str, flags: str) -> dict[tuple[str, str], str]:
    values: dict[tuple[str, str], str] = {}
    for name in files:
        path = Path(name).expanduser()
        if not path.is_file():
            raise ConfigError(f"THEANORC names {name!r}, which is not a readable file")
        values.update(_read_file(path))
    if not files and Path(default_file).is_file():
        values.update(_read_file(Path(default_file)))
    values.update(_read_flags(flags))
    return values


def _check(where: str, section: str, key: str, value: str) -> None:
    if (section, key) not in KEYS:
        if section == "elemgrad":
            known = ", ".join(k for s, k in KEYS if s == section)
            raise ConfigError(f"{where}: unknown key {key!r} in [elemgrad]; known keys: {known}")
        return
    meaning, valid = KEYS[section, key]
    if not valid(value):
        meaning = meaning() if callable(meaning) else meaning
        raise ConfigError(f"{where}: [{section}] {key} = {value!r} is not valid; expected {meaning}")


def _read_file(path: Path) -> dict[tuple[str, str], str]:
    import configparser  # only where a file exists: kept off the import path of every process

    parser = configparser.ConfigParser(interpolation=None)
    try:
        text = path.read_text()
        parser.read_string(text, source=str(path))
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read {path}: {error}") from None
    except configparser.Error as error:
        line = getattr(error, "lineno", None) or getattr(error, "errors", [(None,)])[0][0]
        raise ConfigError(f"{path}, line {line}: malformed configuration ({error.message.splitlines()[0]})") from None
    values = {}
    for section in parser.sections():
        for key, value in parser.items(section):
            _check(f"{path}, line {_line_of(text, key)}", section, key, value.strip())
            if (section, key) in KEYS:
                values[section, key] = value.strip()
    return values


def _line_of(text: str, key: str) -> int:
    for number, line in enumerate(text.splitlines(), start=1):
        if re.match(rf"\s*{re.escape(key)}\s*[=:]", line, flags=re.IGNORECASE):
            return number
    return 0


def _read_flags(flags: str) -> dict[tuple[str, str], str]:
    values = {}
    for item in filter(None, (part.strip() for part in flags.split(","))):
        key, equals, value = item.partition("=")
        if not equals or not key.strip():
            raise ConfigError(f"THEANO_FLAGS: {item!r} is not of the form key=value")
        section, _, name = key.strip().lower().rpartition("__")
        section = section or "global"
        _check(f"THEANO_FLAGS ({item})", section, name, value.strip())
        if (section, name) in KEYS:
            values[section, name] = value.strip()
    return values

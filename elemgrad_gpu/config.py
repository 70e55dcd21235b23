"""Configuration, as Theano users know it: THEANORC files and THEANO_FLAGS.

The files named by ``$THEANORC`` (several separated by ``os.pathsep``; default
``~/.theanorc``) are read in order, then ``$THEANO_FLAGS``
(``section__key=value,...``; a key without a section is in ``[global]``). Precedence:
explicit arguments, then THEANO_FLAGS, then the files, then the defaults. Our keys
live in ``[elemgrad]``; ``[global]`` and other sections belong to Theano/PyTensor-era
tools and are left alone. They are read once per process for each value of THEANORC and
THEANO_FLAGS. A malformed file or flag, or an unknown ``[elemgrad]`` key,
raises ConfigError naming the file, line and key. See ``theanorc.example``.
"""
from __future__ import annotations

import configparser
import os
import re
from functools import lru_cache
from pathlib import Path

from elemgrad_gpu.errors import ElemgradError

SECTION = "elemgrad"
KEYS = {"cache_dir": "where compiled kernels are cached", "cc": "the C compiler command"}


class ConfigError(ElemgradError, ValueError):
    """A THEANORC file or THEANO_FLAGS entry that cannot be used."""


def setting(key: str) -> str | None:
    """The configured ``[elemgrad] key``, or None when nothing sets it."""
    theanorc = os.environ.get("THEANORC")
    files = tuple(theanorc.split(os.pathsep)) if theanorc else ()
    return _settings(files, str(Path.home() / ".theanorc"), os.environ.get("THEANO_FLAGS", ""))[key]


@lru_cache(maxsize=8)
def _settings(files: tuple[str, ...], default_file: str, flags: str) -> dict[str, str | None]:
    values: dict[str, str | None] = dict.fromkeys(KEYS)
    for name in files:
        path = Path(name).expanduser()
        if not path.is_file():
            raise ConfigError(f"THEANORC names {name!r}, which is not a readable file")
        values.update(_read_file(path))
    if not files and Path(default_file).is_file():
        values.update(_read_file(Path(default_file)))
    values.update(_read_flags(flags))
    return values


def _read_file(path: Path) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        text = path.read_text()
        parser.read_string(text, source=str(path))
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read {path}: {error}") from None
    except configparser.Error as error:
        line = getattr(error, "lineno", None) or getattr(error, "errors", [(None,)])[0][0]
        raise ConfigError(f"{path}, line {line}: malformed configuration ({error.message.splitlines()[0]})") from None
    if not parser.has_section(SECTION):
        return {}
    values = dict(parser.items(SECTION))
    for key in values:
        if key not in KEYS:
            raise ConfigError(f"{path}, line {_line_of(text, key)}: unknown key {key!r} in [{SECTION}]; "
                              f"known keys: {', '.join(KEYS)}")
    return values


def _line_of(text: str, key: str) -> int:
    for number, line in enumerate(text.splitlines(), start=1):
        if re.match(rf"\s*{re.escape(key)}\s*[=:]", line, flags=re.IGNORECASE):
            return number
    return 0


def _read_flags(flags: str) -> dict[str, str]:
    values = {}
    for item in filter(None, (part.strip() for part in flags.split(","))):
        key, equals, value = item.partition("=")
        if not equals or not key.strip():
            raise ConfigError(f"THEANO_FLAGS: {item!r} is not of the form key=value")
        section, _, name = key.strip().rpartition("__")
        if section == SECTION:
            if name not in KEYS:
                raise ConfigError(f"THEANO_FLAGS: unknown key {key.strip()!r}; known keys: "
                                  f"{', '.join(f'{SECTION}__{k}' for k in KEYS)}")
            values[name] = value.strip()
    return values

"""``--function FILE.py:NAME``: a Python function of the user's own file, for explain and eval.

Expression strings are parsed by our own grammar and never evaluated; a function is
different: its file is imported as a module by path (``importlib``), which runs the
file's code exactly as ``python FILE.py`` would (less its ``if __name__ == "__main__"``
block). That is the point (structured functions, with reductions, slices and pads, are
only written as Python), and why it takes an explicit option naming the file. Every
mistake (no such file, an import that fails, no such name, a name that is not a
function) is one UsageError line naming the file.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
from typing import Callable

from elemgrad_gpu.errors import UsageError


def split(spec: str) -> tuple[str, str]:
    """``"path/f.py:lap"`` -> ``("path/f.py", "lap")`` (the last colon: a path may hold one)."""
    path, colon, name = spec.rpartition(":")
    if not colon or not path or not name.isidentifier():
        raise UsageError(f"--function expects FILE.py:NAME, such as lap.py:laplacian; got {spec!r}")
    return path, name


def load(spec: str) -> Callable:
    """The function NAME of FILE.py, its file imported as a module by path."""
    path, name = split(spec)
    module = _import(path)
    if not hasattr(module, name):
        found = sorted(n for n, v in vars(module).items() if callable(v) and not n.startswith("_")
                       and getattr(v, "__module__", None) == module.__name__)
        listed = f"its functions: {', '.join(found)}" if found else "it defines no function"
        raise UsageError(f"--function {spec}: {path} has no {name!r} ({listed})")
    function = getattr(module, name)
    if not callable(function):
        raise UsageError(f"--function {spec}: {name!r} in {path} is of type {type(function).__name__}, not a function")
    return function


def _import(path: str):
    if not os.path.isfile(path):
        raise UsageError(f"--function: no such file {path}" if not os.path.exists(path)
                         else f"--function: {path} is not a file")
    if not path.endswith(".py"):
        raise UsageError(f"--function: {path} is not a Python file (FILE.py:NAME)")
    absolute = os.path.abspath(path)
    digest = hashlib.sha1(absolute.encode()).hexdigest()[:12]
    module_name = f"elemgrad_user_{digest}"
    spec = importlib.util.spec_from_file_location(module_name, absolute)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # as importlib's recipe: dataclasses and pickling look it up
    sys.path.insert(0, os.path.dirname(absolute))  # its sibling modules import, as under `python FILE.py`
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as error:  # noqa: BLE001 - the user's code: any failure is theirs, in one line
        del sys.modules[module_name]
        raise UsageError(f"--function: importing {path} failed: {_one_line(error)}") from None
    finally:
        sys.path.remove(os.path.dirname(absolute))
    return module


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__

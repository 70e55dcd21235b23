"""Stored plans: what a string expression compiled to, kept on disk for new processes.

Tracing, verifying and fusing an expression needs PyTensor, whose import alone takes
longer than running a cached kernel. So once a string expression is traced, its plan
(the generated source, the formulas, the number of outputs) is written next to the
kernel cache; a new process asking for the same thing reads it back, finds the kernel
in the cache and never imports PyTensor.

The key hashes the expression, the derivatives, the dtype, the backend and its variant
(for C, the C library's vector math), this package's own files and PyTensor's installation, so a change to
any of them is a miss. Each record carries the SHA-256 of its contents: a damaged or
edited record is ignored (and rewritten by the next compile), never used. Writing is
best effort: a record that cannot be written only costs the next process a trace.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
from functools import cache
from pathlib import Path
from typing import Sequence

from elemgrad_gpu.backends.c import compile as ccompile
from elemgrad_gpu.graph.plan import MultiIndex, Plan

log = logging.getLogger("elemgrad_gpu")
FORMAT = 1


def key(text: str, indices: Sequence[MultiIndex], dtype: str, backend: str, scalars: Sequence[int] = (),
        variant: str = "") -> str:
    """The record name for expression ``text`` differentiated by ``indices``, for calls whose
    inputs ``scalars`` are single values (hoist.py), by ``backend`` in its ``variant`` (what
    else shapes its source on this machine, e.g. the C library's vector math)."""
    parts = [str(FORMAT), _installation(), text, repr([list(i) for i in indices]), dtype, backend, variant,
             repr(list(scalars))]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]


def load(name: str, dtype: str) -> tuple[Plan, str] | None:
    """The stored plan called ``name`` and its source, or None when there is none or it is damaged."""
    path = ccompile.cache_dir("plans") / f"{name}.json"
    try:
        record = json.loads(path.read_text())
        body = record["body"]
        intact = record["sha256"] == _digest(body) and body["key"] == name
        plan = Plan(tuple(body["descriptions"]), int(body["outputs"]), dtype)
        source = str(body["source"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        intact = False
    if not intact:
        log.warning("elemgrad_gpu: stored plan %s is damaged; tracing the expression again", path.name)
        return None
    return plan, source


def save(name: str, plan: Plan, source: str) -> None:
    """Store ``plan`` with its generated ``source`` as ``name``, atomically; failures are ignored."""
    body = {"key": name, "descriptions": list(plan.descriptions), "outputs": plan.outputs, "source": source}
    import tempfile  # only when storing: a process that reads its plans back does not need it

    directory = ccompile.cache_dir("plans")
    temporary = None
    try:
        descriptor, temporary = tempfile.mkstemp(dir=directory, suffix=".tmp")
        with os.fdopen(descriptor, "w") as handle:
            json.dump({"body": body, "sha256": _digest(body)}, handle)
        os.replace(temporary, directory / f"{name}.json")
    except OSError as error:
        log.debug("elemgrad_gpu: cannot store plan %s: %s", name, error)
        if temporary:
            Path(temporary).unlink(missing_ok=True)


def _digest(body: dict) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


@cache
def _installation() -> str:
    """What, besides the request, decides a plan: this package's files and PyTensor's installation."""
    digest = hashlib.sha256()
    package = Path(__file__).resolve().parents[1]
    files = [p for pattern in ("*.py", "*.[ch]", "*.cu") for p in package.rglob(pattern)]
    for path in sorted(files):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes())
    spec = importlib.util.find_spec("pytensor")
    if spec is not None and spec.origin:
        stat = os.stat(spec.origin)
        digest.update(f"{spec.origin}\0{stat.st_mtime_ns}\0{stat.st_size}".encode())
    return digest.hexdigest()

"""Stored plans: what a string expression compiled to, kept on disk for new processes.

Tracing, verifying and fusing an expression needs PyTensor, whose import alone takes
longer than running a cached kernel. So once a string expression is traced, its plan
(the generated source, the formulas, the number of outputs) is written next to the
kernel cache; a new process asking for the same thing reads it back, finds the kernel
in the cache and never imports PyTensor.

The key hashes the expression, the derivatives, the dtype, the backend and its variant
(for C, the C library's vector math), this package's own files and PyTensor's
installation, so a change to any of them is a miss. Each record carries the HMAC of its contents under the user's
cache key (cache.py): a damaged, edited or planted record is ignored (and rewritten by
the next compile), never used; so is a file that is a link, not a regular file, or
larger than LIMIT. Writing is best effort: a record that cannot be written only costs
the next process a trace.
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

from elemgrad_gpu import cache as store
from elemgrad_gpu.errors import CompileError
from elemgrad_gpu.graph.plan import MultiIndex, Plan

log = logging.getLogger("elemgrad_gpu")
FORMAT = 2  # 2: records carry an HMAC (cache.py) instead of a plain SHA-256
LIMIT = 64 << 20  # the most bytes a record may have: a larger file in the cache is never read


def key(text: str, indices: Sequence[MultiIndex], dtype: str, backend: str, scalars: Sequence[int] = (),
        variant: str = "") -> str:
    """The record name for expression ``text`` differentiated by ``indices``, for calls whose
    inputs ``scalars`` are single values (hoist.py), by ``backend`` in its ``variant`` (what
    else shapes its source on this machine, e.g. the C library's vector math)."""
    return store.name(str(FORMAT), _installation(), text, repr([list(i) for i in indices]), dtype, backend,
                      variant, repr(list(scalars)))


def load(name: str, dtype: str) -> tuple[Plan, str] | None:
    """The stored plan called ``name`` and its source, or None when there is none or it is damaged."""
    try:
        path = store.directory("plans") / f"{name}.json"
        data = store.read(path, LIMIT)
    except (FileNotFoundError, CompileError):
        return None
    except OSError as error:  # a link, a FIFO, a device, a huge file: never read
        log.warning("elemgrad_gpu: stored plan %s.json cannot be used (%s); tracing the expression again", name, error)
        return None
    try:
        record = json.loads(data)
        body = record["body"]
        intact = store.authentic(path, [_canonical(body)], record["hmac"]) and body["key"] == name
        plan = Plan(tuple(body["descriptions"]), int(body["outputs"]), dtype)
        source = str(body["source"])
    except (ValueError, KeyError, TypeError, AttributeError):
        intact = False
    if not intact:
        log.warning("elemgrad_gpu: stored plan %s is damaged; tracing the expression again", path.name)
        return None
    return plan, source


def save(name: str, plan: Plan, source: str) -> None:
    """Store ``plan`` with its generated ``source`` as ``name``, atomically; failures are ignored."""
    body = {"key": name, "descriptions": list(plan.descriptions), "outputs": plan.outputs, "source": source}
    try:
        path = store.directory("plans") / f"{name}.json"
        data = json.dumps({"body": body, "hmac": store.seal(path, [_canonical(body)])}).encode()
        if len(data) > LIMIT:
            raise OSError(f"{len(data)} bytes, more than the {LIMIT} a stored plan may have")
        store.write(path, data)
    except (OSError, CompileError) as error:
        log.debug("elemgrad_gpu: cannot store plan %s: %s", name, error)


def _canonical(body: dict) -> bytes:
    return json.dumps(body, sort_keys=True).encode()


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

"""Specialize: one compiled form of a function per dtype, ndim and set of single-value inputs.

A ``Specialization`` holds the frozen ``Plan`` (``graph/plan.py``; or, for a string
expression compiled before, the stored plan of ``plan_store.py``, which has no graph
until one is needed and traced), each backend's source (generated once) and the
kernel (compiled once, under a lock: the device's backend, or under ``device="auto"``
the host backend's after a compile failure).
"""
from __future__ import annotations

import dataclasses
import threading
import warnings
from typing import TYPE_CHECKING, Callable

from elemgrad_gpu import backends
from elemgrad_gpu.graph.plan import Plan

if TYPE_CHECKING:
    from elemgrad_gpu.backends import Backend, Kernel
    from elemgrad_gpu.graph.fuse import FusedGraph
    from elemgrad_gpu.runtime.device import Device


class Specialization:
    """A plan, its sources per backend, and its kernel."""

    def __init__(self, plan: Plan, trace: Callable[[], Plan], sources: dict[str, str] | None = None):
        self.plan = plan
        self._trace = trace  # the plan traced afresh: the graph of a stored plan
        self._sources = dict(sources or {})
        self._lock = threading.RLock()  # compiling may trace a stored plan's graph, under the same lock
        self.backend: Backend | None = None  # where the kernel runs, once compiled
        self.kernel: Kernel | None = None

    @property
    def sources(self) -> dict[str, str]:
        """The sources generated so far, by backend name."""
        return dict(self._sources)

    def graph(self) -> FusedGraph:
        """The fused graph; a stored plan (strings only) is traced for it, once."""
        if self.plan.fused is None:
            with self._lock:
                if self.plan.fused is None:
                    self.plan = dataclasses.replace(self.plan, fused=self._trace().fused)
        return self.plan.fused

    def source(self, backend: Backend) -> str:
        """``backend``'s source for the plan, generated once."""
        if backend.name not in self._sources:
            self._sources[backend.name] = backend.source(self.graph(), list(self.plan.descriptions),
                                                         self.plan.hoisted)
        return self._sources[backend.name]

    def compiled(self, device: Device) -> tuple[Backend, Kernel]:
        """The backend and kernel: compiled on first use, for ``device`` (or the host's after a fallback)."""
        if self.kernel is None:
            with self._lock:
                if self.kernel is None:
                    self.backend, self.kernel = self._compile(device)
        return self.backend, self.kernel

    def _compile(self, device: Device) -> tuple[Backend, Kernel]:
        backend, plan = device.backend, self.plan
        try:
            return backend, backend.load(self.source(backend), plan.outputs, plan.dtype)
        except Exception as error:  # noqa: BLE001 - any compile failure off the host falls back under "auto"
            if backend.name == backends.HOST or not device.automatic:
                raise
            warnings.warn(f"elemgrad_gpu: running on the CPU instead of {device.name}: the {backend.name.upper()} "
                          f"backend could not compile this function ({type(error).__name__}: {str(error)[:300]})",
                          RuntimeWarning, stacklevel=5)
            host = backends.backend(backends.HOST)
            return host, host.load(self.source(host), plan.outputs, plan.dtype)

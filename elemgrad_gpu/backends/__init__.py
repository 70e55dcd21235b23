"""Backends: what one owes (``Backend``, ``Kernel``) and the registry of those there are.

Each backend is one folder here (``c/``, ``cuda/``: its backend module, its code
generation and its kernel template) and one ``register`` line at the end of this
module. The registry maps a backend's name to its class as ``"module:Class"``, imported
on first use, and says which device names select it; device names are parsed here and
only here (``parse_device``), and configuration checks and the command line's choices
read this table. No other module of the library names a backend.

This module imports nothing of the library but ``errors``: everything may read it.
"""
from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from typing import Any, Callable, Hashable, Protocol, Sequence

from elemgrad_gpu.errors import DeviceError

# The graph types a backend reads, named but not imported: the registry sits below graph/.
FusedGraph = Any  # elemgrad_gpu.graph.fuse.FusedGraph: the fused Composite, its inputs and dtype
Hoisted = Any  # elemgrad_gpu.graph.hoist.Hoisted: the body split into once-per-call and per-element parts
Prepared = Callable[[list, Any], list]  # (inputs, outputs or None) -> outputs, for one layout of arguments


class Kernel(Protocol):
    """One compiled kernel: computes every output of a plan from its inputs (of its dtype,
    broadcasting together to ``shape``)."""

    def run(self, inputs: Sequence, shape: tuple[int, ...], out: Sequence | None = None) -> list:
        """The outputs: written into ``out`` when given, else new arrays of ``shape``."""

    def bind(self, inputs: Sequence, shape: tuple[int, ...], out: Sequence) -> Callable[[], Any]:
        """A launch of no arguments that recomputes ``out`` from the current values of ``inputs``."""

    def prepare(self, inputs: Sequence, shape: tuple[int, ...], out: Sequence | None) -> Prepared | None:
        """The call on arguments laid out as these, its choices made once; None where it cannot be kept."""


class Backend(Protocol):
    """Turns a fused graph into source, source into a ``Kernel``, and arguments into what it reads."""

    name: str  # the registry's name for it
    hoists: bool  # whether a call with single-value inputs gets a kernel that works on those once (hoist.py)
    hoist_from: int  # the fewest elements of a call whose single-value inputs' work is hoisted
    array_type: type  # the arrays its kernels read and write
    variant: str  # what, besides the plan, shapes its source on this machine (part of a stored plan's key)

    def check_arguments(self, inputs: int, outputs: int) -> None:
        """Refuse, before anything is traced, a function of more inputs and outputs than its kernels can take."""

    def source(self, fused: FusedGraph, descriptions: list[str], hoisted: Hoisted | None = None) -> str: ...

    def computes_alike(self, base: str, hoisted: str) -> bool:
        """Whether the hoisted source computes every value as the base source does (only asked when ``hoists``)."""

    def load(self, source: str, outputs: int, dtype: str) -> Kernel: ...

    def read(self, name: str, value: Any) -> Any:
        """Input ``name``'s value as an array this backend reads (checked: real numbers)."""

    def cast(self, array: Any, dtype: str) -> Any: ...

    def signature(self, value: Any) -> Hashable | None:
        """What a call's checks depend on in ``value``; None: check it in full at every call."""

    def check_placement(self, outputs: Sequence) -> None: ...

    def to_host(self, array: Any) -> Any: ...

    def finisher(self, values: Sequence) -> Callable[[list], list]:
        """What turns the kernel's outputs into the caller's results."""


@dataclass(frozen=True)
class Entry:
    """One registered backend and the device names that select it."""

    name: str  # the backend's name, e.g. "c"
    implementation: str  # "module:Class", imported on first use; Class(index) when ``indexed`` else Class()
    device: str  # the device name, e.g. "cpu"; "cuda" is "cuda:0", "cuda:N" when ``indexed``
    aliases: tuple[str, ...] = ()  # other spellings of ``device``, e.g. "gpu"
    indexed: bool = False  # devices are numbered (one backend object per device)
    status: str | None = None  # "module:function" -> (count, reason); None: always there, one device
    detail: str = ""  # what devices() says of a device without status

    def spellings(self) -> list[str]:
        """How a user names its devices, for messages: ['cuda', 'cuda:N']."""
        return [repr(self.device), f"'{self.device}:N'"] if self.indexed else [repr(self.device)]

    def backend(self, index: int = 0) -> Backend:
        """A backend object for device ``index``: the class is imported here, on first use."""
        kind = _resolve(self.implementation)
        return kind(index) if self.indexed else kind()

    def pattern(self) -> str:
        names = "|".join(re.escape(n) for n in (self.device, *self.aliases))
        return rf"(?:{names}):?(\d*)" if self.indexed else rf"(?:{names})()"


@dataclass(frozen=True)
class DeviceName:
    """A parsed device name: the backend entry and the device's index (0 where not numbered)."""

    entry: Entry
    index: int

    @property
    def text(self) -> str:
        """The canonical name: "cpu", "cuda:1"."""
        return f"{self.entry.device}:{self.index}" if self.entry.indexed else self.entry.device

    def backend(self) -> Backend:
        return self.entry.backend(self.index)


_REGISTRY: dict[str, Entry] = {}
HOST = "c"  # the backend that runs where nothing else can, and that a fallback uses


def register(name: str, implementation: str, *, device: str, aliases: Sequence[str] = (), indexed: bool = False,
             status: str | None = None, detail: str = "") -> Entry:
    """Add (or replace) the backend ``name``: its class as ``"module:Class"`` and its device names."""
    if ":" not in implementation:
        raise ValueError(f"implementation must read 'module:Class', not {implementation!r}")
    taken = {n for e in _REGISTRY.values() if e.name != name for n in (e.device, *e.aliases)}
    if {device, *aliases} & taken or device == "auto":
        raise ValueError(f"device name {device!r} is taken")
    entry = Entry(name, implementation, device, tuple(aliases), indexed, status, detail)
    _REGISTRY[name] = entry
    return entry


def unregister(name: str) -> None:
    """Remove the backend ``name`` (the host backend stays)."""
    if name != HOST:
        _REGISTRY.pop(name, None)


def names() -> tuple[str, ...]:
    """The registered backends' names, in registration order."""
    return tuple(_REGISTRY)


def entries() -> tuple[Entry, ...]:
    return tuple(_REGISTRY.values())


def entry(name: str) -> Entry:
    """The backend registered as ``name``, or DeviceError listing those there are."""
    found = _REGISTRY.get(name)
    if found is None:
        raise DeviceError(f"unknown backend {name!r}: available backends are {_listed(names())}")
    return found


def backend(name: str) -> Backend:
    """A backend object of ``name`` (its first device), usable without that device: for source code."""
    return entry(name).backend(0)


def array_module(name: str) -> Any:
    """The array module of backend ``name``'s device arrays (CuPy for "cuda"): for the modules
    outside this folder that make or wrap device arrays (adapters, structured), which go through
    the registry, never a backend module."""
    return backend(name).array_module()


def host_device() -> str:
    """The host backend's device name ("cpu")."""
    return entry(HOST).device


def parse_device(text: str) -> DeviceName | None:
    """``text`` ("cpu", "cuda", "cuda:1", "gpu0") as a DeviceName; None for "auto"; DeviceError otherwise."""
    if text == "auto":
        return None
    for candidate in _REGISTRY.values():
        match = re.fullmatch(candidate.pattern(), text)
        if match:
            return DeviceName(candidate, int(match.group(1) or 0))
    raise DeviceError(f"unknown device {text!r}: use {device_spellings()}")


def is_device_name(text: str) -> bool:
    """Whether ``text`` names a device ("auto" included): for configuration checks."""
    try:
        parse_device(text)
    except DeviceError:
        return False
    return True


def device_spellings() -> str:
    """'auto', 'cpu', 'cuda' or 'cuda:N': every way to name a device, for messages."""
    return _listed(["'auto'", *(s for e in _REGISTRY.values() for s in e.spellings())], "or")


def status(found: Entry) -> tuple[int, str]:
    """How many devices of ``found`` there are here, and what was found or why none."""
    if found.status is None:
        return 1, found.detail
    return _resolve(found.status)()


def _resolve(reference: str) -> Any:
    module, _, attribute = reference.partition(":")
    return getattr(importlib.import_module(module), attribute)


def _listed(items: Sequence[str], last: str = "and") -> str:
    """"a, b and c" (or, with ``last="or"``, "a, b or c")."""
    items = list(items)
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {last} {items[-1]}"


register("c", "elemgrad_gpu.backends.c.backend:CBackend", device="cpu", detail="compiled C (NumPy ufunc loop)")
register("cuda", "elemgrad_gpu.backends.cuda.backend:CudaBackend", device="cuda", aliases=("gpu",), indexed=True,
         status="elemgrad_gpu.backends.cuda.backend:status")

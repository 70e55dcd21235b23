"""Choose a device: where a compiled function runs and which backend generates its code.

Device names are parsed once, by the backend registry (``elemgrad_gpu.backends``), which
also says which backend each name selects. ``device="auto"`` (the default) takes
``[global] device`` from THEANORC/THEANO_FLAGS when set, else the first device of a
backend that reports one (a GPU), else the host backend (the CPU), and says which once
in the log. An explicit device that is not there raises DeviceError saying what is
missing (CuPy, driver, device). ``devices()`` lists what is available and why not.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cache

from elemgrad_gpu import backends
from elemgrad_gpu.backends import Backend, DeviceName
from elemgrad_gpu.config import setting
from elemgrad_gpu.errors import DeviceError

log = logging.getLogger("elemgrad_gpu")


@dataclass(frozen=True)
class Device:
    name: str  # "cpu" or "cuda:N"
    backend: Backend
    automatic: bool  # chosen by "auto": may fall back to the host backend


def devices() -> list[dict[str, object]]:
    """What is available: each device with its backend, and why not where it is not."""
    listed = []
    for entry in backends.entries():
        count, reason = backends.status(entry)
        if not count:
            listed.append({"device": entry.device, "backend": entry.name, "available": False, "detail": reason})
        for index in range(count):
            name = DeviceName(entry, index).text
            listed.append({"device": name, "backend": entry.name, "available": True, "detail": reason})
    return listed


def select_device(device: str = "auto") -> Device:
    """The Device for ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` (any name the registry knows)."""
    if not isinstance(device, str):
        raise DeviceError(f"device must be a string such as 'auto', 'cpu' or 'cuda', not {device!r}")
    name = device.strip().lower()
    if name == "auto":
        name = (setting("global", "device") or "auto").lower()
    parsed = backends.parse_device(name)
    if parsed is None:
        chosen, reason = automatic()
        _announce(chosen.name, reason)
        return chosen
    count, reason = backends.status(parsed.entry)
    if parsed.index >= count:
        kind = parsed.entry.name.upper()
        missing = reason if not count else (f"there is one {kind} device, {backends.DeviceName(parsed.entry, 0).text}"
                                            if count == 1 else f"there are {count} {kind} devices") + f" ({reason})"
        raise DeviceError(f"device {device!r} is not available: {missing}. Use device='auto' or "
                          f"{backends.host_device()!r} to run on the CPU.")
    return Device(parsed.text, parsed.backend(), automatic=False)


def automatic() -> tuple[Device, str]:
    """What "auto" picks, and why: the first device of a backend that reports some, else the host's."""
    reasons = []
    for entry in backends.entries():
        if entry.status is None:
            continue
        count, reason = backends.status(entry)
        if count:
            return Device(DeviceName(entry, 0).text, entry.backend(0), True), reason
        reasons.append(reason)
    host = backends.entry(backends.HOST)
    return Device(host.device, host.backend(), True), "; ".join(reasons) or host.detail


@cache
def _announce(name: str, reason: str) -> None:
    log.info("elemgrad_gpu: device='auto' runs on %s (%s)", name, reason)

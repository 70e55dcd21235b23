"""Choose a device: where a compiled function runs and which backend generates its code.

``device="auto"`` (the default) takes ``[global] device`` from THEANORC/THEANO_FLAGS when
set, else the first GPU when CuPy sees one, else the CPU C backend, and says which once
in the log. An explicit ``"cuda"``/``"cuda:N"`` where there is none raises DeviceError
saying what is missing (CuPy, driver, device). ``devices()`` lists what is available and
why not.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import cache
from typing import Union

from elemgrad_gpu.backends.c.backend import CBackend
from elemgrad_gpu.backends.cuda.backend import CudaBackend, cupy
from elemgrad_gpu.config import setting
from elemgrad_gpu.errors import DeviceError

log = logging.getLogger("elemgrad_gpu")
Backend = Union[CBackend, CudaBackend]


@dataclass(frozen=True)
class Device:
    name: str  # "cpu" or "cuda:N"
    backend: Backend
    automatic: bool  # chosen by "auto": may fall back to the CPU


@dataclass(frozen=True)
class CudaStatus:
    count: int
    reason: str  # what was found, or why nothing was


@cache
def cuda_status() -> CudaStatus:
    """How many CUDA devices CuPy sees, and why none when it sees none."""
    try:
        cp = cupy()
    except ImportError:
        return CudaStatus(0, "CuPy is not installed (pip install 'elemgrad_gpu[cuda12]' or '[cuda13]')")
    try:
        count = cp.cuda.runtime.getDeviceCount()
    except Exception as error:  # noqa: BLE001 - CuPy raises driver-specific errors
        return CudaStatus(0, f"CuPy is installed but found no usable CUDA driver or device ({error})")
    if not count:
        return CudaStatus(0, "CuPy and the driver are there, but no CUDA device is visible")
    names = [cp.cuda.runtime.getDeviceProperties(i)["name"].decode() for i in range(count)]
    return CudaStatus(count, ", ".join(f"cuda:{i} {n}" for i, n in enumerate(names)))


def devices() -> list[dict[str, object]]:
    """What is available: each device with its backend, and why not where it is not."""
    status = cuda_status()
    listed = [{"device": "cpu", "backend": "c", "available": True, "detail": "compiled C (NumPy ufunc loop)"}]
    if status.count:
        listed += [{"device": f"cuda:{i}", "backend": "cuda", "available": True, "detail": status.reason}
                   for i in range(status.count)]
    else:
        listed.append({"device": "cuda", "backend": "cuda", "available": False, "detail": status.reason})
    return listed


_CUDA = re.compile(r"(?:cuda|gpu):?(\d*)")


def select_device(device: str = "auto") -> Device:
    """The Device for ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``."""
    if not isinstance(device, str):
        raise DeviceError(f"device must be a string such as 'auto', 'cpu' or 'cuda', not {device!r}")
    name = device.strip().lower()
    if name == "auto":
        name = (setting("global", "device") or "auto").lower()
    if name == "cpu":
        return Device("cpu", CBackend(), automatic=False)
    if name == "auto":
        status = cuda_status()
        chosen = Device("cuda:0", CudaBackend(0), True) if status.count else Device("cpu", CBackend(), True)
        _announce(chosen.name, status.reason)
        return chosen
    match = _CUDA.fullmatch(name)
    if not match:
        raise DeviceError(f"unknown device {device!r}: use 'auto', 'cpu', 'cuda' or 'cuda:N'")
    index = int(match.group(1) or 0)
    status = cuda_status()
    if index >= status.count:
        missing = status.reason if not status.count else f"there are {status.count} CUDA devices ({status.reason})"
        raise DeviceError(f"device {device!r} is not available: {missing}. Use device='auto' or 'cpu' to run "
                          f"on the CPU.")
    return Device(f"cuda:{index}", CudaBackend(index), automatic=False)


@cache
def _announce(name: str, reason: str) -> None:
    log.info("elemgrad_gpu: device='auto' runs on %s (%s)", name, reason)


def backend(name: str) -> Backend:
    """The code generator called ``name`` ("c" or "cuda"), usable without a GPU."""
    if name == "c":
        return CBackend()
    if name == "cuda":
        return CudaBackend()
    raise DeviceError(f"unknown backend {name!r}: available backends are c and cuda")

"""Choose a device: where a compiled function runs and which backend generates its code.

``"auto"`` picks the best device available; this version has the CPU C backend only,
and the CUDA backend plugs in here (a Device with another backend) without touching
the builder, the verifier or the fuser.
"""
from __future__ import annotations

from dataclasses import dataclass

from elemgrad_gpu.backend_c import CBackend
from elemgrad_gpu.errors import ElemgradError


class DeviceError(ElemgradError, ValueError):
    """A device that is unknown or not available here."""


@dataclass(frozen=True)
class Device:
    name: str
    backend: CBackend


_BACKENDS = {"c": CBackend()}


def select_device(device: str) -> Device:
    """The Device for ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``."""
    if not isinstance(device, str):
        raise DeviceError(f"device must be a string such as 'auto', 'cpu' or 'cuda', not {device!r}")
    name = device.strip().lower()
    if name in ("auto", "cpu"):
        return Device("cpu", _BACKENDS["c"])
    if name == "cuda" or name.startswith("cuda:") or name.startswith("gpu"):
        raise DeviceError(
            f"device {device!r} is not available: this version of elemgrad_gpu has no CUDA backend yet "
            f"(it runs on the CPU with compiled C). Use device='auto' or device='cpu'."
        )
    raise DeviceError(f"unknown device {device!r}: use 'auto', 'cpu', 'cuda' or 'cuda:N'")


def backend(name: str) -> CBackend:
    """The code generator called ``name`` ("c")."""
    try:
        return _BACKENDS[name]
    except KeyError:
        raise DeviceError(f"unknown backend {name!r}: available backends are {', '.join(_BACKENDS)}") from None

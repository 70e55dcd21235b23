"""Where the C sources in the top-level ``kernels/`` folder are found at run time."""
from __future__ import annotations

import importlib.resources
from pathlib import Path


def kernel_path(name: str) -> Path:
    """Path of the kernel source file ``name``.

    Installed, ``kernels/`` is the package ``elemgrad_gpu.kernels``; in a source checkout
    it is the ``kernels/`` folder at the repository root.
    """
    try:
        return Path(str(importlib.resources.files("elemgrad_gpu.kernels") / name))
    except ModuleNotFoundError:
        return Path(__file__).resolve().parent.parent / "kernels" / name

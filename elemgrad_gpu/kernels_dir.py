"""Where the C sources in the top-level ``kernels/`` folder are found at run time."""
from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def kernel_path(name: str) -> Path:
    """Path of the kernel source file ``name``.

    Installed, ``kernels/`` is the package ``elemgrad_gpu.kernels``, inside this package's
    folder; in a source checkout (and an editable install) it is the ``kernels/`` folder
    at the repository root. (Not through importlib.resources, whose import alone costs
    a new process 2 ms: the kernels are plain files next to the package either way.)
    """
    installed = _PACKAGE / "kernels" / name
    return installed if installed.exists() else _PACKAGE.parent / "kernels" / name

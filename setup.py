"""elemgrad_gpu: verified elementwise derivatives, fused into one compiled kernel."""
from pathlib import Path

from setuptools import find_packages, setup

DASK = ["dask[array]>=2024.8", "distributed>=2024.8", "xarray>=2024.7", "zarr>=3", "cloudpickle>=3"]

setup(
    name="elemgrad_gpu",
    version="0.1.0",
    description="Exact elementwise derivatives (dy_i/dx_i, higher orders, partials) as one fused compiled kernel",
    long_description=Path(__file__).with_name("README.md").read_text(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    packages=find_packages(include=["elemgrad_gpu", "elemgrad_gpu.*"]),
    # The kernel templates live next to the code that fills them (backends/c, backends/cuda, graph).
    package_data={"elemgrad_gpu": ["*/*.c", "*/*.cc", "*/*.h", "*/*/*.c", "*/*/*.cu", "*/*/*.h"]},
    install_requires=["pytensor>=2.38.2,<4", "numpy>=1.26", "scipy>=1.10", "tqdm>=4.60"],
    entry_points={"console_scripts": ["elemgrad = elemgrad_gpu.cli.main:main"]},
    extras_require={
        "cuda12": ["cupy-cuda12x>=13"],
        "cuda13": ["cupy-cuda13x>=13"],
        "plot": ["matplotlib>=3.7"],
        # PyMC models with fn.as_op(): PyMC 5 (PyTensor 2.38) on Python 3.11, PyMC 6 (PyTensor 3) from 3.12
        "pymc": ["pymc>=5.28"],
        # Dask arrays in, a Dask cluster (elemgrad eval --scheduler), xarray's apply_ufunc, Zarr files in the CLI
        "dask": DASK,
        # fn.to_jax(): the kernel as a differentiable JAX function (XLA FFI; a C++ compiler builds its handler)
        "jax": ["jax>=0.5"],
        # fn.to_torch(): the kernel as a PyTorch custom op (torch.library.Library define/impl, register_fake/register_autograd)
        "torch": ["torch>=2.4"],
        # NVRTC (no GPU needed) lets the tests compile every generated CUDA kernel.
        # pytest-xdist: the suite runs on every core (pytest -n auto), within CI's time
        "test": ["pytest>=8", "pytest-benchmark>=4", "pytest-xdist>=3", "sympy>=1.12", "mpmath>=1.3", "hypothesis>=6", "matplotlib>=3.7",
                 "nvidia-cuda-nvrtc-cu12>=12.4", "cuda-bindings>=12.4,<13", "jax>=0.5", *DASK],
    },
    license="BSD-3-Clause",
)

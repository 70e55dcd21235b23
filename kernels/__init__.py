"""C sources of elemgrad_gpu's scalar kernels (packaged as ``elemgrad_gpu.kernels``)."""

"""The CUDA backend: NVRTC-compiled grid-stride kernels through CuPy (template: elemwise.cu)."""

"""Adapters: a compiled function inside the frameworks users work in (PyTensor and PyMC: pytensor_op.py;
JAX: jax_primitive.py with its XLA FFI handler jax_ffi.cc; PyTorch: torch_op.py; Dask arrays: dask_arrays.py).
JAX and PyTorch are optional: their modules are imported only by fn.to_jax() and fn.to_torch()."""

"""Adapters: a compiled function inside the frameworks users work in (PyTensor and PyMC: pytensor_op.py)."""

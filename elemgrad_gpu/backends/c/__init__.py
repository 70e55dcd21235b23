"""The CPU backend: compiled C, a NumPy ufunc of our own loop (template: elemwise.c)."""

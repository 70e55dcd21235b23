"""Backends: each turns a fused graph into source and source into a kernel (c/ on the CPU, cuda/ on a GPU)."""

"""Structured Jacobians: exact derivatives of functions that are not elementwise.

``jacobian_diagonal`` proves the sparsity pattern of dy/dx from the graph (``prove.py``,
``ops.py``, ``pattern.py``), applies an exact rule where the diagonal has a closed form
(``rules.py``), computes a stencil-like f in one pass of our own fused kernels, one
scalar formula per box of indices (``regions.py``, ``region_ops.py``, ``stencil.py``,
``stencil_run.py``), else colours the columns for the diagonal only (``colouring.py``) and
computes it with one forward pass per colour (``plan.py``, ``diagonal.py``).
``jacobian_blocks`` proves a function row-local along an axis (``rowlocal.py``) and
computes its per-row Jacobian blocks in one compiled call (``blocks.py``).
See docs/STRUCTURED.md. Nothing here imports PyTensor until a function is planned.
"""
from elemgrad_gpu.structured.blocks import BlockJacobian, jacobian_blocks
from elemgrad_gpu.structured.diagonal import DiagonalFunction, jacobian_diagonal

__all__ = ["jacobian_diagonal", "DiagonalFunction", "jacobian_blocks", "BlockJacobian"]

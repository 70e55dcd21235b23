"""Structured Jacobians of functions that are not elementwise: per-row blocks (and the diagonal)."""
from elemgrad_gpu.structured.blocks import BlockJacobian, jacobian_blocks

__all__ = ["BlockJacobian", "jacobian_blocks"]

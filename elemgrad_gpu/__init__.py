"""elemgrad_gpu: verified elementwise derivatives, fused into one compiled kernel.

    >>> import numpy as np, elemgrad_gpu as eg
    >>> f = eg.compile(lambda x, mu: eg.exp(-(x - mu) ** 2), derivatives=[(), ("x",), ("mu",)])
    >>> value, d_x, d_mu = f(np.linspace(-1, 1, 5), 0.5)
    >>> bool(np.allclose(d_x, -d_mu))
    True
"""
from elemgrad_gpu.api import compile, elementwise_grad
from elemgrad_gpu.errors import (CacheError, CompileError, ConfigError, DeviceError, DeviceMemoryError, ElemgradError,
                                 ExpressionError, GeneratedCodeError, InputError, InputTypeError, InternalError,
                                 NotElementwiseError, StructureError, ToolchainError, WrongDeviceError)
from elemgrad_gpu.runtime.device import devices
from elemgrad_gpu.runtime.function import ElementwiseFunction
from elemgrad_gpu.structured import BlockJacobian, DiagonalFunction, jacobian_blocks, jacobian_diagonal
from elemgrad_gpu.expr.language import ALIASES as _ALIASES, ARITY as _ARITY, CONSTANTS as _CONSTANTS

__version__ = "0.1.0"
_MATH = (*sorted(_ARITY), *sorted(_ALIASES), *_CONSTANTS)  # the expression language's math functions, eg.tanh etc.
_NOT_STARRED = ("max", "min")  # eg.max and eg.min, kept out of ``import *``: they would hide Python's own
__all__ = ["compile", "elementwise_grad", "devices", "ElementwiseFunction", "NotElementwiseError", "ElemgradError",
           "ExpressionError", "InputError", "InputTypeError", "CompileError", "DeviceError", "DeviceMemoryError",
           "ConfigError", "WrongDeviceError", "InternalError", "ToolchainError", "CacheError", "GeneratedCodeError",
           "jacobian_diagonal", "DiagonalFunction", "StructureError", "jacobian_blocks", "BlockJacobian",
           *(name for name in _MATH if name not in _NOT_STARRED)]


def __getattr__(name: str):
    """The math functions, loaded (with PyTensor) on first use: a cached kernel needs neither."""
    if name in _MATH:
        from elemgrad_gpu.graph import functions

        return getattr(functions, name)
    raise AttributeError(f"module 'elemgrad_gpu' has no attribute {name!r}")

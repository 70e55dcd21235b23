"""Run: read the call's arguments as arrays of one dtype, the same for every backend.

Python numbers are weak (they take the dtype of the arrays they meet, as in NumPy 2 and
JAX); float32 arrays (and float16) compute in float32; anything else real (float64,
integer, bool) in float64. Complex, string and object inputs are refused. An array
that already has the dtype is used as it is: never copied, never modified.
"""
from __future__ import annotations

from typing import Any, Callable, Hashable, Sequence

import numpy as np

from elemgrad_gpu.errors import InputError, InputTypeError

ACCEPTED_KINDS = "fiub"  # floating, integer, unsigned integer, boolean
WEAK = (int, float, bool)  # Python numbers: they take the dtype of the arrays they meet
NUMBERS = (int, float, np.generic)  # single values, Python's or NumPy's (no device interface to ask)
DTYPES = {name: np.dtype(name) for name in ("float32", "float64")}


def check_kind(name: str, dtype: np.dtype) -> None:
    if dtype.kind not in ACCEPTED_KINDS:
        raise InputTypeError(f"input {name!r} has dtype {dtype}; elementwise derivatives need real numbers "
                             f"(float, integer or bool arrays)")


def prepare(names: Sequence[str], values: Sequence[Any], fixed: str | None,
            read: Callable[[str, Any], Any], default: Callable[[], str]) -> tuple[list, str]:
    """The inputs as read by ``read`` (not yet cast), and the computation dtype.

    ``default()`` gives the dtype when only Python numbers are given (``[global] floatX``).
    """
    arrays, strong, small = [], False, True
    for name, value in zip(names, values):
        array = read(name, value)
        if type(value) not in WEAK:
            strong = True
            small = small and array.dtype.kind == "f" and array.dtype.itemsize <= 4
        arrays.append(array)
    return arrays, fixed or (("float32" if small else "float64") if strong else default())


def read_host(name: str, value: Any) -> np.ndarray:
    """``value`` as a NumPy array (no copy when it is one)."""
    if type(value) is np.ndarray and value.dtype.kind == "f":
        return value
    if hasattr(value, "__cuda_array_interface__") or type(value).__module__.startswith("cupy"):
        raise InputTypeError(f"input {name!r} is a GPU array but this function runs on the CPU: pass a NumPy "
                             f"array, or compile with device='cuda'")
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as error:
        raise InputTypeError(f"input {name!r} cannot be read as a numeric array: {error}") from None
    check_kind(name, array.dtype)
    return array


def host_signature(value: Any) -> Hashable | None:
    """What reading, casting and checking ``value`` on the CPU depends on (see ``known_calls.signature``).

    A NumPy array's dtype, shape, strides (with the shape: C-contiguity) and flags that
    matter (aligned, writeable); a number's type. None for anything else: checked again
    at every call.
    """
    kind = type(value)
    if kind is np.ndarray:
        flags = value.flags
        return value.dtype, value.shape, value.strides, flags.aligned, flags.writeable
    return kind if isinstance(value, NUMBERS) else None


def unchanged(outputs: list) -> list:
    """The kernel's outputs, handed back as computed."""
    return outputs


def cast_host(array: np.ndarray, dtype: str) -> np.ndarray:
    """An aligned array of ``dtype``: the caller's own array when it already is one."""
    if array.dtype == DTYPES[dtype] and array.flags.aligned:
        return array
    array = np.asarray(array, dtype=dtype)
    return array if array.flags.aligned else array.copy()


def broadcast_shape(names: Sequence[str], arrays: Sequence) -> tuple[int, ...]:
    """The shape the inputs broadcast to, or an InputError naming each input's shape."""
    shapes = {tuple(a.shape) for a in arrays} - {()}
    if len(shapes) <= 1:  # one shape, or none: all 0-d
        return shapes.pop() if shapes else ()
    try:
        return np.broadcast_shapes(*shapes)
    except ValueError:
        listed = ", ".join(f"{n} {tuple(a.shape)}" for n, a in zip(names, arrays))
        raise InputError(f"the inputs' shapes do not broadcast together: {listed}") from None


def check_outputs(out: Any, count: int, shape: tuple[int, ...], dtype: str, array_type: type) -> list:
    """``out`` as a list of ``count`` writeable C-contiguous arrays of ``shape`` and ``dtype``."""
    outputs = [out] if count == 1 and isinstance(out, array_type) else list(out)
    if len(outputs) != count:
        raise InputError(f"out= holds {len(outputs)} arrays but the function returns {count}")
    for k, array in enumerate(outputs):
        if not isinstance(array, array_type):
            raise InputTypeError(f"out[{k}] must be a {array_type.__module__}.{array_type.__name__}, "
                                 f"not {type(array).__name__}")
        if tuple(array.shape) != shape or array.dtype != DTYPES[dtype] or not array.flags.c_contiguous \
                or isinstance(array, np.ndarray) and not array.flags.writeable:  # CuPy arrays always are
            raise InputError(f"out[{k}] must be a writeable C-contiguous {dtype} array of shape {shape}; "
                             f"got {array.dtype} {tuple(array.shape)}")
    return outputs

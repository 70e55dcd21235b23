"""A compiled function as a JAX-traceable function: ``fn.to_jax()``, differentiable to any order.

``f = eg.compile("tanh(x)**2", orders=0).to_jax()`` gives a function of JAX arrays that:

* runs the fused kernel through ``jax.ffi.ffi_call`` on XLA's own buffers, in place (no copy,
  no host callback): one generic XLA FFI target (``jax_ffi.cc``, compiled once per machine
  into the kernel cache, HMAC-verified as the kernels are) whose CPU handler calls the
  kernel's C loop, and whose CUDA handler, for a function compiled for a GPU, launches its
  NVRTC-compiled kernels on XLA's stream (the driver loaded at run time: the library builds
  without CUDA). The
  jitted program names the kernel by a key (a hash of its source), never by an address: the
  handler library looks the key up in a table filled here, when the function is traced;
* broadcasts its inputs to the output shape first (``jnp.broadcast_to``: XLA materializes
  it), except one-value inputs (scalar parameters), which the loop reads with step 0, also
  under ``jax.vmap`` (where they become (B, 1, ...): read once per row); the broadcast's
  transpose sums the gradients of scalar parameters, as for any JAX function;
* is a ``jax.custom_jvp``: the tangent of output ``d^I f`` is ``sum_j t_j * d^{I+(j,)} f``,
  computed by the function of the next order (``fn.differentiated``, itself made a JAX
  function), so ``jax.grad``, ``jax.hessian``, ``jax.jvp`` work to any order; the next order
  proves f elementwise in each input first (NotElementwiseError otherwise). ``jax.vmap``
  works (elementwise: ``vmap_method="broadcast_all"``);
* computes in the function's dtype, else the inputs' common float dtype (integers: JAX's
  default float), float32 or float64; complex inputs are refused.

A function compiled for the CPU takes JAX arrays on the CPU; one compiled for a GPU takes
arrays on a GPU (one GPU: the function's); concrete arrays elsewhere are refused (DeviceError).
"""
from __future__ import annotations

import ctypes
import os
import platform
import shlex
import subprocess
import sysconfig
import threading
from pathlib import Path
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from elemgrad_gpu import cache
from elemgrad_gpu.errors import (CacheError, CompileError, DeviceError, InputError, InputTypeError,
                                 ToolchainError)

TARGET = "elemgrad_elementwise"
CUDA_KERNELS = ("eg_vectorized", "eg_contiguous", "eg_strided")  # the order eg_jax_register_cuda takes them
SOURCE = Path(__file__).with_name("jax_ffi.cc")
CXXFLAGS = ("-O2", "-std=c++17", "-shared", "-fPIC", "-w")
LIBRARY_LIMIT, DIGEST_LIMIT = 64 << 20, 1024  # size caps of what is read from the cache
_lock = threading.Lock()
_library: ctypes.CDLL | None = None
_registered: set[str] = set()


def to_jax(function: Any) -> Callable:
    """The JAX function of ``function`` (an ElementwiseFunction): see the module docstring."""
    if function.backend not in ("c", "cuda"):
        raise DeviceError(f"to_jax runs the kernel on XLA's CPU or CUDA GPU; this function runs on {function.device}: "
                          f"compile it with device='cpu' or device='cuda'")
    return JaxFunction(function)


class JaxFunction:
    """The callable ``fn.to_jax()`` returns: inputs in ``fn.inputs`` order, fn's outputs."""

    def __init__(self, function: Any):
        self.function = function
        self.inputs = function.inputs
        self.platform = "cpu" if function.backend == "c" else "gpu"  # JAX's name of where arrays must be
        self._derived: dict[tuple[int, ...], JaxFunction] = {}
        # the kernel computes each distinct derivative once (nested jvps repeat them: 16 outputs at
        # the fourth level of one input, 5 distinct); ``_pick`` places them in the outputs' order
        self._computed, self._pick = function.distinct()
        self._apply = jax.custom_jvp(self._kernel)
        self._apply.defjvp(self._jvp, symbolic_zeros=True)

    def __repr__(self) -> str:
        return f"<JAX function of {self.function!r}>"

    def __call__(self, *args):
        names = self.inputs
        if len(args) != len(names):
            raise InputError(f"this function takes {len(names)} inputs ({', '.join(names)}), got {len(args)}")
        arrays = [_as_array(name, a, self.platform) for name, a in zip(names, args)]
        dtype = self._dtype([a.dtype for a in arrays])
        try:
            shape = jnp.broadcast_shapes(*(a.shape for a in arrays))
        except ValueError:
            raise InputError(f"the inputs' shapes {', '.join(str(a.shape) for a in arrays)} do not broadcast") from None
        outputs = self._apply(*(_fitted(a.astype(dtype), shape) for a in arrays))
        return outputs[0] if self.function.n_outputs == 1 else tuple(outputs)

    def _dtype(self, dtypes: list) -> np.dtype:
        """The computation dtype: the function's, else the inputs' common float one."""
        wanted = self.function.dtype
        if wanted is None:
            common = jnp.result_type(*dtypes)
            wanted = common if jnp.issubdtype(common, jnp.floating) else jnp.result_type(float)
        wanted = np.dtype(wanted)
        if wanted not in (np.float32, np.float64):
            raise InputTypeError(f"the kernels compute in float32 or float64, not {wanted}")
        if wanted == np.float64 and not jax.config.jax_enable_x64:
            raise InputTypeError("this function computes in float64, but JAX has 64-bit types off: set "
                                 "jax.config.update('jax_enable_x64', True), or compile it with dtype='float32'")
        return wanted

    def _kernel(self, *arrays):
        """The fused kernel on arrays of one shape and dtype, through the FFI handler."""
        dtype = arrays[0].dtype
        computed = self._computed
        key = _load_kernel(computed, dtype.name) if self.platform == "cpu" else _load_cuda_kernel(computed, dtype.name)
        result = jax.ShapeDtypeStruct(jnp.broadcast_shapes(*(a.shape for a in arrays)), dtype)
        call = jax.ffi.ffi_call(TARGET, [result] * computed.n_outputs, vmap_method="broadcast_all")
        outputs = tuple(call(*arrays, kernel=key, n_inputs=np.int64(len(arrays)), n_outputs=np.int64(computed.n_outputs)))
        return outputs if self._pick is None else tuple(outputs[k] for k in self._pick)

    def derived(self, positions: tuple[int, ...]) -> JaxFunction:
        """The function's outputs and those of the next order in the inputs at ``positions``, in one
        kernel (one pass over memory for a value and its slopes), made a JAX function."""
        if positions not in self._derived:
            names = [self.inputs[j] for j in positions]
            self._derived[positions] = JaxFunction(self.function.differentiated(names, keep=True))
        return self._derived[positions]

    def _jvp(self, primals, tangents):
        """Output ``p``'s tangent: the sum over inputs ``j`` with a tangent of ``t_j * d_j out_p``."""
        moving = tuple(j for j, t in enumerate(tangents) if not isinstance(t, jax.custom_derivatives.SymbolicZero))
        if not moving:
            outputs = self._apply(*primals)
            return outputs, tuple(jnp.zeros_like(o) for o in outputs)
        both = self.derived(moving)._apply(*primals)
        per = len(self.function.derivatives)  # outputs per function of the source
        block = per * (1 + len(moving))  # per function of the source: its values, then per input its slopes
        outputs, result = [], []
        for p in range(self.function.n_outputs):
            base = (p // per) * block + p % per
            outputs.append(both[base])
            result.append(sum(tangents[j] * both[base + (1 + q) * per] for q, j in enumerate(moving)))
        return tuple(outputs), tuple(result)


def _fitted(array, shape: tuple):
    """``array`` for the kernel: one value as itself, of the outputs' rank (read with step 0,
    never materialized), any other broadcast to ``shape``."""
    if array.size == 1:
        return array.reshape((1,) * len(shape))
    return jnp.broadcast_to(array, shape)


def _as_array(name: str, value: Any, platform: str):
    """``value`` as a JAX array (or tracer), checked: real, and on ``platform`` ("cpu" or "gpu")
    where it is concrete."""
    try:
        array = jnp.asarray(value)
    except TypeError as error:
        raise InputTypeError(f"input {name!r} must be an array or a number: {error}") from None
    if jnp.issubdtype(array.dtype, jnp.complexfloating):
        raise InputTypeError(f"input {name!r} is complex ({array.dtype}); only real inputs are supported")
    if isinstance(array, jax.Array) and not isinstance(array, jax.core.Tracer):
        platforms = {d.platform for d in array.devices()}
        if platforms != {platform}:
            raise DeviceError(f"input {name!r} is on {', '.join(sorted(platforms))}; this function runs on the "
                              f"{platform.upper()}: put it there first (jax.device_put(x, jax.devices('{platform}')[0])), "
                              f"or compile the function with device='{'cpu' if platform == 'gpu' else 'cuda'}'")
    return array


def _load_kernel(function: Any, dtype: str) -> str:
    """Register the kernel's C loop for ``dtype`` with the handler library; its key."""
    kernel = function.c_kernel(dtype, 1)
    if kernel is None:
        raise InputError("this function computes extra inputs in Python at each call (a prelude), which an XLA "
                         "program cannot run; to_jax needs a function whose kernel alone computes it: call it "
                         "directly, or use it in PyTensor through fn.as_op()")
    key, entry = kernel
    with _lock:
        library = _handler()
        if key not in _registered:
            library.eg_jax_register(key.encode(), ctypes.c_void_p(entry))
            _registered.add(key)
    return key


def _load_cuda_kernel(function: Any, dtype: str) -> str:
    """Register the kernel's CUDA functions for ``dtype`` with the handler library; its key."""
    kernel = function.cuda_kernel(dtype, 1)
    if kernel is None:
        raise InputError("this function computes extra inputs in Python at each call (a prelude), which an XLA "
                         "program cannot run; to_jax needs a function whose kernel alone computes it")
    key, handles, threads, cap = kernel
    with _lock:
        library = _handler()
        if key not in _registered:
            library.eg_jax_register_cuda(key.encode(), *(ctypes.c_void_p(handles[name]) for name in CUDA_KERNELS),
                                         ctypes.c_int64(threads), ctypes.c_int64(cap))
            _registered.add(key)
    return key


def _handler() -> ctypes.CDLL:
    """The handler library: from the kernel cache, built on a miss; its target registered with JAX
    (once) for the CPU and for CUDA GPUs."""
    global _library
    if _library is None:
        library = _load_or_build()
        library.eg_jax_register.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
        library.eg_jax_register.restype = ctypes.c_int
        library.eg_jax_register_cuda.argtypes = [ctypes.c_char_p, *[ctypes.c_void_p] * 3, ctypes.c_int64,
                                                 ctypes.c_int64]
        library.eg_jax_register_cuda.restype = ctypes.c_int
        jax.ffi.register_ffi_target(TARGET, jax.ffi.pycapsule(library.EgElementwise), platform="cpu")
        jax.ffi.register_ffi_target(TARGET, jax.ffi.pycapsule(library.EgElementwiseCuda), platform="CUDA")
        _library = library
    return _library


def _compiler() -> list[str]:
    return shlex.split(os.environ.get("CXX") or "c++")[:1]


def _library_path() -> Path:
    """Where the library lives in the cache: named by its source, compiler, JAX headers, machine."""
    command = _compiler()
    try:
        version = subprocess.run([*command, "--version"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError) as error:
        raise ToolchainError(f"no working C++ compiler ({' '.join(command)}) to build the JAX handler: {error}; "
                             f"install g++ or set CXX") from None
    key = cache.name("jax-ffi", SOURCE.read_text(), " ".join(command + list(CXXFLAGS)), version, jax.__version__,
                     jax.ffi.include_dir(), platform.machine())
    return cache.directory("c") / f"egjax_{key}{sysconfig.get_config_var('SHLIB_SUFFIX') or '.so'}"


def _load_or_build() -> ctypes.CDLL:
    """Load the library after its MAC is checked (the kernel store's rules, cache.py), building it on a miss."""
    path = _library_path()
    descriptor = _verified(path)
    if descriptor is None:
        descriptor = _build(path)
    try:
        with cache.private_alias(descriptor, path) as alias:  # loads the very file that was checked
            return ctypes.CDLL(str(alias))
    except OSError as error:
        raise CompileError(f"the JAX handler library {path} cannot be loaded: {error}") from None
    finally:
        os.close(descriptor)


def _digest_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _verified(path: Path) -> int | None:
    """A descriptor of the library when it is this user's, closed to others' writes and matches
    its MAC; else None (missing, damaged, or written by someone else: rebuilt, never loaded)."""
    return cache.open_sealed(path, _digest_path(path), LIBRARY_LIMIT, DIGEST_LIMIT)[0]


def _build(path: Path) -> int:
    """Compile the handler into ``path``, then its MAC beside it (each atomically); a read-only
    descriptor of the new library, opened before it was moved into place."""
    import tempfile

    try:
        with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
            so_file = Path(tmp) / path.name
            command = [*_compiler(), *CXXFLAGS, f"-I{jax.ffi.include_dir()}", "-o", str(so_file), str(SOURCE)]
            result = subprocess.run(command, capture_output=True, text=True)
            if result.returncode:
                raise ToolchainError(f"the C++ compiler failed on the JAX handler:\n{' '.join(command)}\n"
                                     f"{result.stderr[-4000:]}")
            descriptor = os.open(so_file, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
            try:
                digest = cache.seal(path, cache.chunks(descriptor, LIBRARY_LIMIT))
                cache.place(so_file, path)
                cache.write(_digest_path(path), digest.encode())
            except BaseException:
                os.close(descriptor)
                raise
    except OSError as error:
        raise CacheError(f"cannot write the JAX handler into the kernel cache at {path.parent}: {error}") from None
    return descriptor

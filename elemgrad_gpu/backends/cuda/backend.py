"""The GPU backend: the fused kernel as CUDA, compiled by NVRTC through CuPy.

CuPy (the maintained successor of pygpu/libgpuarray: NVRTC-compiled kernels on device
arrays) is an optional dependency, imported only here and only when a GPU is used.
CuPy caches compiled modules on disk, keyed by source, options and GPU architecture
(``CUPY_CACHE_DIR``, default ``~/.cupy/kernel_cache``).

Inputs: NumPy arrays and Python numbers are copied to the device and the results come
back as NumPy arrays; CuPy arrays stay on the device and results are CuPy arrays; any
array with ``__cuda_array_interface__`` or ``__dlpack__`` on the GPU (PyTorch, JAX) is
taken without copying.

Launches: a call's kernel, grid and leading arguments are chosen once per layout of its
arrays (``PreparedLaunch``) and, where CuPy exposes the driver's ``cuLaunchKernel``,
packed once into an argument buffer (``Packed``): a repeated call writes its arrays'
addresses and launches. A call of HOIST_FROM elements or more with single-value inputs
first runs ``eg_once``, which computes what depends on those alone (``Once``).

A function compiled for ``cuda:N`` runs on GPU N whatever GPU is current, and refuses
arrays on another GPU (``WrongDeviceError``) before any launch.

Out of GPU memory (allocating the outputs, copying host inputs over, casting, the buffer
of hoisted values), a call raises ``DeviceMemoryError`` naming the size it asked for and
what is free, after releasing what it had allocated and freeing CuPy's cached blocks.
"""
from __future__ import annotations

import ctypes
import math
import shlex
import threading
from contextlib import AbstractContextManager, nullcontext
from functools import cache, cached_property, partial
from typing import TYPE_CHECKING, Any, Callable, Hashable, NamedTuple, Sequence

import numpy as np

from elemgrad_gpu import arrays
from elemgrad_gpu.config import setting
from elemgrad_gpu.errors import DeviceMemoryError, InputError, InputTypeError, WrongDeviceError

if TYPE_CHECKING:
    from elemgrad_gpu.backends import Prepared
    from elemgrad_gpu.graph.fuse import FusedGraph
    from elemgrad_gpu.graph.hoist import Hoisted

# The launch shape, unless [elemgrad] cuda_threads and cuda_blocks_per_sm say otherwise: blocks of
# 128 threads, as many as the work needs (no cap per SM), each thread doing one 16-byte step: the
# shape benchmarks/gpu_launch.py found best (its numbers: docs/PERFORMANCE.md, Measurements behind the code).
THREADS = 128
BLOCKS_PER_SM = 0  # 0: no cap
MAX_BLOCKS = 2 ** 31 - 1  # CUDA's limit on a grid's x dimension; beyond it the threads loop
VECTOR_BYTES = 16  # eg_vectorized's loads and stores
SCALARS_KEPT = 64  # one-element host inputs kept on the device per function (see CudaBackend.cast)
# --fmad=false: a*b+c rounds twice, as NumPy and the CPU backend (-ffp-contract=off) compute it, and as
# a kernel with hoisted values must (a product hoisted out of a*b+c cannot be fused with the sum).
NVRTC_OPTIONS = ("-std=c++17", "--fmad=false")
# Hoisting adds a launch of eg_once (about a launch's host time, and a few microseconds of the
# device's) to save per-element work worth a few percent of a memory-bound pass: done from 2^22
# elements, where that pass takes tens of microseconds. An estimate to be measured on a device
# (docs/PERFORMANCE.md, GPU: what is left to measure).
HOIST_FROM = 2 ** 22
ONE, ZERO = np.int64(1), np.int64(0)  # a contiguous input's step, a scalar's


@cache
def cupy():
    """The cupy module (ImportError when it is not installed)."""
    import cupy as cp

    return cp


@cache
def status() -> tuple[int, str]:
    """How many CUDA devices CuPy sees, and which, or why none (the registry's status of "cuda")."""
    try:
        cp = cupy()
    except ImportError:
        return 0, "CuPy is not installed (pip install 'elemgrad_gpu[cuda12]' or '[cuda13]')"
    try:
        count = cp.cuda.runtime.getDeviceCount()
    except Exception as error:  # noqa: BLE001 - CuPy raises driver-specific errors
        return 0, f"CuPy is installed but found no usable CUDA driver or device ({error})"
    if not count:
        return 0, "CuPy and the driver are there, but no CUDA device is visible"
    names = [cp.cuda.runtime.getDeviceProperties(i)["name"].decode() for i in range(count)]
    return count, ", ".join(f"cuda:{i} {n}" for i, n in enumerate(names))


def merge_dimensions(shape: Sequence[int], strides: Sequence[Sequence[int]]) -> tuple[list[int], list[list[int]]]:
    """Merge adjacent dimensions that every input walks as one (outputs are C-contiguous).

    ``strides`` holds each input's strides over ``shape`` (0 where broadcast). Returns
    the merged shape (at least one dimension) and the strides over it; contiguous
    inputs and scalars end up as one flat dimension.
    """
    dims: list[int] = []
    merged: list[list[int]] = [[] for _ in strides]
    for d, extent in enumerate(shape):
        if extent == 1:
            continue  # a length-1 axis moves no pointer
        if dims and all(m[-1] == s[d] * extent for m, s in zip(merged, strides)):
            dims[-1] *= extent
            for m, s in zip(merged, strides):
                m[-1] = s[d]
        else:
            dims.append(extent)
            for m, s in zip(merged, strides):
                m.append(s[d])
    return (dims, merged) if dims else ([1], [[0] for _ in strides])


class Launch(NamedTuple):
    """How kernels are launched: threads per block, and the most blocks per SM (0: no cap)."""

    threads: int
    blocks_per_sm: int

    @classmethod
    def configured(cls) -> "Launch":
        """[elemgrad] cuda_threads and cuda_blocks_per_sm where set, else THREADS and BLOCKS_PER_SM."""
        threads, per_sm = setting("elemgrad", "cuda_threads"), setting("elemgrad", "cuda_blocks_per_sm")
        return cls(int(threads) if threads else THREADS, int(per_sm) if per_sm else BLOCKS_PER_SM)

    def choose(self, n: int, inputs: Sequence, outputs: Sequence, itemsize: int, sms: int) -> tuple[str, int]:
        """Which kernel runs ``n`` elements, and on how many blocks.

        eg_vectorized when every input is contiguous or a scalar and every array of n
        elements is 16-byte aligned; eg_contiguous when they are contiguous but not
        aligned; else eg_strided. The grid covers the work once, up to blocks_per_sm
        blocks per SM (each thread then loops).
        """
        if not all(a.flags.c_contiguous and a.size in (1, n) for a in inputs):
            name, work = "eg_strided", n
        elif all(a.data.ptr % VECTOR_BYTES == 0 for a in [*inputs, *outputs] if a.size == n):
            name, work = "eg_vectorized", n // (VECTOR_BYTES // itemsize)
        else:
            name, work = "eg_contiguous", n
        blocks = min((work + self.threads - 1) // self.threads, MAX_BLOCKS)
        return name, max(1, min(blocks, self.blocks_per_sm * sms) if self.blocks_per_sm else blocks)


class CudaBackend:
    """CUDA kernels on GPU ``index``, launched through CuPy."""

    name = "cuda"

    def __init__(self, index: int = 0):
        self.index = index
        self._scalars: dict[tuple, Any] = {}  # (shape, dtype, bytes) of a host scalar -> its device copy

    @cached_property
    def array_type(self) -> type:
        """cupy.ndarray (CuPy is imported on first use: source generation needs no GPU)."""
        return cupy().ndarray

    @staticmethod
    def array_module() -> Any:
        """CuPy, the module of this backend's device arrays (the CUDA emulator where tests put it)."""
        return cupy()

    hoists = True  # calls of HOIST_FROM elements or more with single-value inputs work on those once (hoist.py)
    variant = ""  # the source depends on nothing but the plan

    @property
    def hoist_from(self) -> int:
        """The fewest elements a call has for its single-value inputs' work to be hoisted (HOIST_FROM)."""
        return HOIST_FROM

    @staticmethod
    def check_arguments(inputs: int, outputs: int) -> None:
        """A CUDA kernel takes any number of inputs and outputs: nothing to refuse."""

    @staticmethod
    def computes_alike(base: str, hoisted: str) -> bool:
        """Always: ``eg_once`` computes the hoisted values with the device code the element
        kernels would run, compiled with the same options, which allow no contraction of
        a*b+c (``NVRTC_OPTIONS``) nor any approximate math, so each value rounds as it does
        in the kernel without hoisting (tests/backends/test_gpu_hoisting.py checks it bit for bit)."""
        return True

    def source(self, fused: FusedGraph, descriptions: list[str], hoisted: Hoisted | None = None) -> str:
        from elemgrad_gpu.backends.cuda import codegen

        return codegen.cuda_source(fused, descriptions, hoisted)

    def options(self) -> tuple[str, ...]:
        return NVRTC_OPTIONS + tuple(shlex.split(setting("elemgrad", "nvrtc_options") or ""))

    def load(self, source: str, outputs: int, dtype: str) -> CudaKernel:
        """The kernel compiled from ``source`` by NVRTC (cached by CuPy) computing ``outputs`` arrays."""
        from elemgrad_gpu.backends.cuda.codegen import hoisted_layout

        cp = cupy()
        hoisting = hoisted_layout(source)
        names = ("eg_vectorized", "eg_contiguous", "eg_strided") + (("eg_once",) if hoisting else ())
        with cp.cuda.Device(self.index):
            module = cp.RawModule(code=source, options=self.options())
            # the cupy.cuda.Function under each RawKernel: its handle (ptr) is what the driver launches
            functions = {name: module.get_function(name).kernel for name in names}
            sms = cp.cuda.Device(self.index).attributes["MultiProcessorCount"]
        return CudaKernel(self.index, functions, sms, outputs, dtype, hoisting)

    def signature(self, value: Any) -> Hashable | None:
        """What a call's checks and launch choice depend on in ``value`` (see ``known_calls.signature``).

        A CuPy array's dtype, shape, strides, 16-byte alignment and device; a number's
        type. None for anything else (host arrays, other GPU arrays): checked, and
        converted or copied, at every call.
        """
        if type(value) is self.array_type:
            data = value.data
            return value.dtype, value.shape, value.strides, data.ptr % VECTOR_BYTES == 0, data.device_id
        return type(value) if isinstance(value, arrays.NUMBERS) else None

    def read(self, name: str, value: Any):
        """``value`` on this GPU: device arrays without copying, host data copied over."""
        cp = cupy()
        if isinstance(value, cp.ndarray) and value.device.id == self.index:  # the hot path: nothing to do
            arrays.check_kind(name, value.dtype)
            return value
        if isinstance(value, arrays.NUMBERS):
            return arrays.read_host(name, value)  # copied over by cast()
        with cp.cuda.Device(self.index):
            if isinstance(value, cp.ndarray) or hasattr(value, "__cuda_array_interface__"):
                array = cp.asarray(value)
            elif hasattr(value, "__dlpack__") and _on_gpu(value):
                array = cp.from_dlpack(value)
            else:
                return arrays.read_host(name, value)  # copied over by cast(), after casting
            self._check_device(f"input {name!r}", array)
            arrays.check_kind(name, array.dtype)
            return array

    def check_placement(self, outputs: Sequence) -> None:
        """Refuse outputs on another GPU than this function's (its kernel could not write them)."""
        for k, array in enumerate(outputs):
            self._check_device(f"out[{k}]", array)

    def _check_device(self, what: str, array) -> None:
        if array.device.id != self.index:
            raise WrongDeviceError(f"{what} is on GPU {array.device.id}, but this function runs on cuda:{self.index}; "
                                 f"move it there or compile with device='cuda:{array.device.id}'")

    def cast(self, array, dtype: str):
        cp = cupy()
        if not isinstance(array, np.ndarray):
            if array.dtype == arrays.DTYPES[dtype]:
                return array
            with cp.cuda.Device(self.index):
                return _on_device(cp, self.index, lambda: array.astype(dtype), f"a {dtype} copy of an input of "
                                  f"{_elements(array.size)} {array.dtype}", array.size * np.dtype(dtype).itemsize)
        host = arrays.cast_host(array, dtype)
        if host.size == 1:
            return self._scalar(cp, host)
        with cp.cuda.Device(self.index):
            return _on_device(cp, self.index, lambda: cp.asarray(host), f"an input of {_elements(host.size)} "
                              f"{dtype}", host.nbytes)

    def _scalar(self, cp, host: np.ndarray):
        """A one-element host input (a parameter such as mu or sigma) on the device.

        Copied over once per value and shape, then kept (SCALARS_KEPT of them): a
        host-to-device copy would otherwise wait for the GPU to finish its queue on
        every call. Kernels only read their inputs, so sharing the copy is safe.
        """
        key = (host.shape, host.dtype.char, host.tobytes())
        array = self._scalars.get(key)
        if array is None:
            if len(self._scalars) >= SCALARS_KEPT:
                self._scalars.clear()
            with cp.cuda.Device(self.index):
                array = _on_device(cp, self.index, lambda: cp.asarray(host), "a scalar input", host.nbytes)
            self._scalars[key] = array
        return array

    @staticmethod
    def to_host(array) -> np.ndarray:
        return cupy().asnumpy(array)

    @staticmethod
    def finisher(values: Sequence) -> Callable[[list], list]:
        """What turns the kernel's outputs into the caller's results: NumPy arrays when no
        input lived on the GPU, else the device arrays."""
        cp = cupy()
        on_device = any(isinstance(v, cp.ndarray) or hasattr(v, "__cuda_array_interface__")
                        or (hasattr(v, "__dlpack__") and _on_gpu(v)) for v in values)
        return arrays.unchanged if on_device else _to_host


class CudaKernel:
    """The kernels of one function on GPU ``index``, and how to launch them."""

    def __init__(self, index: int, functions: dict[str, Callable], sms: int, outputs: int, dtype: str,
                 hoisting: tuple[tuple[int, ...], int] | None = None):
        self.index, self._functions, self._sms = index, functions, sms
        self._outputs, self._dtype, self._itemsize = outputs, dtype, np.dtype(dtype).itemsize
        self._hoisting = hoisting  # (the inputs eg_once reads, how many values it writes), or None
        self._launch = Launch.configured()

    def handles(self) -> tuple[dict[str, int], int, int]:
        """The driver's handles (CUfunction) of the three kernels, by name, and the launch shape:
        threads per block and the most blocks (0: no cap), for launchers outside CuPy (XLA's)."""
        cap = self._launch.blocks_per_sm * self._sms if self._launch.blocks_per_sm else 0
        return {name: int(f.ptr) for name, f in self._functions.items()}, self._launch.threads, cap

    def run(self, inputs: Sequence, shape: tuple[int, ...], out: Sequence | None = None) -> list:
        """The outputs computed from ``inputs``: into ``out`` when given, else new device arrays of ``shape``."""
        cp = cupy()
        with _current(cp, self.index):
            if out is None:
                return self._launcher(cp, inputs, shape, None)(inputs, None)
            results = list(out)
            self._launcher(cp, inputs, shape, results)(inputs, results)
        return results

    def bind(self, inputs: Sequence, shape: tuple[int, ...], out: Sequence) -> Callable[[], None]:
        """The launch alone, recomputing ``out`` from ``inputs`` at each call; refuses outputs that
        share memory with the rest (a bound call only launches: it cannot write through a copy)."""
        cp = cupy()
        with _current(cp, self.index):
            results = list(out)
            launch = self._launcher(cp, inputs, shape, results)
            shared = launch.shared([a.data.ptr for a in (*inputs, *results)], len(inputs))
            if shared:
                raise InputError(f"out[{shared[0]}] shares memory with an input or another output: a bound call "
                                 f"on a GPU only launches, and its kernel needs its outputs apart from the rest; "
                                 f"pass separate arrays, or call the function (it writes through a copy)")
            return partial(_launch_on, cp, self.index, launch.bound(inputs, results))

    def prepare(self, inputs: Sequence, shape: tuple[int, ...], out: Sequence | None) -> Prepared:
        """The call on arrays laid out as these (same shapes, strides, alignment and device),
        its kernel, grid and arguments chosen and packed once. Without ``out``, each call
        allocates its outputs: C-contiguous and aligned, so laid out alike every time."""
        cp = cupy()
        with _current(cp, self.index):
            return partial(_launch_on, cp, self.index, self._launcher(cp, inputs, shape, out))

    def _launcher(self, cp, inputs: Sequence, shape: tuple[int, ...], results: Sequence | None) -> PreparedLaunch:
        """The launch computing outputs laid out as ``results`` (None: new arrays) from inputs laid out
        as ``inputs``."""
        n = math.prod(shape)
        fresh = None if results is not None else Outputs(self.index, shape, self._dtype, self._outputs)
        if not n:
            return PreparedLaunch(None, (), fresh)
        name, blocks = self._launch.choose(n, inputs, results or [], self._itemsize, self._sms)
        if name == "eg_strided":
            dims, strides = merge_dimensions(shape, [
                [s // a.itemsize for s in cp.broadcast_to(a, shape).strides] for a in inputs])
            layout = cp.asarray(np.array(dims + [s for row in strides for s in row], dtype=np.int64))
            head = (np.int64(n), np.int32(len(dims)), layout)
        else:
            head = (np.int64(n), *[ONE if a.size == n else ZERO for a in inputs])
        once = None
        if self._hoisting:
            reads, count = self._hoisting
            once = Once(Packed(cp, self._functions["eg_once"], (1,), (1,), (), len(reads) + 1), reads,
                        count, self._dtype)
        arrays = len(inputs) + self._outputs + (once is not None)
        main = Packed(cp, self._functions[name], (blocks,), (self._launch.threads,), head, arrays)
        spans = tuple(map(_span, [*inputs, *results])) if results is not None else ()
        return PreparedLaunch(main, spans, fresh, once)


class Packed:
    """One kernel's launch for one layout of arrays: its grid, and its arguments.

    Where CuPy exposes the driver's ``cuLaunchKernel`` (``cupy.cuda.driver.launchKernel``),
    the arguments are packed once, here, into a buffer of 8-byte slots (the leading values,
    then one slot per array) with the array of pointers to them that the driver reads; a
    launch then only writes the arrays' data pointers into their slots and calls the
    driver on the current stream, skipping CuPy's packing of every argument at every
    launch. Elsewhere (a CuPy without it) it launches through ``cupy.cuda.Function``.
    """

    __slots__ = ("function", "grid", "block", "head", "direct", "_driver", "_handle", "_stream", "_slots",
                 "_address", "_first", "_lock")

    def __init__(self, cp, function: Callable, grid: tuple[int, ...], block: tuple[int, ...], head: tuple,
                 arrays: int):
        self.function, self.grid, self.block, self.head = function, grid, block, head
        driver = getattr(getattr(cp.cuda, "driver", None), "launchKernel", None)
        self.direct = driver is not None and isinstance(getattr(function, "ptr", None), int)
        if self.direct:
            self._driver, self._handle, self._stream = driver, function.ptr, cp.cuda.get_current_stream
            self._slots, self._address = _argument_buffer(head, len(head) + arrays)
            self._first, self._lock = len(head), threading.Lock()

    def __call__(self, arrays: Sequence, pointers: Sequence[int]) -> None:
        """Launch on ``arrays``, whose data pointers are ``pointers``."""
        if not self.direct:
            self.function(self.grid, self.block, self.head + tuple(arrays))
            return
        with self._lock:  # the slots are this launch's until the driver has read them
            self._slots[self._first:] = pointers
            self._driver(self._handle, self.grid[0], 1, 1, self.block[0], 1, 1, 0, self._stream().ptr,
                         self._address, 0)

    def bound(self, arrays: Sequence) -> Callable[[], None]:
        """The launch on these very arrays, its arguments made once (its own buffer: read only)."""
        if not self.direct:
            return partial(self.function, self.grid, self.block, self.head + tuple(arrays))
        slots, address = _argument_buffer((*self.head, *arrays), len(self.head) + len(arrays))
        driver, handle, stream = self._driver, self.function.ptr, self._stream
        grid, block = self.grid[0], self.block[0]

        def launch() -> None:
            driver(handle, grid, 1, 1, block, 1, 1, 0, stream().ptr, address, 0)

        launch.arguments = (slots, arrays)  # kept alive with the launch
        return launch


def _argument_buffer(values: Sequence, count: int) -> tuple[ctypes.Array, int]:
    """``count`` 8-byte slots, the first holding ``values`` (numbers as their parameters' bytes,
    device arrays as their data pointers), and the address of the array of pointers to them
    (``cuLaunchKernel``'s kernelParams). The address stays valid while the slots live: the
    pointer array is kept on the slots."""
    slots = (ctypes.c_uint64 * max(count, 1))()
    for k, value in enumerate(values):
        slots[k] = value.data.ptr if hasattr(value, "data") and hasattr(value.data, "ptr") \
            else int(np.asarray(value).astype(value.dtype).view(f"u{value.dtype.itemsize}"))
    base = ctypes.addressof(slots)
    pointers = (ctypes.c_void_p * max(count, 1))(*[base + 8 * k for k in range(count)])
    slots._pointers = pointers  # noqa: SLF001 - lives as long as the slots
    return slots, ctypes.addressof(pointers)


class Once:
    """The launch of ``eg_once`` before the element kernels: it reads the single-value inputs
    ``reads`` and writes ``count`` hoisted values into a small new device buffer, which the
    element kernels take as their last argument. A buffer per call: calls on several streams
    never share one (CuPy's pool hands a freed buffer only to later work on its stream)."""

    __slots__ = ("packed", "reads", "count", "dtype")

    def __init__(self, packed: Packed, reads: tuple[int, ...], count: int, dtype: str):
        self.packed, self.reads, self.count, self.dtype = packed, reads, count, dtype

    def buffer(self, cp):
        """A new buffer for the hoisted values, on the current GPU."""
        what = f"the {self.count} value{'s' * (self.count > 1)} computed once per call"
        return _on_device(cp, cp.cuda.runtime.getDevice(), lambda: cp.empty(self.count, self.dtype), what,
                          self.count * np.dtype(self.dtype).itemsize)

    def __call__(self, cp, inputs: Sequence):
        """Launch ``eg_once`` on ``inputs``; the buffer it writes."""
        buffer = self.buffer(cp)
        arrays = [inputs[j] for j in self.reads] + [buffer]
        self.packed(arrays, [a.data.ptr for a in arrays])
        return buffer

    def bound(self, cp, inputs: Sequence) -> tuple[Callable[[], None], Any]:
        """The launch on these inputs into one buffer made now, and that buffer."""
        buffer = self.buffer(cp)
        return self.packed.bound([inputs[j] for j in self.reads] + [buffer]), buffer


class Outputs:
    """How a call without ``out=`` gets its outputs: ``count`` new C-contiguous arrays."""

    __slots__ = ("index", "shape", "dtype", "count")

    def __init__(self, index: int, shape: tuple[int, ...], dtype: str, count: int):
        self.index, self.shape, self.dtype, self.count = index, shape, dtype, count

    def __call__(self, cp) -> list:
        return _allocate(cp, self.index, self.shape, self.dtype, self.count)


class PreparedLaunch:
    """The kernels of one layout of arrays (``Packed``): the element kernel, after
    ``eg_once`` where values are hoisted; the arrays themselves come at each launch.

    ``spans`` holds the bytes each array covers, inputs then outputs, as offsets from its
    data pointer: an output sharing bytes with an input or another output is written
    through a new array and copied over after the kernel (see ``shared``). The last data
    pointers found apart are kept, so a launch on the same arrays as the last one only
    compares its pointers. With ``fresh`` (no ``out=``), each launch allocates its outputs,
    which share memory with nothing.
    """

    __slots__ = ("main", "spans", "fresh", "once", "_apart")

    def __init__(self, main: Packed | None, spans: tuple[tuple[int, int], ...], fresh: Outputs | None = None,
                 once: Once | None = None):
        self.main, self.spans, self.fresh, self.once = main, spans, fresh, once
        self._apart: list[int] = []

    def __call__(self, inputs: Sequence, results: Sequence | None) -> Sequence:
        cp = cupy()
        if self.fresh is not None:
            results = self.fresh(cp)
            if self.main is not None:
                try:
                    self.launch(cp, inputs, results, [a.data.ptr for a in (*inputs, *results)])
                except DeviceMemoryError:  # no room for the hoisted values: the new outputs go back too
                    del results
                    cp.get_default_memory_pool().free_all_blocks()
                    raise
            return results
        if self.main is None:  # no elements
            return results
        pointers = [a.data.ptr for a in (*inputs, *results)]
        if pointers != self._apart:
            shared = self.shared(pointers, len(inputs))
            if shared:
                return _through_copies(self, inputs, results, shared)
            self._apart = pointers
        self.launch(cp, inputs, results, pointers)
        return results

    def launch(self, cp, inputs: Sequence, results: Sequence, pointers: list[int]) -> None:
        """``eg_once`` where values are hoisted, then the element kernel on these arrays."""
        if self.once is None:
            self.main((*inputs, *results), pointers)
            return
        buffer = self.once(cp, inputs)
        self.main((*inputs, *results, buffer), [*pointers, buffer.data.ptr])

    def shared(self, pointers: Sequence[int], count: int) -> list[int]:
        """The outputs that share bytes with an input or another output, from the data
        pointers of the ``count`` inputs and then the outputs.

        The kernel reads its inputs and writes its outputs as distinct memory (``__restrict__``),
        and its threads run in any order, so such an output is written elsewhere first: the
        results are then as if every input was read before any output was written, and the
        outputs were written in order (a later one wins where outputs overlap).
        """
        bounds = [(p + first, p + end) for p, (first, end) in zip(pointers, self.spans)]
        return [k for k, (first, end) in enumerate(bounds[count:])
                if any(a < end and first < b for j, (a, b) in enumerate(bounds) if j != count + k)]

    def bound(self, inputs: Sequence, results: Sequence) -> Callable[[], None]:
        """The launch on these very arrays, its arguments made once."""
        if self.main is None:
            return _nothing
        if self.once is None:
            return self.main.bound((*inputs, *results))
        once, buffer = self.once.bound(cupy(), inputs)
        main = self.main.bound((*inputs, *results, buffer))
        return lambda: (once(), main())[1]


def _through_copies(launch: PreparedLaunch, inputs: Sequence, results: Sequence, shared: list[int]) -> Sequence:
    """``launch`` writing the ``shared`` outputs into new arrays first, then copied over in order."""
    cp = cupy()
    what = f"{len(shared)} output{'s' * (len(shared) > 1)} sharing memory with the inputs, written apart"
    written = list(results)
    for k in shared:
        written[k] = _on_device(cp, cp.cuda.runtime.getDevice(), lambda: cp.empty(results[k].shape, results[k].dtype),
                                what, results[k].nbytes)
    launch.launch(cp, inputs, written, [a.data.ptr for a in (*inputs, *written)])
    for k in shared:
        results[k][...] = written[k]
    return results


def _span(array) -> tuple[int, int]:
    """The bytes a non-empty ``array`` covers, as offsets from its data pointer: (first, end)."""
    first = sum(s * (n - 1) for n, s in zip(array.shape, array.strides) if s < 0)
    last = sum(s * (n - 1) for n, s in zip(array.shape, array.strides) if s > 0)
    return first, last + array.itemsize


def _nothing(*launch: Any) -> None:
    """The launch for no elements."""


def _to_host(outputs: list) -> list:
    """Device outputs copied back as NumPy arrays."""
    return [cupy().asnumpy(o) for o in outputs]


def _current(cp, index: int) -> AbstractContextManager:
    """GPU ``index``'s context, or none when it is already current (entering one costs a microsecond)."""
    return nullcontext() if cp.cuda.runtime.getDevice() == index else cp.cuda.Device(index)


def _launch_on(cp, index: int, run: Callable[..., Any], *arguments: Any) -> Any:
    """``run(*arguments)`` with GPU ``index`` current: a bound or known call's launch, which
    skips even the context manager when the device is already current."""
    if cp.cuda.runtime.getDevice() == index:
        return run(*arguments)
    with cp.cuda.Device(index):
        return run(*arguments)


def _allocate(cp, index: int, shape: tuple[int, ...], dtype: str, count: int) -> list:
    """``count`` new C-contiguous device arrays of ``shape`` and ``dtype``: a call's outputs."""
    n = math.prod(shape)
    what = f"{count} output{'s' * (count > 1)} of {_elements(n)} {dtype}"
    return _on_device(cp, index, lambda: [cp.empty(shape, dtype) for _ in range(count)], what,
                      count * n * np.dtype(dtype).itemsize)


def _on_device(cp, index: int, make: Callable[[], Any], what: str, nbytes: int) -> Any:
    """``make()``, which allocates ``what`` (``nbytes``) on GPU ``index``.

    Out of memory, a DeviceMemoryError. The arrays ``make`` had allocated are already
    unreferenced then (a list comprehension drops its partial list as the error leaves
    it), so freeing CuPy's cached blocks returns them to the device.
    """
    try:
        return make()
    except Exception as error:
        if not _out_of_memory(cp, error):
            raise
        cp.get_default_memory_pool().free_all_blocks()
        raise DeviceMemoryError(f"out of GPU memory on cuda:{index}: {what} = {_size(nbytes)} requested"
                                f"{_free_memory(cp)}. Call with smaller chunks of the inputs, reuse output "
                                f"arrays with out=, or free GPU memory: delete arrays you no longer need, then "
                                f"cupy.get_default_memory_pool().free_all_blocks()") from error


def _out_of_memory(cp, error: Exception) -> bool:
    """Whether ``error`` is CuPy's pool, or the CUDA runtime, running out of device memory."""
    if isinstance(error, cp.cuda.memory.OutOfMemoryError):
        return True
    runtime = cp.cuda.runtime
    return isinstance(error, runtime.CUDARuntimeError) and error.status == runtime.errorMemoryAllocation


def _free_memory(cp) -> str:
    """"; F of T free" for the current device, or "" when CUDA cannot say."""
    try:
        free, total = cp.cuda.runtime.memGetInfo()
    except Exception:  # noqa: BLE001 - only a detail of the message
        return ""
    return f"; {_size(free)} of {_size(total)} is free"


def _elements(n: int) -> str:
    """An element count: a power of two as 2^k, else with thousands separators."""
    return f"2^{n.bit_length() - 1}" if n >= 1024 and n & (n - 1) == 0 else f"{n:,}"


def _size(nbytes: int) -> str:
    """Bytes, human readable: 512 bytes, 1.5 MiB, 24.0 GiB."""
    k = min(max(nbytes.bit_length() - 1, 0) // 10, 4)
    return f"{nbytes} bytes" if k == 0 else f"{nbytes / 1024 ** k:.1f} {('KiB', 'MiB', 'GiB', 'TiB')[k - 1]}"


def _on_gpu(value: Any) -> bool:
    """Whether a DLPack-capable array lives on a CUDA device (kDLCUDA = 2)."""
    try:
        return value.__dlpack_device__()[0] == 2
    except (AttributeError, TypeError):
        return False

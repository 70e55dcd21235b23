"""A CuPy stand-in that runs the generated CUDA kernels on the CPU: the GPU tests without a GPU.

``emulated_cupy()`` gives a module with the part of CuPy's interface that elemgrad_gpu
and tests/backends/test_gpu.py use. Its device arrays are NumPy arrays in memory of its own;
``RawModule`` compiles the kernel source as C++ with g++, behind a prelude standing in
for CUDA's built-ins (``blockIdx``, ``threadIdx``, ``__global__``, ``__align__``, ...), and
a launch runs each thread of the grid in turn, in a scrambled order. The kernels neither
share memory between threads nor synchronize them, so any order is one a GPU could take;
a result that depends on it (threads reading what others write) shows as a wrong value.

Each launch is checked for what a GPU would not report, or would report as a crash:
- the arguments against the kernel's parameters: their number; a device array of the
  right item size for each pointer; a scalar of the parameter's exact size for each value
  (CuPy's packing: NumPy scalars as they are, int as int64, float as float64);
- the grid and block against CUDA's limits;
- no write outside an array: every allocation has guard bytes on both sides, checked
  after each launch; they read as NaN, so a read just past an array spoils the results.

Kernels launch as CuPy launches them (``cupy.cuda.Function``: ``kernel(grid, block, args)``)
or as the driver does (``cupy.cuda.driver.launchKernel`` with the address of the argument
pointers, what ``Function.ptr`` names): each pointer argument must then point into an
allocation of the device the launch runs on. ``LAUNCHES`` counts the launches each way.

Several devices: ``emulated_cupy(devices=2)`` has two; an array belongs to the device that
was current when it was allocated (``cupy.cuda.Device(1)`` as a context), and a launch is
refused if any of its arrays is on another device than the current one.

Streams: ``cuda.ExternalStream(pointer)`` makes a stream current as CuPy's does, and each
launch records the stream it ran on (``cuda.launched_on``: the pointer, 0 for the default
stream). ``from_dlpack`` takes a CPU array's memory as device memory of the current device,
without copying (a CPU tensor standing in for a GPU one).

What it cannot show: the device's math library (the host's libm runs instead, so values
differ from a GPU's by a few ulp, as the CPU backend's do), timing, concurrency between
threads, the order of work on streams and memory limits (a test makes ``empty`` or
``asarray`` fail to stand for running out of memory).
"""
from __future__ import annotations

import collections
import ctypes
import hashlib
import re
import subprocess
import tempfile
import types
import weakref
from pathlib import Path

import numpy as np

ALIGNMENT = 256  # cudaMalloc's alignment
GUARD = 64  # bytes checked on each side of every allocation
PATTERN = 0xFF  # in the guards and in new arrays: NaN as float32 and float64, so a read past an array shows
SMS = 4  # the emulated device's multiprocessors

PRELUDE = r"""
#include <math.h>
#include <string.h>
#include <cstddef>
#include <type_traits>
#include <utility>
struct eg_emu_dim3 { unsigned int x, y, z; };
static eg_emu_dim3 threadIdx, blockIdx, blockDim, gridDim;
#define __global__
#define __device__
#define __forceinline__ inline
#define __align__(n) alignas(n)
static inline float __int_as_float(int i) { float f; memcpy(&f, &i, sizeof f); return f; }
"""

EPILOGUE = r"""
/* Every thread of the grid once, in a scrambled order: thread a*j + b (mod a power of two
 * m at least the thread count; a odd, so each j gives another thread), skipping those past
 * the last. A kernel whose result depends on the order of its threads shows it. */
template <typename... A, std::size_t... I>
static void eg_emu_run(void (*kernel)(A...), void **args, std::index_sequence<I...>) {
    const unsigned long long threads = (unsigned long long)gridDim.x * blockDim.x;
    unsigned long long m = 1;
    while (m < threads) m <<= 1;
    for (unsigned long long j = 0; j < m; ++j) {
        const unsigned long long t = (j * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull) & (m - 1);
        if (t >= threads) continue;
        blockIdx.x = (unsigned)(t / blockDim.x);
        threadIdx.x = (unsigned)(t % blockDim.x);
        kernel(*static_cast<A *>(args[I])...);
    }
}
template <typename... A>
static void eg_emu_launch(void (*kernel)(A...), unsigned grid, unsigned block, void **args) {
    gridDim = {grid, 1, 1};
    blockDim = {block, 1, 1};
    blockIdx = threadIdx = {0, 0, 0};
    eg_emu_run(kernel, args, std::index_sequence_for<A...>{});
}
/* Each parameter's size; for a pointer, minus the size of what it points to. */
template <typename... A>
static int eg_emu_params(void (*)(A...), long long *sizes) {
    const long long each[] = {0, (std::is_pointer<A>::value ? -(long long)sizeof(std::remove_pointer_t<A>)
                                                             : (long long)sizeof(A))...};
    memcpy(sizes, each + 1, sizeof...(A) * sizeof(long long));
    return (int)sizeof...(A);
}
"""
EXPORT = """
extern "C" void eg_emu_launch_{0}(unsigned grid, unsigned block, void **args) {{ eg_emu_launch({0}, grid, block, args); }}
extern "C" int eg_emu_params_{0}(long long *sizes) {{ return eg_emu_params({0}, sizes); }}
"""
KERNEL = re.compile(r'extern "C" __global__ void (\w+)\(')
MAX_GRID, MAX_BLOCK = 2 ** 31 - 1, 1024


class EmulationError(AssertionError):
    """A launch that a GPU would have refused, or run wrongly: the test fails."""


# The emulated machine: how many devices, and which is current (cupy.cuda.Device(i) as a context).
STATE = types.SimpleNamespace(devices=1, current=0, stream=0)  # stream: the current stream's pointer
# launches through cupy.cuda.Function ("function") or the driver ("driver"), and of each kernel by name
LAUNCHES = collections.Counter()


class Memory:
    """The emulated devices' allocations, each between guard bytes."""

    def __init__(self):
        # (the bytes, where the array starts, its size, its device)
        self._blocks: list[tuple[weakref.ref, int, int, int]] = []

    def allocate(self, shape, dtype) -> np.ndarray:
        """A new C-contiguous array of ``shape`` and ``dtype`` on the current device,
        ALIGNMENT-aligned, between guards."""
        dtype = np.dtype(dtype)
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        raw = np.full(nbytes + 2 * GUARD + ALIGNMENT, PATTERN, np.uint8)
        start = GUARD + (-(raw.ctypes.data + GUARD)) % ALIGNMENT
        self._blocks.append((weakref.ref(raw), start, nbytes, STATE.current))
        return raw[start:start + nbytes].view(dtype).reshape(shape)

    def adopt(self, host: np.ndarray) -> np.ndarray:
        """Memory made elsewhere (a DLPack export), taken as an allocation of the current device
        as it is: no copy, no guard bytes."""
        self._blocks.append((weakref.ref(host), 0, host.nbytes, STATE.current))
        return host

    def _live(self) -> list[tuple[np.ndarray, int, int, int]]:
        blocks = [(raw(), start, nbytes, device) for raw, start, nbytes, device in self._blocks]
        live = [b for b in blocks if b[0] is not None]
        self._blocks = [(weakref.ref(raw), start, nbytes, device) for raw, start, nbytes, device in live]
        return live

    def live_bytes(self) -> int:
        """The bytes of the allocations still referenced."""
        return sum(nbytes for _, _, nbytes, _ in self._live())

    def device_of(self, pointer: int) -> int | None:
        """The device of the allocation ``pointer`` points into (its end included), or None."""
        for raw, start, nbytes, device in self._live():
            first = raw.ctypes.data + start
            if first <= pointer <= first + nbytes:
                return device
        return None

    def check_guards(self, kernel: str) -> None:
        """Raise if a guard byte changed: ``kernel`` wrote outside an array."""
        for raw, start, nbytes, _ in self._live():
            if (raw[:start] != PATTERN).any() or (raw[start + nbytes:] != PATTERN).any():
                raise EmulationError(f"{kernel} wrote outside an array")


MEMORY = Memory()


class ndarray:  # noqa: N801 - CuPy's name
    """A device array: a NumPy view of the emulated device's memory. Like CuPy, it refuses
    to become a NumPy array implicitly (``asnumpy`` copies it back)."""

    def __init__(self, host: np.ndarray):
        self._host = host
        device = MEMORY.device_of(host.ctypes.data)
        device = STATE.current if device is None else device
        self.data = types.SimpleNamespace(ptr=host.ctypes.data, device_id=device)
        self.device = types.SimpleNamespace(id=device)
        self.dtype, self.shape, self.strides, self.flags = host.dtype, host.shape, host.strides, host.flags
        self.size, self.itemsize, self.ndim, self.nbytes = host.size, host.itemsize, host.ndim, host.nbytes

    @property
    def __cuda_array_interface__(self) -> dict:
        return {"shape": self.shape, "typestr": self.dtype.str, "data": (self.data.ptr, False),
                "strides": self.strides, "version": 3}

    def __array__(self, *args, **kwargs):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. Please use `.get()` "
                        "to construct a NumPy array explicitly.")

    def __getitem__(self, key) -> "ndarray":
        part = self._host[key]
        if isinstance(part, np.ndarray) and np.may_share_memory(part, self._host):
            return ndarray(part)
        return _device(np.asarray(part))

    def __setitem__(self, key, value) -> None:
        self._host[key] = _host_of(value)

    def __len__(self) -> int:
        return len(self._host)

    def __float__(self) -> float:
        return float(self._host)

    def get(self) -> np.ndarray:
        return self._host.copy()

    def copy(self) -> "ndarray":
        return _device(self._host)

    def astype(self, dtype) -> "ndarray":
        return _device(self._host.astype(dtype))

    def reshape(self, *shape) -> "ndarray":
        return ndarray(self._host.reshape(*shape))

    def transpose(self, *axes) -> "ndarray":
        return ndarray(self._host.transpose(*axes))

    def __add__(self, other):
        return _device(self._host + _host_of(other))

    def __sub__(self, other):
        return _device(self._host - _host_of(other))

    def __mul__(self, other):
        return _device(self._host * _host_of(other))

    __radd__, __rmul__ = __add__, __mul__


def _host_of(value):
    """An operand's NumPy side: a device array's view, or a number; host arrays refused, as CuPy does."""
    if isinstance(value, ndarray):
        return value._host
    if isinstance(value, np.ndarray):
        raise TypeError("Unsupported type <class 'numpy.ndarray'>")
    return value


def _device(host: np.ndarray) -> ndarray:
    array = MEMORY.allocate(host.shape, host.dtype)
    array[...] = host
    return ndarray(array)


def asarray(a, dtype=None) -> ndarray:
    if isinstance(a, ndarray):
        return a if dtype is None or np.dtype(dtype) == a.dtype else a.astype(dtype)
    return _device(np.asarray(a, dtype=dtype))


def empty(shape, dtype=np.float64) -> ndarray:
    return ndarray(MEMORY.allocate(shape if isinstance(shape, tuple) else (shape,), dtype))


def empty_like(a: ndarray, dtype=None) -> ndarray:
    return empty(a.shape, dtype or a.dtype)


def asnumpy(a) -> np.ndarray:
    return a.get() if isinstance(a, ndarray) else np.asarray(a)


def broadcast_to(a: ndarray, shape) -> ndarray:
    return ndarray(np.broadcast_to(a._host, shape))


def from_dlpack(value) -> ndarray:
    """An array of the emulated device on ``value``'s memory, not copied (as CuPy takes a GPU tensor)."""
    return ndarray(MEMORY.adopt(np.from_dlpack(value)))


def _made_on_device(make):
    return lambda *args, **kwargs: _device(make(*args, **kwargs))


_KERNELS: dict[int, "Kernel"] = {}  # the driver's handles (Function.ptr) of the kernels loaded


class Kernel:
    """One compiled kernel, launched as ``cupy.cuda.Function`` is: ``kernel(grid, block, args)``;
    ``ptr`` is its handle for ``driver.launchKernel``."""

    def __init__(self, library: ctypes.CDLL, name: str):
        self.name = name
        self._launch = getattr(library, f"eg_emu_launch_{name}")
        self._launch.argtypes = [ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p]
        sizes = (ctypes.c_longlong * 256)()
        self.parameters = list(sizes[:getattr(library, f"eg_emu_params_{name}")(sizes)])
        self.ptr = id(self)
        _KERNELS[self.ptr] = self

    def __call__(self, grid: tuple, block: tuple, args: tuple, shared_mem: int = 0, stream=None) -> None:
        if len(args) != len(self.parameters):
            raise EmulationError(f"{self.name} takes {len(self.parameters)} arguments, launched with {len(args)}")
        (blocks,), (threads,) = grid, block  # the kernels are one-dimensional
        slots = [ctypes.create_string_buffer(self._packed(k, size, a), 8)
                 for k, (size, a) in enumerate(zip(self.parameters, args))]
        pointers = (ctypes.c_void_p * max(1, len(slots)))(*map(ctypes.addressof, slots))
        LAUNCHES["function"] += 1
        self.launch(blocks, threads, ctypes.addressof(pointers), getattr(stream, "ptr", stream))

    def launch(self, blocks: int, threads: int, params: int, stream: int | None = None) -> None:
        """Run the grid on the arguments at ``params`` (the address of the pointers to them), after
        checking the grid and that every pointer argument is an allocation of the current device."""
        if not (0 < blocks <= MAX_GRID and 0 < threads <= MAX_BLOCK):
            raise EmulationError(f"{self.name}: grid ({blocks},) and block ({threads},) are outside CUDA's limits")
        slots = (ctypes.c_void_p * max(1, len(self.parameters))).from_address(params)
        for k, size in enumerate(self.parameters):
            if size < 0:
                pointer = ctypes.c_uint64.from_address(slots[k]).value
                device = MEMORY.device_of(pointer)
                if device is None:
                    raise EmulationError(f"{self.name}: argument {k} ({pointer:#x}) points into no device allocation")
                if device != STATE.current:
                    raise EmulationError(f"{self.name}: argument {k} is on device {device}, the launch on device "
                                         f"{STATE.current}")
        LAUNCHES[self.name] += 1
        self._launch(blocks, threads, params)
        MEMORY.check_guards(self.name)
        CUDA.launched_on.append(STATE.stream if stream is None else stream)

    def _packed(self, k: int, size: int, value) -> bytes:
        """Argument ``k``'s bytes as CuPy packs them, after checking it fits parameter ``k``."""
        if size < 0:
            if not isinstance(value, ndarray) or value.itemsize != -size:
                raise EmulationError(f"{self.name}: argument {k} should be a device array of {-size}-byte "
                                     f"items, not {type(value).__name__} {getattr(value, 'dtype', '')}")
            return value.data.ptr.to_bytes(8, "little")
        if isinstance(value, bool) or not isinstance(value, (int, float, np.generic)):
            raise EmulationError(f"{self.name}: argument {k} should be a {size}-byte value, not {type(value)}")
        value = np.int64(value) if isinstance(value, int) else np.float64(value) if isinstance(value, float) else value
        if value.itemsize != size:
            raise EmulationError(f"{self.name}: argument {k} is {value.dtype}, the parameter {size} bytes")
        return value.tobytes()


CUDA: "_Cuda | None" = None  # the last emulated module's cupy.cuda: where launches record their stream
_LIBRARIES: dict[str, ctypes.CDLL] = {}
_BUILD = tempfile.TemporaryDirectory(prefix="eg_cuda_emulator_")


def _library(source: str) -> ctypes.CDLL:
    """``source`` compiled as C++ for the host (once per source in this process)."""
    key = hashlib.sha256(source.encode()).hexdigest()[:24]
    if key not in _LIBRARIES:
        names = KERNEL.findall(source)
        code = PRELUDE + source + EPILOGUE + "".join(EXPORT.format(name) for name in names)
        path = Path(_BUILD.name) / key
        path.with_suffix(".cpp").write_text(code)
        built = subprocess.run(["g++", "-std=c++17", "-O1", "-shared", "-fPIC", "-o", str(path.with_suffix(".so")),
                                str(path.with_suffix(".cpp"))], capture_output=True, text=True)
        if built.returncode:
            raise EmulationError(f"the kernel source does not compile as host C++:\n{built.stderr[-4000:]}")
        _LIBRARIES[key] = ctypes.CDLL(str(path.with_suffix(".so")))
    return _LIBRARIES[key]


class RawModule:
    def __init__(self, code: str, options: tuple = ()):
        self._library = _library(code)

    def get_function(self, name: str):
        return types.SimpleNamespace(kernel=Kernel(self._library, name))


def RawKernel(code: str, name: str, options: tuple = ()) -> Kernel:  # noqa: N802 - CuPy's name
    """cupy.RawKernel: one kernel of ``code``, launched as ``kernel(grid, block, args)``."""
    return RawModule(code, options).get_function(name).kernel


class OutOfMemoryError(MemoryError):
    pass


class CUDARuntimeError(RuntimeError):
    pass


def _launch_kernel(f: int, grid_x: int, grid_y: int, grid_z: int, block_x: int, block_y: int, block_z: int,
                   shared_mem: int, stream: int, params: int, extra: int) -> None:
    """``cupy.cuda.driver.launchKernel``: kernel ``f`` (a ``Function.ptr``) on the arguments at ``params``."""
    if (grid_y, grid_z, block_y, block_z, shared_mem, extra) != (1, 1, 1, 1, 0, 0):
        raise EmulationError("the emulated driver launches one-dimensional grids without shared memory or extra")
    LAUNCHES["driver"] += 1
    _KERNELS[f].launch(grid_x, block_x, params, stream)


class _Device:
    """cupy.cuda.Device: one of STATE.devices, current inside a ``with``."""

    attributes = {"MultiProcessorCount": SMS}

    def __init__(self, index: int | None = None):
        index = STATE.current if index is None else index
        if not 0 <= index < STATE.devices:
            raise CUDARuntimeError("cudaErrorInvalidDevice: invalid device ordinal")
        self.id = index

    def __enter__(self):
        self.previous, STATE.current = STATE.current, self.id
        return self

    def __exit__(self, *exc) -> bool:
        STATE.current = self.previous
        return False

    def synchronize(self) -> None:
        """Every emulated launch has finished when it returns."""


class _Cuda:
    """cupy.cuda with STATE.devices devices, named "CPU emulation"."""

    memory = types.SimpleNamespace(OutOfMemoryError=OutOfMemoryError)
    Device = _Device
    driver = types.SimpleNamespace(launchKernel=_launch_kernel)

    def __init__(self):
        global CUDA
        CUDA = self
        self.launched_on: list[int] = []
        self.runtime = types.SimpleNamespace(
            getDeviceCount=lambda: STATE.devices, getDevice=lambda: STATE.current,
            getDeviceProperties=lambda index: {"name": b"CPU emulation"},
            memGetInfo=lambda: (2 ** 34, 2 ** 34), CUDARuntimeError=CUDARuntimeError, errorMemoryAllocation=2)

    @staticmethod
    def get_current_stream() -> types.SimpleNamespace:
        return types.SimpleNamespace(ptr=STATE.stream)  # launches run in order, at once, whatever the stream

    class ExternalStream:
        """A stream made elsewhere (PyTorch's), current inside ``with``."""

        def __init__(self, pointer: int, device_id: int = -1):
            self.ptr = pointer

        def __enter__(self):
            self.previous, STATE.stream = STATE.stream, self.ptr
            return self

        def __exit__(self, *exc) -> bool:
            STATE.stream = self.previous
            return False


def emulated_cupy(devices: int = 1) -> types.SimpleNamespace:
    """The stand-in module, with ``devices`` devices (device 0 current): what elemgrad_gpu and
    tests/backends/test_gpu.py call of CuPy."""
    STATE.devices, STATE.current, STATE.stream = devices, 0, 0
    return types.SimpleNamespace(
        ndarray=ndarray, cuda=_Cuda(), RawModule=RawModule, RawKernel=RawKernel, asarray=asarray, from_dlpack=from_dlpack,
        asnumpy=asnumpy,
        empty=empty, empty_like=empty_like, broadcast_to=broadcast_to, float32=np.float32, float64=np.float64,
        linspace=_made_on_device(np.linspace), zeros=_made_on_device(np.zeros), ones=_made_on_device(np.ones),
        get_default_memory_pool=lambda: types.SimpleNamespace(free_all_blocks=lambda: None))


def cupy_or_emulation(request, monkeypatch):
    """For a fixture parametrized "emulated" / "cupy" (marked gpu): CuPy itself (the test skipped
    where it is missing), or the emulation put in CuPy's place for the CUDA backend for the test."""
    if request.param == "cupy":
        import pytest

        return pytest.importorskip("cupy")
    from elemgrad_gpu.backends.cuda import backend as backend_cuda

    emulated = emulated_cupy()
    monkeypatch.setattr(backend_cuda, "cupy", lambda: emulated)
    backend_cuda.status.cache_clear()
    request.addfinalizer(backend_cuda.status.cache_clear)
    return emulated

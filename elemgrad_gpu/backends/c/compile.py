"""Compile: C source -> Python extension module holding the kernel, cached on disk.

Like CuPy's kernel cache: the key hashes the source, the compiler command and its
version, the machine, and the Python and NumPy ABIs; the library is built under a
temporary name and renamed into place, so concurrent processes never load a
half-written file. The store (directory, MACs, safe reads, atomic writes) is cache.py;
a library is loaded only after its MAC is checked, from the descriptor that was
checked. In a process, each module is loaded once.
"""
from __future__ import annotations

import errno
import functools
import importlib.machinery
import importlib.util
import logging
import os
import platform
import re
import shlex
import subprocess
import sysconfig
import threading
import warnings
from pathlib import Path
from types import ModuleType

import numpy as np

from elemgrad_gpu import cache
from elemgrad_gpu.config import setting
from elemgrad_gpu.errors import CacheError, CompileError, GeneratedCodeError, ToolchainError

log = logging.getLogger("elemgrad_gpu")

# No -ffast-math: IEEE semantics. -fopenmp-simd honours the kernel's "omp simd" loops (no
# threads); -ffp-contract=off keeps a*b+c two roundings, as NumPy computes it. sin and cos
# are not builtins, so gcc does not merge sin(x) and cos(x) into a scalar sincos call,
# which has no vector version (what that costs: docs/PERFORMANCE.md).
CFLAGS = ("-O3", "-fPIC", "-shared", "-fno-math-errno", "-fopenmp-simd", "-ffp-contract=off",
          "-fno-builtin-sin", "-fno-builtin-cos", "-fno-builtin-sinf", "-fno-builtin-cosf")
_AVX512 = {"avx512f", "avx512dq", "avx512vl", "avx512bw"}
_lock = threading.Lock()
_VECTORIZED = re.compile(r":(\d+):\d+: optimized: loop vectorized using (\d+) byte vectors")
_loaded: dict[str, ModuleType] = {}
LIBRARY_LIMIT = 256 << 20  # size caps of what is read from the cache: a library, its MAC, GCC's report
DIGEST_LIMIT = 1024
REPORT_LIMIT = 16 << 20


def compiler() -> list[str]:
    """The C compiler: [elemgrad] cc, else $CC, else the one Python was built with, else cc."""
    return shlex.split(setting("elemgrad", "cc") or os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc")[:1]


@functools.cache
def vector_math() -> bool:
    """Whether the C library has the vector math (glibc >= 2.35 libmvec on x86_64) we declare."""
    libc, version = platform.libc_ver()
    numbers = tuple(int(part) for part in version.split(".")[:2] if part.isdigit())
    return platform.machine() == "x86_64" and libc == "glibc" and numbers >= (2, 35)


@functools.cache
def target_flags() -> tuple[str, ...]:
    """Instruction-set flags for this CPU: AVX2 and FMA, then AVX-512 with 512-bit vectors
    (libmvec's 8-wide double functions), as far as /proc/cpuinfo lists them."""
    try:
        flags = set(next((line.split(":", 1)[1].split() for line in Path("/proc/cpuinfo").read_text().splitlines()
                          if line.startswith("flags")), []))
    except OSError:
        return ()
    if not {"avx2", "fma"} <= flags:
        return ()
    if _AVX512 <= flags:
        return ("-mavx2", "-mfma", *(f"-m{name}" for name in sorted(_AVX512)), "-mprefer-vector-width=512")
    return ("-mavx2", "-mfma")


def _flags() -> list[str]:
    return [*CFLAGS, *target_flags()]


def _libraries() -> list[str]:
    return ["-lmvec", "-lm", "-pthread"] if vector_math() else ["-lm", "-pthread"]


@functools.cache
def _toolchain() -> str:
    """What, besides the source, decides the binary: compiler, flags, machine, ABIs."""
    abi = sysconfig.get_config_var("EXT_SUFFIX") or ""
    return "\0".join([" ".join(compiler() + _flags() + _libraries()), _version(), platform.machine(), abi,
                      np.__version__])


@functools.cache
def _version() -> str:
    """The C compiler's ``--version`` text."""
    command = compiler()
    try:
        return subprocess.run([*command, "--version"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError) as error:
        raise ToolchainError(f"no working C compiler ({' '.join(command)}): {error}; install gcc or set CC") from None


def _reports_vectorization() -> bool:
    """Whether the compiler is GCC, whose -fopt-info-vec-optimized lists the loops it vectorized."""
    return "Free Software Foundation" in _version()


def vectorized_loops(source: str) -> dict[int, int]:
    """The loops of ``source`` the compiler vectorized: line number -> vector size in bytes.

    From GCC's report, kept beside the library with its MAC; empty when the compiler gives
    none or the report is not authentic (then nothing is hoisted, the safe side).
    """
    load(source)
    path = _report_path(_library_path(module_name(source)))
    try:
        claimed, _, report = cache.read(path, REPORT_LIMIT).partition(b"\n")
    except OSError:
        return {}
    if not cache.authentic(path, [report], claimed):
        return {}
    loops: dict[int, int] = {}
    for line, size in _VECTORIZED.findall(report.decode(errors="replace")):
        loops.setdefault(int(line), int(size))  # the main loop's size first; an epilogue's after it
    return loops


def cache_dir(kind: str = "c") -> Path:
    """Where compiled kernels ("c") or stored plans ("plans") live (``cache.directory``):
    in [elemgrad] cache_dir, else ~/.cache/elemgrad_gpu; when that cannot be written, a
    directory private to the user in the temporary directory, with a warning."""
    return cache.directory(kind)


def module_name(source: str) -> str:
    """The extension module's name: eg_ and a hash of everything that shapes it."""
    return "eg_" + cache.name(source, _toolchain())


def load(source: str) -> ModuleType:
    """The extension module built from ``source``, compiling it on a cache miss.

    Each library is stored with its HMAC (``cache.seal``) beside it; one whose MAC does not
    match (truncated, corrupted, half-replaced, or written by someone else), or that is not
    this user's own file, is rebuilt, never loaded. An authentic one that fails to load is
    rebuilt once, with a warning.
    """
    name = module_name(source)
    with _lock:
        if name not in _loaded:
            _loaded[name] = _load_or_build(source, name)
    return _loaded[name]


def _load_or_build(source: str, name: str) -> ModuleType:
    path = _library_path(name)
    descriptor = _verified(path)
    if descriptor is not None:
        try:
            log.debug("loading cached kernel %s", path.name)
            return _import(name, descriptor, path)
        except (ImportError, OSError) as error:
            warnings.warn(f"elemgrad_gpu: the cached kernel {path.name} is authentic but cannot be loaded ({error}); "
                          f"rebuilding it", RuntimeWarning, stacklevel=4)
        finally:
            os.close(descriptor)
    descriptor = _build(source, name, path)
    try:
        return _import(name, descriptor, path)
    except (ImportError, OSError) as error:
        raise CompileError(f"the kernel just compiled ({path}) cannot be loaded: {error}") from None
    finally:
        os.close(descriptor)


def _library_path(name: str) -> Path:
    return cache_dir() / f"{name}{sysconfig.get_config_var('EXT_SUFFIX') or '.so'}"


def _report_path(path: Path) -> Path:
    return path.with_name(path.name + ".vec")


def _digest_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _verified(path: Path) -> int | None:
    """A descriptor of the library ``path`` when it is authentic, else None (a damaged entry is logged).

    The library must be this user's regular file, closed to others' writes, and match its
    MAC; the descriptor that was checked is the one loaded (``_import``), so the file cannot
    be swapped between the check and the load.
    """
    descriptor, why = cache.open_sealed(path, _digest_path(path), LIBRARY_LIMIT, DIGEST_LIMIT)
    if why.startswith("damaged"):
        detail = why[len("damaged"):]
        log.warning("elemgrad_gpu: cached kernel %s is damaged; rebuilding it%s", path.name, detail)
    return descriptor


def _intact(path: Path) -> bool:
    """Whether the library ``path`` would be loaded from the cache."""
    descriptor = _verified(path)
    if descriptor is None:
        return False
    os.close(descriptor)
    return True


def _import(name: str, descriptor: int, path: Path) -> ModuleType:
    """Load the extension ``name`` from the open file ``descriptor`` (the very file that was
    checked, under a private name: ``cache.private_alias``), reporting ``path`` as its file."""
    with cache.private_alias(descriptor, path) as alias:
        loader = importlib.machinery.ExtensionFileLoader(name, str(alias))
        spec = importlib.util.spec_from_file_location(name, alias, loader=loader)
        module = importlib.util.module_from_spec(spec)
        loader.exec_module(module)
    module.__file__ = str(path)
    return module


def _build(source: str, name: str, path: Path) -> int:
    """Compile ``source`` into the library ``path`` with its MAC and vectorization report;
    a read-only descriptor of the new library, opened before it was moved into place."""
    import tempfile  # see cache._fallback

    try:
        with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
            so_file = _compile(source, name, Path(tmp), path.name)
            descriptor = os.open(so_file, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
            try:
                _place(so_file, descriptor, path)
            except BaseException:
                os.close(descriptor)
                raise
    except OSError as error:
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            raise CacheError(f"no space left on the disk of the kernel cache ({path.parent}): free some space "
                               f"or set [elemgrad] cache_dir to another disk") from None
        raise CacheError(f"cannot write the kernel cache at {path.parent}: {error}") from None
    log.debug("compiled kernel %s", path.name)
    return descriptor


def _compile(source: str, name: str, tmp: Path, file_name: str) -> Path:
    """Run the C compiler on ``source`` in ``tmp``: the library, and GCC's report as ``tmp/report``."""
    includes = [f"-I{sysconfig.get_paths()['include']}", f"-I{np.get_include()}"]
    c_file, so_file = tmp / f"{name}.c", tmp / file_name
    c_file.write_text(source)
    command = [*compiler(), *_flags(), *includes, f"-DEG_MODULE={name}", "-o", str(so_file), str(c_file),
               *_libraries()]
    if _reports_vectorization():
        command.append(f"-fopt-info-vec-optimized={tmp / 'report'}")
    result = subprocess.run(command, capture_output=True, text=True)
    if "No space left on device" in result.stderr:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    if result.returncode:
        raise GeneratedCodeError(f"the C compiler failed on a generated kernel (a bug: please report it):\n"
                                 f"{' '.join(command)}\n{result.stderr[-4000:]}")
    return so_file


def _place(so_file: Path, descriptor: int, path: Path) -> None:
    """Move the report, the library, then its MAC into the cache (each atomically)."""
    report = so_file.parent / "report"
    if report.exists():
        text = report.read_bytes()
        cache.write(_report_path(path), cache.seal(_report_path(path), [text]).encode() + b"\n" + text)
    digest = cache.seal(path, cache.chunks(descriptor, LIBRARY_LIMIT))
    cache.place(so_file, path)
    cache.write(_digest_path(path), digest.encode())

"""Compile: C source -> Python extension module holding the kernel, cached on disk.

Like CuPy's kernel cache: the key hashes the source, the compiler command and its
version, the machine, and the Python and NumPy ABIs; the library is built under a
temporary name and renamed into place, so concurrent processes never load a
half-written file. In a process, each module is loaded once.
"""
from __future__ import annotations

import errno
import hashlib
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
from functools import cache
from pathlib import Path
from types import ModuleType

import numpy as np

from elemgrad_gpu.config import setting
from elemgrad_gpu.errors import CacheError, GeneratedCodeError, ToolchainError

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


def compiler() -> list[str]:
    """The C compiler: [elemgrad] cc, else $CC, else the one Python was built with, else cc."""
    return shlex.split(setting("elemgrad", "cc") or os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc")[:1]


@cache
def vector_math() -> bool:
    """Whether the C library has the vector math (glibc >= 2.35 libmvec on x86_64) we declare."""
    libc, version = platform.libc_ver()
    numbers = tuple(int(part) for part in version.split(".")[:2] if part.isdigit())
    return platform.machine() == "x86_64" and libc == "glibc" and numbers >= (2, 35)


@cache
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


@cache
def _toolchain() -> str:
    """What, besides the source, decides the binary: compiler, flags, machine, ABIs."""
    abi = sysconfig.get_config_var("EXT_SUFFIX") or ""
    return "\0".join([" ".join(compiler() + _flags() + _libraries()), _version(), platform.machine(), abi,
                      np.__version__])


@cache
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

    From GCC's report, kept beside the library; empty when the compiler gives none.
    """
    load(source)
    path = _library_path(module_name(source))
    try:
        report = _report_path(path).read_text()
    except OSError:
        return {}
    loops: dict[int, int] = {}
    for line, size in _VECTORIZED.findall(report):
        loops.setdefault(int(line), int(size))  # the main loop's size first; an epilogue's after it
    return loops


def cache_dir(kind: str = "c") -> Path:
    """Where compiled kernels ("c") or stored plans ("plans") live: in [elemgrad] cache_dir,
    else ~/.cache/elemgrad_gpu.

    When that directory cannot be created or written (read-only, missing parent), a
    private temporary directory is used instead, with a warning.
    """
    base = setting("elemgrad", "cache_dir") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "elemgrad_gpu"
    return _writable(Path(base).expanduser() / kind)


@cache
def _writable(directory: Path) -> Path:
    probe = directory / f".probe-{os.getpid()}-{threading.get_ident()}"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        os.close(os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        probe.unlink()
        return directory
    except OSError as error:
        import tempfile  # the fallback, and compiling, need it; a process that finds its kernels does not

        fallback = Path(tempfile.gettempdir()) / f"elemgrad_gpu-{os.getuid()}" / directory.name
        fallback.mkdir(parents=True, exist_ok=True)
        warnings.warn(f"elemgrad_gpu: cannot write the kernel cache at {directory} ({error.strerror or error}); "
                      f"using {fallback} for this process. Set [elemgrad] cache_dir to a writable directory.",
                      RuntimeWarning, stacklevel=2)
        return fallback


def module_name(source: str) -> str:
    """The extension module's name: eg_ and a hash of everything that shapes it."""
    return "eg_" + hashlib.sha256(f"{source}\0{_toolchain()}".encode()).hexdigest()[:32]


def load(source: str) -> ModuleType:
    """The extension module built from ``source``, compiling it on a cache miss.

    Each library is stored with the SHA-256 of its bytes beside it; an entry whose
    bytes do not match (truncated, corrupted, half-replaced) is rebuilt, never loaded.
    """
    name = module_name(source)
    with _lock:
        if name not in _loaded:
            path = _library_path(name)
            if _intact(path):
                log.debug("loading cached kernel %s", path.name)
            else:
                if path.exists() and _digest_path(path).exists():
                    log.warning("elemgrad_gpu: cached kernel %s is damaged; rebuilding it", path.name)
                _build(source, name, path)
            _loaded[name] = _import(name, path)
    return _loaded[name]


def _library_path(name: str) -> Path:
    return cache_dir() / f"{name}{sysconfig.get_config_var('EXT_SUFFIX') or '.so'}"


def _report_path(path: Path) -> Path:
    return path.with_name(path.name + ".vec")


def _digest_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _intact(path: Path) -> bool:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest() == _digest_path(path).read_text().strip()
    except OSError:
        return False


def _import(name: str, path: Path) -> ModuleType:
    loader = importlib.machinery.ExtensionFileLoader(name, str(path))
    spec = importlib.util.spec_from_file_location(name, path, loader=loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def _build(source: str, name: str, path: Path) -> None:
    import tempfile  # see _writable

    includes = [f"-I{sysconfig.get_paths()['include']}", f"-I{np.get_include()}"]
    try:
        with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
            c_file, so_file = Path(tmp) / f"{name}.c", Path(tmp) / path.name
            c_file.write_text(source)
            report = Path(tmp) / "report"
            command = [*compiler(), *_flags(), *includes, f"-DEG_MODULE={name}", "-o", str(so_file), str(c_file),
                       *_libraries()]
            if _reports_vectorization():
                command.append(f"-fopt-info-vec-optimized={report}")
            result = subprocess.run(command, capture_output=True, text=True)
            if "No space left on device" in result.stderr:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            if result.returncode:
                raise GeneratedCodeError(f"the C compiler failed on a generated kernel (a bug: please report it):\n"
                                   f"{' '.join(command)}\n{result.stderr[-4000:]}")
            digest = Path(tmp) / "digest"
            digest.write_text(hashlib.sha256(so_file.read_bytes()).hexdigest())
            if report.exists():
                os.replace(report, _report_path(path))
            os.replace(so_file, path)
            os.replace(digest, _digest_path(path))
    except OSError as error:
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            raise CacheError(f"no space left on the disk of the kernel cache ({path.parent}): free some space "
                               f"or set [elemgrad] cache_dir to another disk") from None
        raise CacheError(f"cannot write the kernel cache at {path.parent}: {error}") from None
    log.debug("compiled kernel %s", path.name)

"""The disk cache: one store for compiled kernels ("c") and stored plans ("plans"); each keeps its key recipe.

Layout: ``<root>/key`` (32 random bytes, mode 0600: the user's cache key), ``<root>/c/``
and ``<root>/plans/``. The root is ``[elemgrad] cache_dir``, else
``$XDG_CACHE_HOME/elemgrad_gpu`` or ``~/.cache/elemgrad_gpu``; when that cannot be written,
a directory private to the user in the temporary directory (see ``_fallback``).

The store is a security boundary against other local users (docs/RELIABILITY.md,
"Threat model of the cache"): every entry is authenticated with an HMAC-SHA256 keyed by
the key file, so an entry somebody else wrote is rebuilt, never used; entries are
opened without following symbolic links, must be regular files and are read up to a
size cap; the fallback directory is created 0700 and an existing one used only when it
is the user's and nobody else can write in it. Each user of the store keeps its own key
recipe (``name``) and record format; writes are atomic (temporary file, then rename).
This module must not import PyTensor: a process that finds its plans never does.
"""
from __future__ import annotations

import errno
import hashlib
import hmac
import os
import stat
import threading
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

from elemgrad_gpu.config import setting
from elemgrad_gpu.errors import CacheError, CompileError, ConfigError, UnsafeEntry

FORMAT = 2  # part of every entry's name and MAC: entries of older layouts are never read, only rebuilt
KINDS = ("c", "plans")
KEY_FILE = "key"
KEY_BYTES = 32
CHUNK = 1 << 20
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
_lock = threading.RLock()
_roots: dict[str, Path] = {}  # the wanted root -> the root in use (itself, or the fallback)


def name(*parts: str) -> str:
    """An entry name: 32 hex digits of the SHA-256 of ``parts`` and the store's format."""
    return hashlib.sha256("\0".join([str(FORMAT), *parts]).encode()).hexdigest()[:32]


def directory(kind: str) -> Path:
    """The directory of ``kind`` ("c" or "plans"), created if needed.

    The choice of root is kept per process, but checked at each call: a directory
    removed while the process runs (a user clearing ~/.cache) is made again.
    """
    wanted = wanted_root()
    with _lock:
        root = _roots.get(str(wanted))
        if root is None or not _is_directory(root / kind):
            root = _roots[str(wanted)] = _choose(wanted)
    return root / kind


def forget() -> None:
    """Drop the per-process choice of roots (tests; a changed configuration)."""
    with _lock:
        _roots.clear()


def wanted_root() -> Path | None:
    """The configured root: [elemgrad] cache_dir, else $XDG_CACHE_HOME or ~/.cache, /elemgrad_gpu."""
    value = setting("elemgrad", "cache_dir")
    if value:
        try:
            return Path(value).expanduser()
        except RuntimeError:
            raise ConfigError(f"[elemgrad] cache_dir = {value!r}: cannot expand '~' (no such user, or no home "
                              f"directory); give an absolute path") from None
    try:
        return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "elemgrad_gpu"
    except RuntimeError:  # no home directory: None, and only the fallback is left
        return None


def _is_directory(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.stat(path).st_mode)
    except OSError:
        return False


def _choose(wanted: Path | None) -> Path:
    """``wanted`` when it can be used, else a private fallback, with a warning."""
    try:
        if wanted is None:
            raise UnsafeEntry("there is no home directory")
        _prepare(wanted)
        return wanted
    except OSError as error:
        reason = str(error) if isinstance(error, UnsafeEntry) else (error.strerror or str(error))
        fallback = _fallback()
        warnings.warn(f"elemgrad_gpu: cannot write the kernel cache at {wanted} ({reason}); using {fallback} for "
                      f"this process. Set [elemgrad] cache_dir to a writable directory.", RuntimeWarning, stacklevel=4)
        return fallback


def _prepare(root: Path) -> None:
    """Make ``root`` and its kinds' directories, check it can be written, read or make its key."""
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    for kind in KINDS:
        (root / kind).mkdir(mode=0o700, exist_ok=True)
    probe = root / KINDS[0] / f".probe-{os.getpid()}-{threading.get_ident()}"
    os.close(os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0), 0o600))
    probe.unlink()
    key(root)


def _fallback() -> Path:
    """``<tmp>/elemgrad_gpu-<uid>`` when it is private to this user (so later processes
    reuse its entries), else a new directory from ``tempfile.mkdtemp``, with a warning."""
    import tempfile  # only on this path and when writing; a process that finds its kernels needs neither

    preferred = Path(tempfile.gettempdir()) / f"elemgrad_gpu-{os.geteuid()}"
    try:
        _private_directory(preferred)
        _prepare(preferred)
        return preferred
    except UnsafeEntry as refusal:
        warnings.warn(f"elemgrad_gpu: refusing the fallback cache directory {preferred}: {refusal}; another local "
                      f"user may have made it to plant entries. Using a new private directory instead.",
                      RuntimeWarning, stacklevel=5)
    except OSError:
        pass
    try:
        fresh = Path(tempfile.mkdtemp(prefix=f"elemgrad_gpu-{os.geteuid()}-"))
        _prepare(fresh)
        return fresh
    except OSError as error:
        raise CacheError(f"no writable directory for the kernel cache ({error}); set [elemgrad] cache_dir "
                           f"to a writable directory") from None


def _private_directory(path: Path) -> None:
    """Make ``path`` a directory of mode 0700, or accept an existing one that is this user's,
    not a link, and that nobody else can write in (tightened to 0700); else UnsafeEntry."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    info = os.lstat(path)
    mode = stat.S_IMODE(info.st_mode)
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise UnsafeEntry(f"it is {'a symbolic link' if stat.S_ISLNK(info.st_mode) else 'not a directory'}")
    if info.st_uid != os.geteuid():
        raise UnsafeEntry(f"it belongs to uid {info.st_uid}, not to you (uid {os.geteuid()})")
    if mode & 0o022:
        raise UnsafeEntry(f"its mode is {mode:04o}: other users can write in it")
    if mode != 0o700:  # ours and closed to others' writes (a directory of an older version): make it private
        os.chmod(path, 0o700)


def key(root: Path) -> bytes:
    """The user's cache key of ``root``: read from ``root/key`` (a regular 0600 file of this
    user), made on first use (random bytes, linked into place so no reader sees it half-written)."""
    path = root / KEY_FILE
    for _ in range(3):
        try:
            data = read(path, KEY_BYTES, private=True)
        except FileNotFoundError:
            _make_key(path)
            continue
        if len(data) != KEY_BYTES:
            raise UnsafeEntry(f"its key file {path} is not {KEY_BYTES} bytes; remove it")
        return data
    raise UnsafeEntry(f"its key file {path} keeps disappearing")


def _make_key(path: Path) -> None:
    import tempfile  # see _fallback

    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".key-")  # mode 0600
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(os.urandom(KEY_BYTES))
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)  # atomic, and fails if another process made the key first: theirs is used
        except FileExistsError:
            pass
        except OSError as error:  # no hard links on this file system: create it exclusively instead
            if error.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
                raise
            _write_exclusive(path, Path(temporary).read_bytes())
    finally:
        Path(temporary).unlink(missing_ok=True)


def _write_exclusive(path: Path, data: bytes) -> None:
    try:
        descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except FileExistsError:
        return
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)


def open_entry(path: Path, limit: int, private: bool = False) -> tuple[int, os.stat_result]:
    """A read-only descriptor of the regular file ``path`` and its status, never following a
    symbolic link nor blocking (a FIFO), refused (UnsafeEntry) over ``limit`` bytes; with
    ``private``, also refused unless it is this user's and closed to others."""
    try:
        descriptor = os.open(path, _OPEN_FLAGS)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise UnsafeEntry(f"{path} is a symbolic link") from None
        raise
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeEntry(f"{path} is not a regular file")
        if info.st_size > limit:
            raise UnsafeEntry(f"{path} has {info.st_size} bytes, more than the {limit} allowed")
        if private and (info.st_uid != os.geteuid() or info.st_mode & 0o077):
            raise UnsafeEntry(f"{path} belongs to uid {info.st_uid} with mode {stat.S_IMODE(info.st_mode):04o}; "
                              f"it must be yours with mode 0600")
    except BaseException:
        os.close(descriptor)
        raise
    return descriptor, info


def chunks(descriptor: int, limit: int) -> Iterator[bytes]:
    """The bytes of ``descriptor`` from its offset, in chunks; UnsafeEntry past ``limit`` (a growing file)."""
    total = 0
    while chunk := os.read(descriptor, CHUNK):
        total += len(chunk)
        if total > limit:
            raise UnsafeEntry(f"a cache file grew past the {limit} bytes allowed")
        yield chunk


def read(path: Path, limit: int, private: bool = False) -> bytes:
    """The bytes of the cache file ``path``, opened as ``open_entry`` does."""
    descriptor, _ = open_entry(path, limit, private)
    try:
        return b"".join(chunks(descriptor, limit))
    finally:
        os.close(descriptor)


def seal(path: Path, data: Iterable[bytes]) -> str:
    """The HMAC-SHA256 (hex) of the entry ``path`` holding ``data``, keyed by its root's key;
    the kind and file name are part of the message, so an entry cannot stand for another."""
    mac = hmac.new(key(path.parent.parent), f"elemgrad_gpu {FORMAT} {path.parent.name}/{path.name}\0".encode(),
                   hashlib.sha256)
    for chunk in data:
        mac.update(chunk)
    return mac.hexdigest()


def authentic(path: Path, data: Iterable[bytes], claimed: object) -> bool:
    """Whether ``claimed`` is the MAC of ``data`` as the entry ``path`` (False when the key
    cannot be read or ``claimed`` is not text)."""
    if isinstance(claimed, str):
        claimed = claimed.encode("utf-8", "replace")
    if not isinstance(claimed, bytes):
        return False
    try:
        return hmac.compare_digest(seal(path, data).encode(), claimed.strip())
    except OSError:
        return False


def open_sealed(path: Path, digest: Path, limit: int, digest_limit: int) -> tuple[int | None, str]:
    """A descriptor of the cached file ``path`` when it is this user's regular file, closed to
    others' writes, and matches its MAC in ``digest``: ``(descriptor, "")``; the caller loads
    that very descriptor, so the file cannot be swapped between the check and the load. Else
    ``(None, why)``: "missing" (no file), "unsealed" (no MAC: a build in progress elsewhere, or
    an interrupted one), or "damaged" with the error when there is one (to rebuild, and say so)."""
    try:
        descriptor, info = open_entry(path, limit)
    except FileNotFoundError:
        return None, "missing"
    except OSError as error:
        return None, f"damaged ({error})" if digest.exists() else "unsealed"
    why = "damaged"
    try:
        claimed = read(digest, digest_limit)
        if info.st_uid == os.geteuid() and not info.st_mode & 0o022 and \
                authentic(path, chunks(descriptor, limit), claimed):
            return descriptor, ""
    except FileNotFoundError:
        why = "unsealed"
    except OSError:
        pass
    os.close(descriptor)
    return None, why


def write(path: Path, data: bytes) -> None:
    """Replace ``path`` by a 0600 file holding ``data``, atomically: written under a temporary
    name in the same directory, then renamed; on failure nothing is left behind."""
    import tempfile  # see _fallback

    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def place(built: Path, path: Path) -> None:
    """Move the file ``built`` (in a temporary directory beside ``path``) to ``path``, atomically, as 0600."""
    os.chmod(built, 0o600)
    os.replace(built, path)


@contextmanager
def private_alias(descriptor: int, path: Path) -> Iterator[Path]:
    """A new name, in a fresh 0700 directory beside ``path``, for the file open as ``descriptor``.

    What checked a file by its descriptor loads it by this name: a hard link to the very
    inode checked (through /proc/self/fd), else a copy of its bytes, in a directory nobody
    else can write, so nothing can be swapped in between. Each name is new, as the dynamic
    loader takes a name it has loaded before for the library loaded then. Removed on exit.
    """
    private = path.parent / f".load-{os.getpid()}-{os.urandom(8).hex()}"
    os.mkdir(private, 0o700)
    alias = private / path.name
    try:
        try:
            os.link(f"/proc/self/fd/{descriptor}", alias, follow_symlinks=True)
        except OSError:  # no /proc, or no hard links here: copy what the descriptor holds
            _copy(descriptor, alias)
        yield alias
    finally:
        alias.unlink(missing_ok=True)
        os.rmdir(private)


def _copy(descriptor: int, alias: Path) -> None:
    os.lseek(descriptor, 0, os.SEEK_SET)
    target = os.open(alias, os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(target, "wb") as handle:
        for chunk in chunks(descriptor, 1 << 40):
            handle.write(chunk)

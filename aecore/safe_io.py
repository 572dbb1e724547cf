"""Guarded file access for every file the project opens or writes beside its data: run files, projection caches,
the data cache and lock files. The project's one atomic writer and its one file lock live here.

A file is read only when it is a regular file (never through a symbolic link, never a FIFO or a device, which
could hang the reader or never end) and no larger than its kind can be; JSON that does not parse and arrays
whose headers promise more than their kind can hold are refused before anything is decompressed. Every refusal
is an UnsafeFile with a one-line reason, which callers treat as "unreadable" (a run) or as a cache miss (a
cache, then rebuilt). Files written here get the mode the user's umask gives, whatever the path they take.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import stat
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import filelock
import numpy as np

from aecore.text import printable

TMP_PREFIX = ".tmp-"  # temporary files and folders: hidden, and removed by the next save that finds them
ArraySpec = tuple[tuple[int | None, ...], str]  # (shape, None where the length is bounded by `max_len`), dtype


class UnsafeFile(ValueError):
    """A file that is not read: not a regular file, larger than it can be, or not parseable. One line."""


def read_bytes(path: Path, max_bytes: int) -> bytes:
    """The bytes of `path`, which must be a regular file (not a symlink, FIFO or device) of at most `max_bytes`.

    Opening with O_NONBLOCK means a FIFO cannot hang the reader; O_NOFOLLOW refuses a link (to /dev/zero,
    to another user's file) before it is followed.
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise UnsafeFile(f"{printable(path.name)} is a symbolic link; only regular files are read") from None
        raise UnsafeFile(f"cannot read {printable(path.name)} ({error.strerror})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeFile(f"{printable(path.name)} is not a regular file; only regular files are read")
        if info.st_size > max_bytes:
            raise UnsafeFile(f"{printable(path.name)} is {info.st_size:,} bytes, more than the {max_bytes:,} it can be")
        with os.fdopen(os.dup(fd), "rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as error:
        raise UnsafeFile(f"cannot read {printable(path.name)} ({error.strerror})") from None
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise UnsafeFile(f"{printable(path.name)} grew past the {max_bytes:,} bytes it can be while being read")
    return data


def parse_json(data: bytes, name: str) -> Any:
    """JSON from bytes; undecodable, malformed or absurdly nested text is an UnsafeFile naming `name`."""
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        detail = "nested too deeply" if isinstance(error, RecursionError) else printable(error, 100)
        raise UnsafeFile(f"{printable(name)} is not valid JSON ({detail})") from None


def read_json(path: Path, max_bytes: int) -> Any:
    """`read_bytes` then `parse_json`."""
    return parse_json(read_bytes(path, max_bytes), Path(path).name)


def read_object(path: Path, max_bytes: int) -> dict:
    """A JSON file that must hold an object (a dict): anything else is an UnsafeFile."""
    value = read_json(path, max_bytes)
    if not isinstance(value, dict):
        raise UnsafeFile(f"{printable(Path(path).name)} does not hold a JSON object")
    return value


def load_arrays(blob: bytes, expected: Mapping[str, ArraySpec], *, max_len: int, name: str) -> dict[str, np.ndarray]:
    """The arrays of an .npz held in `blob`, each checked against `expected` before its data is read.

    Every array must have the expected dtype and shape (a None length at most `max_len`), so the memory an
    array takes is known from its header before anything is decompressed; a member whose decompressed size
    exceeds what its header implies is refused (a compression bomb), as is any other member.
    """
    arrays: dict[str, np.ndarray] = {}
    try:
        with zipfile.ZipFile(io.BytesIO(blob)) as archive:
            members = {info.filename: info for info in archive.infolist()}
            extra = sorted(set(members) - {f"{key}.npy" for key in expected})
            if extra:
                raise UnsafeFile(f"an unexpected member {printable(extra[0], 60)}")
            for key, spec in expected.items():
                member = members.get(f"{key}.npy")
                if member is None:
                    raise UnsafeFile(f"no array {key}")
                with archive.open(member) as handle:
                    shape, dtype = _header(handle)
                    _check_shape(key, shape, dtype, spec, max_len)
                    nbytes = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
                    if member.file_size > nbytes + 4096:  # the .npy header is at most a few hundred bytes
                        raise UnsafeFile(f"{key} decompresses to {member.file_size:,} bytes, more than its header says")
                    data = handle.read(nbytes + 1)
                if len(data) != nbytes:
                    raise UnsafeFile(f"{key} holds {len(data):,} bytes, not the {nbytes:,} its header says")
                arrays[key] = np.frombuffer(data, dtype=dtype).reshape(shape).copy()
    except UnsafeFile as error:
        raise UnsafeFile(f"{printable(name)} has unexpected arrays ({error})") from None
    except (ValueError, OSError, KeyError, EOFError, zipfile.BadZipFile, RuntimeError) as error:
        raise UnsafeFile(f"{printable(name)} cannot be read ({printable(error, 80)})") from None
    return arrays


def _header(handle) -> tuple[tuple[int, ...], str]:
    fmt = np.lib.format
    major, _ = fmt.read_magic(handle)
    read = fmt.read_array_header_1_0 if major == 1 else fmt.read_array_header_2_0
    shape, fortran, dtype = read(handle, max_header_size=10_000)
    if fortran or dtype.hasobject:
        raise UnsafeFile("arrays must be C-ordered plain numbers")
    return tuple(int(n) for n in shape), dtype.str


def _check_shape(key: str, shape: tuple[int, ...], dtype: str, spec: ArraySpec, max_len: int) -> None:
    want_shape, want_dtype = spec
    fits = (
        np.dtype(dtype) == np.dtype(want_dtype)
        and len(shape) == len(want_shape)
        and all(
            (0 <= got <= max_len) if want is None else got == want for want, got in zip(want_shape, shape, strict=True)
        )
    )
    if not fits:
        wanted = "×".join("n" if w is None else str(w) for w in want_shape)
        raise UnsafeFile(f"{key} is {np.dtype(dtype)} {shape}, not {want_dtype} {wanted}")


def umask() -> int:
    """This process's umask, read without changing it (another thread may be creating files)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    old = os.umask(0o022)  # no /proc: the classic read-by-setting, restored at once
    os.umask(old)
    return old


def file_mode() -> int:
    """The mode a plain `open(path, "w")` would give a new file: what a temp file renamed into place gets too."""
    return 0o666 & ~umask()


def folder_mode() -> int:
    """The mode a plain `mkdir` would give a new folder."""
    return 0o777 & ~umask()


def is_link(path: Path) -> bool:
    """Whether `path` itself is a symbolic link (False when it does not exist)."""
    try:
        return stat.S_ISLNK(os.lstat(path).st_mode)
    except OSError:
        return False


def check_lock_file(path: Path) -> None:
    """Raise UnsafeFile when the lock file `path` exists but is a symbolic link or not a regular file (a FIFO
    would be "locked" without excluding anyone)."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return  # absent: the lock creates it (never through a link)
    if stat.S_ISLNK(mode):
        raise UnsafeFile(f"the lock file {printable(path)} is a symbolic link; remove it")
    if not stat.S_ISREG(mode):
        raise UnsafeFile(f"the lock file {printable(path)} is not a regular file; remove it")


@contextlib.contextmanager
def file_lock(path: Path, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold an exclusive lock on the file `path` (created if needed): other processes and threads wait, the same
    thread may take it again, and the kernel releases a dead process's lock (filelock's flock). `on_wait` is
    called once before waiting for another holder. Raises UnsafeFile for a link or a non-regular file, OSError
    when the file cannot be created (a read-only folder: the caller decides what that means)."""
    check_lock_file(path)
    lock = filelock.FileLock(path, is_singleton=True, fallback_to_soft=False)  # one per path: re-entrant
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        if on_wait is not None:
            on_wait()
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def write_synced(target: Path, data: bytes) -> None:
    """Write `data` to a new file and fsync it (the caller renames the folder that holds it into place)."""
    with open(target, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def fsync_folder(folder: Path) -> None:
    """Make the entries of `folder` (a rename into it) durable."""
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def write_atomic(target: Path, data: bytes) -> None:
    """Replace `target` by `data` in one step: a temporary file in the same folder, fsync, rename over the
    target, fsync the folder. A reader sees the old content or the new, never half; a crash leaves at most a
    hidden temporary file."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f"{TMP_PREFIX}{target.name}.")
    try:
        os.fchmod(fd, file_mode())  # mkstemp's 0600 would lock other users out of a shared folder
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_folder(target.parent)

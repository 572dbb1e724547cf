"""Guarded file access for every file the project opens or writes beside its data: run files, projection caches,
the data cache and lock files.

A file is read only when it is a regular file (never through a symbolic link, never a FIFO or a device, which
could hang the reader or never end) and no larger than its kind can be; JSON that does not parse and arrays
whose headers promise more than their kind can hold are refused before anything is decompressed. Every refusal
is an UnsafeFile with a one-line reason, which callers treat as "unreadable" (a run) or as a cache miss (a
cache, then rebuilt). Files written here get the mode the user's umask gives, whatever the path they take.
"""

from __future__ import annotations

import errno
import io
import json
import os
import stat
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from aecore.text import printable

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


def open_lock_file(path: Path) -> int:
    """A descriptor of the lock file `path`, created if needed: never through a link, never a FIFO or device
    (a plain open of a FIFO hangs before the lock is even tried). Raises UnsafeFile for those, OSError when the
    file cannot be created (a read-only folder: the caller decides what that means)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, file_mode())
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise UnsafeFile(f"the lock file {printable(path)} is a symbolic link; remove it") from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UnsafeFile(f"the lock file {printable(path)} is not a regular file; remove it")
    return fd

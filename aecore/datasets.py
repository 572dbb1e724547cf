"""The registry of datasets: one DatasetSpec per dataset, listed once in DATASETS.

Config validation, the CLI's `--dataset` choices, the sidebar, the banners and the cost estimates read this
table; nothing else lists dataset names. Adding a dataset is one entry here (its loader returns uint8 images of
shape (N, 28, 28) and int64 labels for the training and test splits; `aecore.data` pads, splits and caches).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from aecore import dataset_files

# The registry's error, raised by its loaders; where the loaders look for Fashion-MNIST (the CLI lists it).
from aecore.dataset_files import FASHION_FOLDERS, Arrays, DatasetUnavailable  # noqa: F401

MNIST_CLASSES = tuple(str(digit) for digit in range(10))
FASHION_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
MNIST_LICENCE = "MNIST: Yann LeCun, Corinna Cortes, Christopher J.C. Burges; CC BY-SA 3.0"
FASHION_LICENCE = "Fashion-MNIST: Zalando Research; MIT licence"


@dataclass(frozen=True, eq=False)  # one spec per dataset: identity is equality, and specs are hashable
class DatasetSpec:
    """Everything the rest of the code needs to know about one dataset.

    Parameters
    ----------
    name : the id stored in configs and run folder names ("mnist")
    title : what people read, with its size ("MNIST, 60k")
    class_names : what each label means, in label order (digits, or Fashion-MNIST's garments)
    train_images : training images after the validation split (what a run without a limit trains on)
    test_images : the size of its test set
    test_set : the id of its test set; runs of two datasets with the same id are scored on the same images
        and may be paired image by image
    test_title : how a banner names the test set ("the 10,000-image MNIST test set")
    licence : one line of attribution
    load : (data_root, cache_dir) -> Arrays; raises DatasetUnavailable with a one-line message
    """

    name: str
    title: str
    class_names: tuple[str, ...]
    train_images: int
    test_images: int
    test_set: str
    test_title: str
    licence: str
    load: Callable[[Path, Path], Arrays]

    @property
    def item(self) -> str:
        """What one image shows, for text: "digit" or "class"."""
        return "digit" if self.class_names == MNIST_CLASSES else "class"


DATASETS: list[DatasetSpec] = [
    DatasetSpec(
        name="mnist", title="MNIST, 60k", class_names=MNIST_CLASSES, train_images=54_000, test_images=10_000,
        test_set="mnist-test", test_title="the 10,000-image MNIST test set", licence=MNIST_LICENCE,
        load=dataset_files.load_mnist,
    ),
    DatasetSpec(
        name="mnist-sample", title="MNIST sample, 5k", class_names=MNIST_CLASSES, train_images=4_500,
        test_images=10_000, test_set="mnist-test", test_title="the 10,000-image MNIST test set",
        licence=MNIST_LICENCE, load=dataset_files.load_mnist_sample,
    ),
    DatasetSpec(
        name="fashion-mnist", title="Fashion-MNIST, 60k", class_names=FASHION_CLASSES, train_images=54_000,
        test_images=10_000, test_set="fashion-mnist-test", test_title="the 10,000-image Fashion-MNIST test set",
        licence=FASHION_LICENCE, load=dataset_files.load_fashion,
    ),
]  # fmt: skip

DEFAULT_DATASET = "mnist"


def names() -> tuple[str, ...]:
    return tuple(spec.name for spec in DATASETS)


def get(name: str) -> DatasetSpec:
    """The spec called `name`; ValueError naming the registered datasets otherwise."""
    for spec in DATASETS:
        if spec.name == name:
            return spec
    raise ValueError(f"dataset must be one of {', '.join(names())}; got {name!r}")


def estimate_train_images(name: str, train_limit: int | None) -> int:
    """How many images a run on dataset `name` with this limit trains on (without loading the data)."""
    size = get(name).train_images
    return size if train_limit is None else min(size, train_limit)

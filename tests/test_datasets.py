"""The dataset registry: real MNIST bundled and checked, Fashion-MNIST where installed, and one entry adds a dataset."""

import os
from pathlib import Path

import numpy as np
import pytest

from aecore import dataset_files, datasets
from aecore.__main__ import build_parser
from aecore.config import ConfigError, RunConfig
from aecore.data import DatasetUnavailable, default_data_root, estimate_train_images, load_dataset
from aecore.datasets import DatasetSpec

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


@pytest.fixture(scope="module")
def mnist():
    return load_dataset("mnist")


def test_mnist_is_the_default_everywhere():
    assert RunConfig().dataset == "mnist"
    assert build_parser().parse_args(["train"]).dataset == "mnist"
    assert RunConfig.for_recipe("conv").run_id.startswith("conv-mnist-")


def test_mnist_is_the_whole_bundled_training_split(mnist):
    assert (len(mnist.train), len(mnist.val), len(mnist.test)) == (54_000, 6_000, 10_000)
    labels = np.concatenate([mnist.train.labels.numpy(), mnist.val.labels.numpy()])
    assert np.bincount(labels).tolist() == MNIST_TRAIN_COUNTS, "not MNIST's per-digit training counts"
    val_counts = np.bincount(mnist.val.labels.numpy())
    assert (np.abs(val_counts - np.array(MNIST_TRAIN_COUNTS) / 10) <= 1).all(), "validation split is not stratified"
    assert not set(mnist.train.indices) & set(mnist.val.indices)
    assert mnist.description.startswith("MNIST, 60k: 60,000 training images (54,000 train / 6,000 validation)")


def test_mnist_training_files_match_their_readme():
    import hashlib
    import re

    folder = default_data_root() / "mnist-train"
    readme = (folder / "README.md").read_text()
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"):
        expected = re.search(rf"{re.escape(name)} \| ([0-9a-f]{{32}})", readme).group(1)
        assert hashlib.md5((folder / name).read_bytes()).hexdigest() == expected, f"{name} differs from its README"
    assert "CC BY-SA 3.0" in readme or "Attribution-Share Alike 3.0" in readme


def test_the_sample_is_inside_mnist_and_shares_its_test_set(mnist):
    sample = load_dataset("mnist-sample")
    assert datasets.get("mnist").test_set == datasets.get("mnist-sample").test_set
    assert np.array_equal(sample.test.images.numpy(), mnist.test.images.numpy())
    full = {img.tobytes() for img in mnist.train.images.numpy()} | {img.tobytes() for img in mnist.val.images.numpy()}
    assert all(img.tobytes() in full for img in sample.train.images[:200].numpy())


def test_fashion_mnist_missing_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setattr(dataset_files, "FASHION_FOLDERS", ("fashion-mnist", str(tmp_path / "nowhere")))
    (tmp_path / "mnist-test").mkdir()
    with pytest.raises(DatasetUnavailable, match="apt-get install dataset-fashion-mnist"):
        load_dataset.__wrapped__("fashion-mnist", str(tmp_path))


def test_fashion_mnist_with_unbalanced_classes_is_refused(tmp_path, monkeypatch):
    folder = tmp_path / "fashion-mnist"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for split, n in (("train", 60), ("t10k", 10)):
        _write_idx(folder / f"{split}-images-idx3-ubyte", rng.integers(0, 255, (n, 28, 28), dtype=np.uint8))
        _write_idx(folder / f"{split}-labels-idx1-ubyte", (np.arange(n) % 10).astype(np.uint8))
    with pytest.raises(DatasetUnavailable, match="images per class"):
        load_dataset.__wrapped__("fashion-mnist", str(tmp_path))


def _write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    path.write_bytes(header + array.tobytes())


def test_fashion_mnist_trains_where_installed(tmp_path):
    try:
        data = load_dataset("fashion-mnist")
    except DatasetUnavailable:
        if os.environ.get("CI") == "true":
            raise  # CI installs the package (.ci/run): a missing dataset there is a failure
        pytest.skip("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
    assert np.bincount(data.test.labels.numpy()).tolist() == [1000] * 10
    assert datasets.get("fashion-mnist").class_names[0] == "T-shirt/top"


def test_an_unknown_dataset_names_the_registered_ones():
    with pytest.raises(ConfigError, match="mnist-sample"):
        RunConfig(dataset="cifar")


@pytest.fixture
def tiny_dataset(monkeypatch):
    """A test-only dataset registered as one entry: 200 random training images, 50 test images."""

    def load(data_root, cache):
        rng = np.random.default_rng(0)
        images = rng.integers(0, 255, (250, 28, 28), dtype=np.uint8)
        labels = np.arange(250) % 10
        return images[:200], labels[:200], images[200:], labels[200:]

    spec = DatasetSpec(
        name="tiny", title="Tiny, 200", class_names=tuple("abcdefghij"), train_images=180, test_images=50,
        test_set="tiny-test", test_title="the 50 tiny test images", licence="made up", load=load,
    )  # fmt: skip
    monkeypatch.setattr(datasets, "DATASETS", [*datasets.DATASETS, spec])
    yield spec
    load_dataset.cache_clear()


def test_adding_a_dataset_is_one_registry_entry(tiny_dataset, tmp_path):
    from aecore.pipeline import load_or_train

    config = RunConfig(model="mlp", bottleneck=2, epochs=1, batch_size=32, dataset="tiny")
    assert estimate_train_images("tiny", None) == 180
    assert build_parser().parse_args(["train", "--dataset", "tiny"]).dataset == "tiny"
    info, _ = load_or_train(config, root=tmp_path)
    assert info.config.dataset == "tiny" and info.dataset.description.endswith("the 50 tiny test images")
    assert info.metrics.test.mse > 0

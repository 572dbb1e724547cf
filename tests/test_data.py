"""The bundled dataset: shapes, padding, range, labels, splits, and no test image in training."""

import hashlib

import numpy as np
import pytest
import torch

from aecore.data import DatasetUnavailable, load_dataset, pad_to_32


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


def test_missing_full_mnist_offline_names_the_sample(tmp_path, monkeypatch):
    import torchvision.datasets

    def offline(*args, **kwargs):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz")

    monkeypatch.setattr(torchvision.datasets, "MNIST", offline)
    with pytest.raises(DatasetUnavailable, match="mnist-sample"):
        load_dataset("mnist", str(tmp_path))


def test_missing_vendored_test_set_is_a_clear_error(tmp_path):
    with pytest.raises(DatasetUnavailable, match="test set is missing"):
        load_dataset("mnist-sample", str(tmp_path))

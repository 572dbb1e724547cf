"""Corruptions change inputs by exactly the expected amount; curves score against the clean image."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aecore.data import first_of_each_digit
from aecore.robustness import (
    Corruption,
    add_noise,
    corrupt,
    errors_against_clean,
    occlude,
    robustness_curves,
    shift,
)
from aecore.stats import BootstrapConfig


def test_noise_has_the_requested_standard_deviation_away_from_the_clip():
    grey = torch.full((20, 1, 32, 32), 0.5)
    noisy = add_noise(grey, 0.05, seed=0)
    assert (noisy - grey).std().item() == pytest.approx(0.05, rel=0.05)
    assert abs((noisy - grey).mean().item()) < 0.002


def test_noise_is_clipped_to_valid_pixels_and_seeded():
    images = torch.rand(4, 1, 32, 32)
    noisy = add_noise(images, 0.8, seed=3)
    assert noisy.min() >= 0 and noisy.max() <= 1
    assert torch.equal(noisy, add_noise(images, 0.8, seed=3))
    assert not torch.equal(noisy, add_noise(images, 0.8, seed=4))
    assert torch.equal(add_noise(images, 0.0), images)


@pytest.mark.parametrize("size", [1, 4, 9, 32])
def test_occlusion_blanks_exactly_a_centred_square(size):
    images = torch.ones(2, 1, 32, 32)
    out = occlude(images, size)
    blank = out[0, 0] == 0
    assert blank.sum().item() == size * size
    rows, cols = torch.nonzero(blank, as_tuple=True)
    assert rows.max() - rows.min() + 1 == size and cols.max() - cols.min() + 1 == size
    centre = (rows.float().mean().item(), cols.float().mean().item())
    assert centre == pytest.approx(((32 - size) // 2 + (size - 1) / 2,) * 2)
    assert torch.equal(images, torch.ones(2, 1, 32, 32)), "the input must not be changed in place"


@pytest.mark.parametrize(("dx", "dy"), [(3, 0), (-2, 0), (0, 4), (2, -5)])
def test_shift_moves_every_pixel_by_the_offset(dx, dy):
    image = torch.zeros(1, 1, 32, 32)
    image[0, 0, 10, 12] = 1.0
    image[0, 0, 20, 8] = 0.5
    out = shift(image, dx, dy)
    assert out[0, 0, 10 + dy, 12 + dx] == 1.0 and out[0, 0, 20 + dy, 8 + dx] == 0.5
    assert out.sum().item() == pytest.approx(1.5)


def test_shift_drops_what_leaves_the_frame():
    image = torch.ones(1, 1, 32, 32)
    out = shift(image, 5, 0)
    assert out[..., :5].sum() == 0 and out[..., 5:].eq(1).all()
    assert shift(image, 40, 0).sum() == 0


def test_corrupt_combines_all_three():
    image = torch.zeros(1, 1, 32, 32)
    image[0, 0, 16, 10] = 1.0
    out = corrupt(image, Corruption(occlusion=4, shift_x=6))  # the pixel moves into the centre square
    assert out.sum() == 0


@pytest.mark.parametrize("bad", [{"noise": -0.1}, {"occlusion": 40}, {"occlusion": 2.5}, {"shift_x": 33}])
def test_invalid_corruptions_are_refused(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        Corruption(**bad)


def test_errors_are_scored_against_the_clean_image():
    clean = torch.rand(3, 1, 32, 32)
    identity = errors_against_clean(lambda x: x, clean, Corruption(occlusion=8))
    blanked = (clean[:, :, 12:20, 12:20] ** 2).flatten(1).sum(1) / 1024
    assert np.allclose(identity, blanked.numpy(), atol=1e-7)
    perfect = errors_against_clean(lambda x: clean, clean, Corruption(noise=0.5))
    assert np.allclose(perfect, 0)


def test_curves_grow_with_strength_for_a_model_that_copies_its_input(tiny_dataset):
    clean = tiny_dataset.test.images[first_of_each_digit(tiny_dataset.test.labels, per_digit=5)]
    strengths = {"noise": (0.0, 0.2, 0.4), "occlusion": (0, 8, 16), "shift": (0, 2, 4)}
    curves = robustness_curves({"copy": lambda x: x}, clean, strengths, BootstrapConfig(resamples=1000))
    assert len(curves) == 9 and set(curves["n"]) == {50}
    for kind, rows in curves.groupby("corruption"):
        mse = rows.sort_values("strength")["mse"].to_numpy()
        assert mse[0] == 0 and mse[1] < mse[2], f"{kind}: error must grow with strength, got {mse}"


def test_fixed_subset_takes_the_same_images_of_every_digit():
    labels = torch.tensor([3, 1, 3, 0, 1, 3] * 2)
    chosen = first_of_each_digit(labels, per_digit=2)
    assert list(chosen) == [0, 1, 2, 3, 4, 9]

"""Latent-space analysis: encoding, neighbours, agreement between spaces, trustworthiness, decode anywhere,
interpolation. Tiny untrained models and synthetic codes; nothing here needs the shipped runs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aecore import latent
from aecore.architectures import ARCHITECTURES, build_model
from aecore.inference import decode, encode


@pytest.fixture(params=[spec.name for spec in ARCHITECTURES])
def model(request):
    torch.manual_seed(0)
    return build_model(request.param, 1)


def random_images(n: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 1, 32, 32, generator=torch.Generator().manual_seed(seed))


def test_encode_gives_one_code_per_image_and_restores_training_mode(model):
    model.train()
    codes = encode(model, random_images(5))
    assert codes.shape == (5, model.latent_dim) and codes.dtype == np.float32
    assert model.training, "encode left the model in eval mode"
    with torch.no_grad():
        model.eval()
        np.testing.assert_allclose(codes, model.encode(random_images(5)).numpy(), atol=1e-6)


def test_nearest_neighbours_are_nearest_first_and_exclude_the_query():
    points = np.array([[0.0], [1.0], [3.0], [6.0], [10.0]])
    np.testing.assert_array_equal(latent.nearest_neighbours(points, 1, 3), [0, 2, 3])
    assert 0 not in latent.nearest_neighbours(points, 0, 4)


def test_agreement_is_one_for_identical_spaces_and_for_a_rotated_copy():
    codes = np.random.default_rng(0).normal(size=(300, 6))
    rotation, _ = np.linalg.qr(np.random.default_rng(1).normal(size=(6, 6)))
    assert latent.neighbourhood_agreement(codes, codes, k=10).score == pytest.approx(1.0)
    assert latent.neighbourhood_agreement(codes, 3 * codes @ rotation, k=10).score == pytest.approx(1.0)


def test_agreement_of_unrelated_spaces_is_near_chance():
    rng = np.random.default_rng(0)
    result = latent.neighbourhood_agreement(rng.normal(size=(500, 8)), rng.normal(size=(500, 16)), k=10)
    assert result.chance == pytest.approx(10 / 499)
    assert result.score < 3 * result.chance, f"random spaces agree {result.score:.3f}, chance {result.chance:.3f}"
    assert result.k == 10 and result.n == 500


def test_agreement_sits_between_chance_and_one_for_a_noisy_copy():
    codes = np.random.default_rng(0).normal(size=(400, 8))
    noisy = codes + np.random.default_rng(1).normal(scale=0.3, size=codes.shape)
    result = latent.neighbourhood_agreement(codes, noisy, k=10)
    assert 3 * result.chance < result.score < 1.0


def test_agreement_refuses_mismatched_inputs():
    with pytest.raises(ValueError, match="same images"):
        latent.neighbourhood_agreement(np.zeros((10, 2)), np.zeros((9, 2)))
    with pytest.raises(ValueError, match="k must"):
        latent.neighbourhood_agreement(np.zeros((10, 2)), np.zeros((10, 2)), k=10)


def test_trustworthiness_is_one_for_a_faithful_map_and_low_for_a_random_one():
    rng = np.random.default_rng(0)
    codes = rng.normal(size=(300, 2))
    assert latent.trustworthiness(codes, codes.copy(), k=5) == pytest.approx(1.0)
    assert latent.trustworthiness(codes, rng.normal(size=(300, 2)), k=5) < 0.7


def test_trustworthiness_of_a_big_map_is_scored_on_a_subset():
    codes = np.random.default_rng(0).normal(size=(3000, 2))
    assert latent.trustworthiness(codes, codes, k=5, max_points=500) == pytest.approx(1.0)


@pytest.mark.parametrize("spot", [(0.0, 0.0), (0.5, 0.5), (100.0, -100.0), (-1e6, 1e6)])
def test_decoding_any_spot_gives_a_32x32_image_in_0_1(model, spot):
    rng = np.random.default_rng(0)
    coords = rng.uniform(0, 1, size=(60, 2))
    codes = rng.normal(size=(60, model.latent_dim)).astype(np.float32)
    neighbours = latent.MapIndex().fit(coords).neighbours(spot)
    image = decode(model, latent.latent_at(codes, neighbours)[None])[0]  # what the latent page decodes
    assert image.shape == (32, 32)
    assert image.min() >= 0.0 and image.max() <= 1.0


def test_a_spot_is_far_only_away_from_the_data():
    coords = np.random.default_rng(0).uniform(0, 1, size=(200, 2))
    index = latent.MapIndex().fit(coords)
    assert not index.neighbours(tuple(coords[7])).far
    assert not index.neighbours((0.5, 0.5)).far
    far = index.neighbours((5.0, 5.0))
    assert far.far and far.distance > far.spacing


def test_spot_weights_favour_the_nearest_points_and_a_spot_on_a_point_returns_its_code():
    rng = np.random.default_rng(0)
    coords = rng.uniform(0, 1, size=(100, 2))
    codes = rng.normal(size=(100, 5))
    on_point = latent.MapIndex(k=8).fit(coords).neighbours(tuple(coords[42]))
    assert on_point.rows[0] == 42 and on_point.weights.sum() == pytest.approx(1.0)
    assert np.all(np.diff(on_point.weights) <= 1e-12), "nearer points must weigh at least as much"
    np.testing.assert_allclose(latent.latent_at(codes, on_point), codes[42], atol=1e-5)
    between = latent.MapIndex(k=8).fit(coords).neighbours((0.5, 0.5))
    blended = latent.latent_at(codes, between)
    low, high = codes[between.rows].min(0), codes[between.rows].max(0)
    assert np.all((blended >= low - 1e-6) & (blended <= high + 1e-6)), "the code left its neighbours' span"


def test_empty_spots_lie_only_where_no_point_is():
    rng = np.random.default_rng(0)
    coords = np.concatenate([rng.uniform(0, 1, size=(500, 2)), rng.uniform(3, 4, size=(500, 2))])
    spots = latent.empty_spots(coords, cells=20)
    assert len(spots) > 0 and spots.shape[1] == 2
    nearest = latent.MapIndex(k=1).fit(coords).index_.kneighbors(spots)[0][:, 0]
    assert nearest.min() > 0.05, "a spot sits on top of the data"
    gap = spots[(spots[:, 0] > 1.5) & (spots[:, 0] < 2.5) & (spots[:, 1] > 1.5) & (spots[:, 1] < 2.5)]
    assert len(gap) > 0, "the empty middle of the map must be clickable"


def test_interpolation_end_frames_are_the_reconstructions_of_the_end_digits(model):
    images = random_images(2, seed=3)
    strip = latent.interpolate(model, images[0], images[1], steps=7)
    assert strip.shape == (7, 32, 32)
    model.eval()
    with torch.no_grad():
        recon = model(images)[:, 0].numpy()
    np.testing.assert_allclose(strip[0], recon[0], atol=1e-5)
    np.testing.assert_allclose(strip[-1], recon[1], atol=1e-5)
    assert not np.allclose(strip[0], strip[-1]), "different digits must give different end frames"
    assert strip.min() >= 0.0 and strip.max() <= 1.0


def test_interpolation_needs_two_steps(model):
    images = random_images(2)
    with pytest.raises(ValueError, match="steps"):
        latent.interpolate(model, images[0], images[1], steps=1)

"""Latent quality: k-NN and linear probe on synthetic codes with known answers, and on PCA codes of real digits."""

from __future__ import annotations

import numpy as np
import pytest

from aecore.baselines import PCABaseline
from aecore.latent_quality import (
    ProbeConfig,
    knn_correct,
    latent_quality_table,
    linear_probe_correct,
    pca_codes,
)


def _clusters(n_per_class: int, spread: float, noise_seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Ten Gaussian blobs in 8-D, one per digit, with the same centres on every call (fresh noise per seed)."""
    centres = np.random.default_rng(0).normal(0, 10, size=(10, 8))
    labels = np.repeat(np.arange(10), n_per_class)
    noise = np.random.default_rng(noise_seed + 1).normal(0, spread, size=(len(labels), 8))
    return centres[labels] + noise, labels


def test_well_separated_codes_classify_almost_perfectly():
    train_z, train_y = _clusters(50, 0.5, noise_seed=0)
    test_z, test_y = _clusters(30, 0.5, noise_seed=1)
    assert knn_correct(train_z, train_y, test_z, test_y).mean() > 0.98, "k-NN failed on separated clusters"
    assert linear_probe_correct(train_z, train_y, test_z, test_y).mean() > 0.98, "probe failed on separated clusters"


def test_shuffled_labels_give_chance_accuracy():
    train_z, train_y = _clusters(50, 0.5, noise_seed=0)
    test_z, test_y = _clusters(50, 0.5, noise_seed=1)
    # Both sides shuffled: no code says anything about its label, so any classifier scores 10% on average
    # (with 500 test codes, one standard deviation is 1.3 points).
    rng = np.random.default_rng(1)
    train_shuffled, test_shuffled = rng.permutation(train_y), rng.permutation(test_y)
    knn = knn_correct(train_z, train_shuffled, test_z, test_shuffled).mean()
    probe = linear_probe_correct(train_z, train_shuffled, test_z, test_shuffled).mean()
    assert 0.05 < knn < 0.16, f"k-NN on shuffled labels should be near 10%, got {knn:.3f}"
    assert 0.05 < probe < 0.16, f"probe on shuffled labels should be near 10%, got {probe:.3f}"


def test_table_has_one_row_per_method_with_its_dims():
    train_z, train_y = _clusters(20, 0.5, noise_seed=0)
    test_z, test_y = _clusters(10, 0.5, noise_seed=1)
    codes = {"MLP": (train_z, test_z), "PCA-4": (train_z[:, :4], test_z[:, :4])}
    table = latent_quality_table(codes, {"MLP": train_y, "PCA-4": train_y}, test_y).table
    assert list(table["method"]) == ["MLP", "PCA-4"]
    assert list(table["latent_dims"]) == [8, 4]
    assert table["knn_accuracy"].between(0, 1).all() and table["probe_accuracy"].between(0, 1).all()
    for name in ("knn", "probe"):
        assert (table[f"{name}_low"] <= table[f"{name}_accuracy"]).all(), f"{name}: interval above its accuracy"
        assert (table[f"{name}_accuracy"] <= table[f"{name}_high"]).all(), f"{name}: interval below its accuracy"


def test_accuracy_intervals_are_wide_for_few_test_images_and_narrow_for_many():
    train_z, train_y = _clusters(40, 4.0, noise_seed=0)  # overlapping blobs: accuracy well below 1
    widths = []
    for n in (10, 200):
        test_z, test_y = _clusters(n, 4.0, noise_seed=1)
        table = latent_quality_table({"m": (train_z, test_z)}, {"m": train_y}, test_y).table
        widths.append(float(table["probe_high"].iloc[0] - table["probe_low"].iloc[0]))
    assert widths[0] > 2 * widths[1] > 0, f"interval widths for 100 and 2,000 test codes: {widths}"


def test_pca_codes_on_real_digits_beat_chance_by_far(tiny_dataset):
    pca = PCABaseline.fit(tiny_dataset.train.images, 16)
    train_z, test_z = pca_codes(pca, tiny_dataset.train.images, tiny_dataset.test.images)
    assert train_z.shape == (200, 16) and test_z.shape == (200, 16)
    accuracy = knn_correct(train_z, tiny_dataset.train.labels.numpy(), test_z, tiny_dataset.test.labels.numpy()).mean()
    assert accuracy > 0.6, f"PCA-16 k-NN on real digits should be well above chance, got {accuracy:.2f}"


@pytest.mark.parametrize("bad", [{"neighbours": 0}, {"max_iter": 0}, {"neighbours": 2.5}])
def test_invalid_probe_settings_are_refused(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        ProbeConfig(**bad)


def test_per_point_trustworthiness_averages_to_scikit_learns():
    from sklearn.manifold import trustworthiness as sk_trustworthiness

    from aecore.latent_quality import per_point_trustworthiness

    rng = np.random.default_rng(0)
    latents = rng.normal(size=(300, 8))
    coords = latents[:, :2] + rng.normal(scale=0.5, size=(300, 2))  # a lossy map
    points = per_point_trustworthiness(latents, coords, k=7)
    assert points.shape == (300,) and points.min() < 1
    assert points.mean() == pytest.approx(sk_trustworthiness(latents, coords, n_neighbors=7), abs=1e-9)


def test_a_raw_2d_code_is_trustworthy_by_construction_and_the_sentence_says_so():
    from aecore.latent_quality import trustworthiness
    from aecore.verdicts import trust_sentence

    codes = np.random.default_rng(1).normal(size=(200, 2))
    trust = trustworthiness(codes, codes, k=5, raw=True)
    assert trust.by_construction and trust.interval.mean == pytest.approx(1.0)
    assert "1 by construction" in trust_sentence("A", trust)
    noisy = trustworthiness(np.random.default_rng(2).normal(size=(200, 6)), codes, k=5)
    line = trust_sentence("B", noisy)
    assert not noisy.by_construction and "95% interval" in line, line
    assert noisy.interval.low < noisy.interval.mean < noisy.interval.high < 1

"""Verdict sentences: they name PCA, give the interval, and say "no clear difference" when the interval allows it."""

import numpy as np

from aecore.verdicts import against_pca, between_runs


def errors(mean: float, n: int = 2000, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).gamma(2.0, mean / 2.0, size=n)


def test_a_run_well_below_pca_is_called_better_with_the_ratio():
    line = against_pca("A", errors(0.005), pca_mse=0.011, latent_dim=32, parameters=286_000)
    assert "better than PCA with 32 components" in line and "2.2×" in line, line
    assert "286,000 parameters" in line and "95% interval" in line


def test_a_run_above_pca_is_called_worse_by_a_percentage():
    line = against_pca("B", errors(0.0130), pca_mse=0.0118, latent_dim=32, parameters=3_147)
    assert "worse than PCA" in line and "%" in line, line


def test_pca_inside_the_interval_is_no_clear_difference():
    values = errors(0.0118)
    line = against_pca("B", values, pca_mse=float(values.mean()), latent_dim=32, parameters=10)
    assert "no clear difference" in line and "better" not in line, line


def test_two_close_runs_are_no_clear_difference_and_a_clear_gap_names_the_better():
    base = errors(0.01, seed=1)
    noise = np.where(np.arange(len(base)) % 2 == 0, 0.002, -0.002)  # differences of mean exactly zero
    assert "no clear difference" in between_runs(("A", "B"), base, base + noise)
    line = between_runs(("A", "B"), base, base * 1.5)
    assert line.startswith("**A** rebuilds test images 1.50× better than **B**"), line

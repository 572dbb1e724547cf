"""Verdict sentences: they name PCA, give the interval, and say "no clear difference" when the interval allows it."""

import numpy as np

from aecore.verdicts import against_pca, between_runs


def errors(mean: float, n: int = 2000, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).gamma(2.0, mean / 2.0, size=n)


def test_a_run_well_below_pca_is_called_better_with_the_ratio():
    pca = errors(0.011, seed=5)
    line = against_pca(
        "A", pca * 0.005 / 0.011, pca_mse=float(pca.mean()), pca_errors=pca, latent_dim=32, parameters=286_000
    )
    assert "better than PCA with 32 components" in line and "2.2×" in line, line
    assert "286,000 parameters" in line and "paired 95% interval" in line


def test_a_run_above_pca_is_called_worse_by_a_percentage():
    pca = errors(0.0118, seed=6)
    line = against_pca(
        "B", pca * 0.0130 / 0.0118, pca_mse=float(pca.mean()), pca_errors=pca, latent_dim=32, parameters=3_147
    )
    assert "worse than PCA" in line and "10%" in line, line


def test_pca_inside_the_interval_is_no_clear_difference():
    values = errors(0.0118)
    noise = np.where(np.arange(len(values)) % 2 == 0, 0.001, -0.001)  # a difference of mean exactly zero
    line = against_pca(
        "B", values + noise, pca_mse=float(values.mean()), pca_errors=values, latent_dim=32, parameters=10
    )
    assert "no clear difference" in line and "better" not in line, line


def test_the_pca_verdict_is_paired_a_constant_small_gain_on_every_image_is_clear():
    """Unpaired, the run's interval (wide: images differ a lot) would swallow a 1% gain; paired, every image
    gains, so the difference is clear."""
    pca = errors(0.0118, seed=7)
    line = against_pca("A", pca * 0.99, pca_mse=float(pca.mean()), pca_errors=pca, latent_dim=32, parameters=10)
    assert "better than PCA" in line and "no clear difference" not in line, line


def test_two_close_runs_are_no_clear_difference_and_a_clear_gap_names_the_better():
    base = errors(0.01, seed=1)
    noise = np.where(np.arange(len(base)) % 2 == 0, 0.002, -0.002)  # differences of mean exactly zero
    assert "no clear difference" in between_runs(("A", "B"), base, base + noise)
    line = between_runs(("A", "B"), base, base * 1.5)
    assert line.startswith("**A** rebuilds test images 1.50× better than **B**"), line


def test_best_of_names_pca_and_says_no_clear_difference_when_the_paired_interval_crosses_zero():
    from aecore.verdicts import Contender, best_of

    base = errors(0.01, seed=2)
    wobble = np.where(np.arange(len(base)) % 2 == 0, 0.0005, -0.0005)  # B − A averages exactly zero
    line = best_of("Grows least for", [Contender("A", base), Contender("B", base + wobble),
                                       Contender("PCA-32", base * 2, baseline=True)],
                   lower_is_better=True, fmt="{:.4f}".format)  # fmt: skip
    assert "clearly lower than **PCA-32**" in line, line
    assert "no clear difference from **B**" in line, line


def test_best_of_with_every_gap_inside_its_interval_claims_no_winner():
    from aecore.verdicts import Contender, best_of

    rng = np.random.default_rng(3)
    right = (rng.random(300) < 0.8).astype(float)
    flipped = right.copy()
    flipped[:2] = 1 - flipped[:2]  # two images differ: far inside the interval
    line = best_of(
        "Most separable:",
        [Contender("A", right), Contender("PCA-32", flipped, baseline=True)],
        lower_is_better=False,
        fmt="{:.1%}".format,
    )
    assert "**no clear difference**" in line and "clearly" not in line, line
    assert "PCA-32" in line and "95% interval" in line


def test_best_of_refuses_scores_of_different_images():
    import pytest

    from aecore.verdicts import Contender, best_of

    with pytest.raises(ValueError, match="same images"):
        best_of("x", [Contender("A", np.zeros(3)), Contender("B", np.zeros(4))], lower_is_better=True, fmt=str)


def test_without_pcas_errors_on_the_same_images_the_verdict_is_the_runs_own_interval_and_says_unpaired():
    run, pca = errors(0.005, n=200), errors(0.011, n=2000, seed=3)
    for given in (pca, None):
        line = against_pca("A", run, pca_mse=float(pca.mean()), latent_dim=32, parameters=10, pca_errors=given)
        assert "better than PCA" in line and "unpaired" in line, line

"""Bootstrap intervals: known answers on synthetic errors."""

from __future__ import annotations

import numpy as np
import pytest

from aecore.stats import (
    BootstrapConfig,
    interval_table,
    mean_interval,
    paired_difference,
    reversed_paired_difference,
    with_verdicts,
)


def test_interval_contains_the_sample_mean_and_narrows_as_n_grows():
    rng = np.random.default_rng(1)
    widths = []
    for n in (50, 500, 5000):
        values = rng.exponential(0.02, size=n)  # skewed, like per-image errors
        interval = mean_interval(values, BootstrapConfig(resamples=1000))
        assert interval.low < values.mean() < interval.high
        assert interval.n == n
        widths.append(interval.high - interval.low)
    assert widths[0] > 2 * widths[1] > 4 * widths[2], f"interval did not narrow like 1/sqrt(n): {widths}"


def test_interval_width_matches_the_normal_approximation():
    values = np.random.default_rng(2).normal(1.0, 0.5, size=2000)
    interval = mean_interval(values, BootstrapConfig(resamples=4000))
    expected = 2 * 1.96 * values.std() / np.sqrt(len(values))
    assert interval.high - interval.low == pytest.approx(expected, rel=0.1)


def test_intervals_are_repeatable_with_a_seed_and_change_with_another():
    values = np.random.default_rng(3).random(300)
    a = mean_interval(values, BootstrapConfig(seed=5))
    b = mean_interval(values, BootstrapConfig(seed=5))
    c = mean_interval(values, BootstrapConfig(seed=6))
    assert a == b
    assert (a.low, a.high) != (c.low, c.high)


def test_per_digit_rows_have_the_right_counts_and_means():
    labels = np.repeat(np.arange(10), np.arange(1, 11) * 10)  # digit d has 10 (d + 1) images
    errors = labels * 0.01 + np.random.default_rng(4).normal(0, 0.001, size=len(labels))
    table = interval_table({"x": errors}, labels, BootstrapConfig(resamples=1000))
    assert list(table["digit"]) == [str(d) for d in range(10)] + ["all"]
    assert list(table["n"]) == [10 * (d + 1) for d in range(10)] + [len(labels)]
    assert np.allclose(table["x MSE"][:10], np.arange(10) * 0.01, atol=0.001)
    assert (table["x CI low"] <= table["x MSE"]).all() and (table["x MSE"] <= table["x CI high"]).all()


def test_paired_difference_finds_a_real_gap_that_unpaired_noise_would_hide():
    rng = np.random.default_rng(5)
    labels = np.tile(np.arange(10), 100)
    shared = rng.exponential(0.02, size=1000)  # image difficulty, common to both models
    mlp = shared + 0.001 + rng.normal(0, 0.0002, size=1000)  # a little worse on every image
    conv = shared
    table = paired_difference(mlp, conv, labels, BootstrapConfig(resamples=1000), names=("MLP", "conv"))
    overall = table.set_index("digit").loc["all"]
    assert overall["diff"] == pytest.approx(0.001, rel=0.05)
    assert overall["ci_low"] > 0, "a consistent gap must give an interval above zero"
    assert overall["win_rate"] < 0.01 and overall["verdict"] == "conv better"


def test_paired_difference_of_identical_models_is_zero_with_no_verdict():
    rng = np.random.default_rng(6)
    labels = np.tile(np.arange(10), 50)
    a = rng.exponential(0.02, size=500)
    b = a + rng.normal(0, 0.005, size=500)  # noise without a direction
    table = paired_difference(a, b, labels, BootstrapConfig(resamples=1000), names=("MLP", "conv"))
    overall = table.set_index("digit").loc["all"]
    assert overall["ci_low"] < 0 < overall["ci_high"]
    assert overall["verdict"] == "no clear difference"
    assert 0.4 < overall["win_rate"] < 0.6


def test_interval_table_puts_methods_side_by_side():
    labels = np.tile(np.arange(10), 20)
    errors = {"MLP": np.full(200, 0.02), "PCA-32": np.full(200, 0.03)}
    table = interval_table(errors, labels, BootstrapConfig(resamples=1000))
    assert len(table) == 11
    assert np.allclose(table["MLP MSE"], 0.02) and np.allclose(table["PCA-32 CI high"], 0.03)


@pytest.mark.parametrize("resamples", [999, 0, 1.5, True])
def test_too_few_resamples_are_refused(resamples):
    with pytest.raises(ValueError, match="resamples"):
        BootstrapConfig(resamples=resamples)


def test_confidence_outside_range_is_refused():
    with pytest.raises(ValueError, match="confidence"):
        BootstrapConfig(confidence=1.0)


def test_mismatched_lengths_are_refused():
    with pytest.raises(ValueError, match="one value per image"):
        paired_difference(np.zeros(3), np.zeros(4), np.zeros(3, dtype=int))


def test_the_reversed_order_is_the_direct_computation_mirrored():
    rng = np.random.default_rng(8)
    labels = np.tile(np.arange(10), 80)
    shared = rng.exponential(0.02, size=800)
    a = shared + rng.normal(0.0004, 0.002, size=800)  # a gap on some digits, noise on others
    b = shared + np.where(labels < 3, 0.003, 0.0)
    config = BootstrapConfig(resamples=1000)
    forward = paired_difference(a, b, labels, config, names=("A", "B"))
    direct = paired_difference(b, a, labels, config, names=("B", "A"))
    derived = reversed_paired_difference(forward, names=("B", "A"))
    numbers = ["diff", "ci_low", "ci_high", "win_rate", "win_low", "win_high"]
    assert np.allclose(derived[numbers], direct[numbers], rtol=0, atol=1e-12)
    assert list(derived["verdict"]) == list(direct["verdict"])
    assert {"B better", "no clear difference"} <= set(direct["verdict"]), "both kinds of row are compared"
    assert list(derived["digit"]) == list(direct["digit"]) and list(derived["n"]) == list(direct["n"])


def test_verdicts_are_written_with_the_names_given():
    labels = np.tile(np.arange(10), 50)
    a = np.linspace(0.01, 0.03, 500)
    table = paired_difference(a, a + 0.01, labels, BootstrapConfig(resamples=1000), names=("first", "second"))
    assert set(table["verdict"]) == {"first better"}
    assert set(with_verdicts(table, ("A", "B"))["verdict"]) == {"A better"}
    assert set(table["verdict"]) == {"first better"}, "the table given is left as it was"

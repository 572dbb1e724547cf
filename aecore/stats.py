"""How sure a test-set error is: seeded, vectorised bootstrap intervals per digit, overall and for paired differences.

Every function takes per-image errors (one number per test image) and returns plain frames; nothing here
runs a model. The percentile bootstrap (scipy.stats.bootstrap) is used throughout: resample images with
replacement, recompute the mean, and read the interval off the resampled means.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

MIN_RESAMPLES = 1000
# Resamples are drawn in batches so that 2,000 resamples of 60,000 images stay ~100 MB.
BLOCK_ELEMENTS = 4_000_000


@dataclass(frozen=True)
class BootstrapConfig:
    """How intervals are drawn: number of resamples, confidence level, and the seed that makes them repeatable."""

    resamples: int = 2000
    confidence: float = 0.95
    seed: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.resamples, bool) or not isinstance(self.resamples, int) or self.resamples < MIN_RESAMPLES:
            raise ValueError(f"resamples must be a whole number of at least {MIN_RESAMPLES}; got {self.resamples!r}")
        if not 0.5 <= self.confidence < 1:
            raise ValueError(f"confidence must be in [0.5, 1); got {self.confidence!r}")


@dataclass(frozen=True)
class Interval:
    """A mean and its bootstrap interval over n values."""

    mean: float
    low: float
    high: float
    n: int


def mean_intervals(values: np.ndarray, config: BootstrapConfig = BootstrapConfig(), stream: int = 0) -> list[Interval]:
    """Percentile bootstrap interval of the mean of each column of `values` (n, k), from one paired resampling.

    scipy.stats.bootstrap resamples the rows (images), so the k columns share every resample: a paired
    bootstrap, k times cheaper than resampling each column on its own. `stream` picks an independent random
    stream (e.g. one per digit) so intervals do not depend on call order. An empty `values` gives NaN
    intervals with n = 0.
    """
    from scipy.stats import bootstrap

    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"values must be 2-D (images, columns); got shape {values.shape}")
    if len(values) == 0:
        return [Interval(float("nan"), float("nan"), float("nan"), 0) for _ in range(values.shape[1])]
    result = bootstrap(
        (values,), np.mean, axis=0, vectorized=True, n_resamples=config.resamples,
        batch=max(1, BLOCK_ELEMENTS // values.size), confidence_level=config.confidence, method="percentile",
        rng=np.random.default_rng([config.seed, stream]),
    )  # fmt: skip
    lows, highs = (np.atleast_1d(bound) for bound in result.confidence_interval)
    centre = values.mean(axis=0)
    return [
        Interval(float(m), float(lo), float(hi), len(values)) for m, lo, hi in zip(centre, lows, highs, strict=True)
    ]


def mean_interval(values: np.ndarray, config: BootstrapConfig = BootstrapConfig(), stream: int = 0) -> Interval:
    """Percentile bootstrap interval of the mean of `values` (n,); NaNs when `values` is empty."""
    return mean_intervals(np.asarray(values, dtype=np.float64).reshape(-1, 1), config, stream)[0]


# Stream numbers: digits use 0-9, the overall row uses this one.
OVERALL_STREAM = 10


def _groups(labels: np.ndarray) -> list[tuple[str, np.ndarray, int]]:
    """(label, mask, stream) for digits 0-9 and then "all"."""
    labels = np.asarray(labels)
    rows = [(str(d), labels == d, d) for d in range(10)]
    rows.append(("all", np.ones(len(labels), dtype=bool), OVERALL_STREAM))
    return rows


def paired_difference(
    errors_a: np.ndarray,
    errors_b: np.ndarray,
    labels: np.ndarray,
    config: BootstrapConfig = BootstrapConfig(),
    names: tuple[str, str] = ("a", "b"),
) -> pd.DataFrame:
    """Difference a − b of two models' errors on the same test images, per digit and overall.

    The images are resampled jointly (a paired bootstrap), which is what makes a small difference between
    two correlated models detectable. Negative differences mean `a` reconstructs better.

    Returns a frame with columns digit, n, diff, ci_low, ci_high, win_rate (share of images where a's error
    is lower than b's), win_low, win_high, verdict ("<a> better", "<b> better" or "no clear difference").
    """
    errors_a = np.asarray(errors_a, dtype=np.float64)
    errors_b = np.asarray(errors_b, dtype=np.float64)
    if errors_a.shape != errors_b.shape or errors_a.shape != np.shape(labels):
        raise ValueError(
            f"errors and labels must have one value per image each; got {errors_a.shape}, {errors_b.shape}, "
            f"{np.shape(labels)}"
        )
    diff = errors_a - errors_b
    wins = (errors_a < errors_b).astype(np.float64)
    rows = []
    for name, mask, stream in _groups(labels):
        d, w = mean_intervals(np.column_stack([diff[mask], wins[mask]]), config, stream)
        rows.append(
            {
                "digit": name,
                "n": d.n,
                "diff": d.mean,
                "ci_low": d.low,
                "ci_high": d.high,
                "win_rate": w.mean,
                "win_low": w.low,
                "win_high": w.high,
                "verdict": difference_verdict(d.low, d.high, names),
            }
        )
    return pd.DataFrame(rows)


def difference_verdict(low: float, high: float, names: tuple[str, str]) -> str:
    """What an interval [low, high] of a − b says: "<a> better" wholly below zero, "<b> better" wholly above."""
    if high < 0:
        return f"{names[0]} better"
    if low > 0:
        return f"{names[1]} better"
    return "no clear difference"


def reversed_paired_difference(table: pd.DataFrame, names: tuple[str, str]) -> pd.DataFrame:
    """The table `paired_difference(errors_b, errors_a, labels, config, names)` gives, from the table of
    `paired_difference(errors_a, errors_b, labels, config, ...)`, without bootstrapping again.

    Valid only when no image has equal errors under a and b: then b − a is −(a − b) and "b beats a" is "a does not
    beat b" on every image, and with the same resampled images (same seed and streams) every resampled mean is
    mirrored, so each interval is the mirror of the other order's, equal to computing it directly up to
    floating-point rounding. `names` are the reversed order's (b's first); the verdicts are written with them.
    """
    reversed_table = table.copy()
    reversed_table["diff"] = -table["diff"]
    reversed_table["ci_low"], reversed_table["ci_high"] = -table["ci_high"], -table["ci_low"]
    reversed_table["win_rate"] = 1.0 - table["win_rate"]
    reversed_table["win_low"], reversed_table["win_high"] = 1.0 - table["win_high"], 1.0 - table["win_low"]
    return with_verdicts(reversed_table, names)


def with_verdicts(table: pd.DataFrame, names: tuple[str, str]) -> pd.DataFrame:
    """`table` (from paired_difference) with its verdicts written for the methods called `names`."""
    named = table.copy()
    named["verdict"] = [
        difference_verdict(lo, hi, names) for lo, hi in zip(table["ci_low"], table["ci_high"], strict=True)
    ]
    return named


def interval_table(
    errors: dict[str, np.ndarray], labels: np.ndarray, config: BootstrapConfig = BootstrapConfig()
) -> pd.DataFrame:
    """Side-by-side per-digit intervals for several methods (e.g. MLP, conv, PCA-32) on the same images.

    Returns one row per digit and "all": digit, n, then `<method> MSE`, `<method> CI low`, `<method> CI high`.
    """
    if not errors:
        raise ValueError("errors must hold at least one method")
    methods = list(errors)
    stacked = np.column_stack([np.asarray(errors[m], dtype=np.float64) for m in methods])  # (N, methods)
    if len(stacked) != len(labels):
        raise ValueError(f"errors and labels must have one value per image each; got {len(stacked)} and {len(labels)}")
    rows = []
    for name, mask, stream in _groups(labels):
        row: dict = {"digit": name, "n": int(mask.sum())}
        for method, interval in zip(methods, mean_intervals(stacked[mask], config, stream), strict=True):
            row.update(
                {f"{method} MSE": interval.mean, f"{method} CI low": interval.low, f"{method} CI high": interval.high}
            )
        rows.append(row)
    return pd.DataFrame(rows)

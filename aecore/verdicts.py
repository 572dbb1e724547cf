"""Sentences that say which run rebuilds images better, each backed by a bootstrap interval over test images.

A verdict never claims a difference its interval does not support: when the interval reaches the other side,
the sentence says "no clear difference".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from aecore.baselines import EXACT_MSE
from aecore.stats import BootstrapConfig, Interval, mean_interval


def signed(value: float) -> str:
    """A difference with its sign, a typographic minus like the "A − B" it describes: +0.00016, −0.00654."""
    return f"{value:+.5f}".replace("-", "−")


def against_pca(
    name: str,
    errors: np.ndarray,
    pca_mse: float,
    latent_dim: int,
    parameters: int,
    pca_errors: np.ndarray | None = None,
    difference: Interval | None = None,
) -> str:
    """One sentence: does this run beat PCA with as many components as its code, by how much, how sure.

    With PCA's per-image errors the interval is paired (run − PCA on the same test images, resampled jointly):
    the run's own interval against PCA's point value would ignore the images both find hard. Without them (not
    stored with the run, or scored on other images) it is the run's own interval around PCA's mean, and says so.

    errors : ndarray of shape (n_images,), the run's per-image test MSE, image i in row i
    pca_mse : PCA's test MSE (the mean of `pca_errors` when they are given)
    pca_errors : ndarray of shape (n_images,) or None, PCA's per-image test MSE on the same images
    difference : the paired interval of run − PCA as the run stores it (aecore.precompute.load_pca_difference), or
        None to compute it from `pca_errors`; the sentence is the same either way
    """
    pca = f"PCA with {latent_dim:,} components"
    who = f"**{name}** ({parameters:,} parameters)"
    if pca_mse <= EXACT_MSE:
        return f"{who} is behind {pca}, which rebuilds the images exactly: the code is as large as the image."
    run_mse = float(np.mean(errors))
    if difference is not None and difference.n == len(errors):
        diff = difference
        kind = "paired 95% interval of the difference"
    elif pca_errors is not None and len(errors) == len(pca_errors):
        diff = paired_mean_interval(errors, pca_errors)
        kind = "paired 95% interval of the difference"
    else:
        own = mean_interval(errors, BootstrapConfig())
        diff = Interval(run_mse - pca_mse, own.low - pca_mse, own.high - pca_mse, own.n)
        kind = "95% interval of the difference, unpaired"
    span = f"test MSE {run_mse:.5f} vs PCA {pca_mse:.5f}; {kind} {signed(diff.low)} to {signed(diff.high)}"
    if diff.low <= 0 <= diff.high:
        return f"{who} rebuilds test images about as well as {pca}: no clear difference ({span})."
    if diff.high < 0:
        return f"{who} rebuilds test images {pca_mse / run_mse:.1f}× better than {pca} ({span})."
    return f"{who} is {run_mse / pca_mse - 1:.0%} worse than {pca} at rebuilding test images ({span})."


def between_runs(names: tuple[str, str], errors_a: np.ndarray, errors_b: np.ndarray) -> str:
    """One sentence: which of two runs scored on the same test images rebuilds them better (paired bootstrap)."""
    diff = paired_mean_interval(errors_a, errors_b)
    mse_a, mse_b = float(np.mean(errors_a)), float(np.mean(errors_b))
    span = f"paired 95% interval of {names[0]} − {names[1]}: {signed(diff.low)} to {signed(diff.high)}"
    if diff.low <= 0 <= diff.high:
        return f"**{names[0]}** and **{names[1]}**: no clear difference in test MSE ({span})."
    better, worse = (0, 1) if diff.mean < 0 else (1, 0)
    ratio = max(mse_a, mse_b) / min(mse_a, mse_b)
    return f"**{names[better]}** rebuilds test images {ratio:.2f}× better than **{names[worse]}** ({span})."


def paired_mean_interval(a: np.ndarray, b: np.ndarray, config: BootstrapConfig = BootstrapConfig()) -> Interval:
    """Mean of a − b over the same images, with its percentile bootstrap interval (images resampled jointly):
    `aecore.stats.mean_interval` of the differences, the one bootstrap of a mean in the project.

    a, b : ndarray of shape (n_images,), one score per test image (an error, or 1/0 for a right/wrong label)
    """
    diff = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    if diff.std() == 0:  # every resample gives the same mean; scipy would warn about a degenerate distribution
        return Interval(float(diff.mean()), float(diff.mean()), float(diff.mean()), len(diff))
    return mean_interval(diff, config)


def score_interval(values: np.ndarray, config: BootstrapConfig = BootstrapConfig()) -> Interval:
    """Mean of one score over test images (an accuracy from 1/0 per image, an error) with its bootstrap interval."""
    return paired_mean_interval(values, np.zeros(len(values)), config)


@dataclass(frozen=True)
class Contender:
    """One method in a verdict: its display name (markdown-safe) and its score per test image, in test order.

    `baseline` marks PCA: a verdict always names the baseline beside the winner.
    """

    name: str
    values: np.ndarray
    baseline: bool = False


def best_of(
    claim: str,
    contenders: Sequence[Contender],
    *,
    lower_is_better: bool,
    fmt: Callable[[float], str],
    config: BootstrapConfig = BootstrapConfig(),
) -> str:
    """One sentence naming the best method for `claim` and, for every other one (PCA included), whether the gap is
    real: a paired bootstrap interval of the difference that excludes zero says "clearly", otherwise "no clear
    difference". All contenders must be scored on the same images.

    claim : the start of the sentence, e.g. "The error grows least for"
    fmt : how a score is printed, e.g. "{:+.4f}".format
    """
    if len(contenders) < 2:
        raise ValueError(f"a verdict needs at least two contenders; got {len(contenders)}")
    sizes = {len(c.values) for c in contenders}
    if len(sizes) != 1:
        raise ValueError(f"contenders must be scored on the same images; got sizes {sorted(sizes)}")
    sign = 1.0 if lower_is_better else -1.0
    ranked = sorted(contenders, key=lambda c: sign * float(np.mean(c.values)))
    best = ranked[0]
    own = score_interval(best.values, config)
    clear, level = [], []
    for other in ranked[1:]:
        gap = paired_mean_interval(best.values, other.values, config)
        named = f"**{other.name}** ({fmt(float(np.mean(other.values)))})"
        (level if gap.low <= 0 <= gap.high else clear).append(named)
    word = "lower" if lower_is_better else "higher"
    head = f"{claim} **{best.name}** ({fmt(own.mean)}, 95% interval {fmt(own.low)} to {fmt(own.high)})"
    if not clear:
        return (
            f"{head}, but there is **no clear difference** from {_join(level)}: every paired 95% interval of the "
            "difference crosses zero."
        )
    parts = [f"clearly {word} than {_join(clear)}"]
    if level:
        parts.append(f"no clear difference from {_join(level)}")
    return f"{head}: " + "; ".join(parts) + " (paired 95% bootstrap intervals over the same test images)."


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def trust_sentence(slot: str, trust) -> str:
    """What a map's trustworthiness (aecore.latent_quality.Trust) says, or why it says nothing."""
    if trust.by_construction:
        return (
            f"The {slot} map is the raw 2-D code itself, so its trustworthiness is 1 by construction: it says "
            "nothing about the code."
        )
    i = trust.interval
    return (
        f"Trustworthiness of the {slot} map: {i.mean:.3f} (95% interval {i.low:.3f}–{i.high:.3f} over "
        f"{i.n:,} shown test images, k={trust.k}); 1 means every map neighbour is also a latent neighbour."
    )

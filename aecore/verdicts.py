"""Sentences that say which run rebuilds images better, each backed by a bootstrap interval over test images.

A verdict never claims a difference its interval does not support: when the interval reaches the other side,
the sentence says "no clear difference".
"""

from __future__ import annotations

import numpy as np

from aecore.baselines import EXACT_MSE
from aecore.stats import BootstrapConfig, mean_interval


def against_pca(name: str, errors: np.ndarray, pca_mse: float, latent_dim: int, parameters: int) -> str:
    """One sentence: does this run beat PCA with as many components as its code, by how much, how sure.

    errors : ndarray of shape (n_images,), the run's per-image test MSE
    """
    interval = mean_interval(errors, BootstrapConfig())
    pca = f"PCA with {latent_dim:,} components"
    who = f"**{name}** ({parameters:,} parameters)"
    span = f"95% interval of its test MSE {interval.low:.5f}–{interval.high:.5f}, PCA {pca_mse:.5f}"
    if pca_mse <= EXACT_MSE:
        return f"{who} is behind {pca}, which rebuilds the images exactly: the code is as large as the image."
    if interval.low <= pca_mse <= interval.high:
        return f"{who} rebuilds test images about as well as {pca}: no clear difference ({span})."
    if interval.high < pca_mse:
        return f"{who} rebuilds test images {pca_mse / interval.mean:.1f}× better than {pca} ({span})."
    return f"{who} is {interval.mean / pca_mse - 1:.0%} worse than {pca} at rebuilding test images ({span})."


def between_runs(names: tuple[str, str], errors_a: np.ndarray, errors_b: np.ndarray) -> str:
    """One sentence: which of two runs scored on the same test images rebuilds them better (paired bootstrap)."""
    diff = mean_interval(np.asarray(errors_a, np.float64) - np.asarray(errors_b, np.float64), BootstrapConfig())
    mse_a, mse_b = float(np.mean(errors_a)), float(np.mean(errors_b))
    span = f"paired 95% interval of {names[0]} − {names[1]}: {diff.low:+.5f} to {diff.high:+.5f}"
    if diff.low <= 0 <= diff.high:
        return f"**{names[0]}** and **{names[1]}**: no clear difference in test MSE ({span})."
    better, worse = (0, 1) if diff.mean < 0 else (1, 0)
    ratio = max(mse_a, mse_b) / min(mse_a, mse_b)
    return f"**{names[better]}** rebuilds test images {ratio:.2f}× better than **{names[worse]}** ({span})."

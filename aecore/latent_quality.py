"""How useful latent codes are for telling digits apart: k-NN and linear-probe accuracy, trained on training codes.

Classifiers are always fit on codes of TRAINING images and scored on codes of TEST images, so a score says how
well the code generalises, not how well it memorises. PCA at the same number of dims is the reference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from aecore.baselines import PCABaseline
from aecore.stats import BootstrapConfig, Interval
from aecore.verdicts import score_interval


@dataclass(frozen=True)
class ProbeConfig:
    """Classifier settings: neighbours for k-NN, iterations and seed for the logistic-regression probe."""

    neighbours: int = 5
    max_iter: int = 1000
    seed: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.neighbours, bool) or not isinstance(self.neighbours, int) or self.neighbours < 1:
            raise ValueError(f"neighbours must be a whole number of at least 1; got {self.neighbours!r}")
        if isinstance(self.max_iter, bool) or not isinstance(self.max_iter, int) or self.max_iter < 1:
            raise ValueError(f"max_iter must be a whole number of at least 1; got {self.max_iter!r}")


def _test_correct(estimator, train_codes, train_labels, test_codes, test_labels) -> np.ndarray:
    """Fit on training codes; (n_test,) True where the test code's predicted label is right (mean: the accuracy).

    One BLAS thread while fitting: these matrices are small, and on a busy machine multi-threaded BLAS spends
    its time waiting for cores (measured: a 4,500 x 32 probe took 18 s with two threads, 0.6 s with one).
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        estimator.fit(train_codes, train_labels)
        return estimator.predict(test_codes) == np.asarray(test_labels)


def knn_correct(
    train_codes: np.ndarray,
    train_labels: np.ndarray,
    test_codes: np.ndarray,
    test_labels: np.ndarray,
    config: ProbeConfig = ProbeConfig(),
) -> np.ndarray:
    """(n_test,) True where a test code's k nearest training codes (Euclidean, majority vote) carry its label."""
    from sklearn.neighbors import KNeighborsClassifier

    classifier = KNeighborsClassifier(n_neighbors=config.neighbours)
    return _test_correct(classifier, train_codes, train_labels, test_codes, test_labels)


def linear_probe_correct(
    train_codes: np.ndarray,
    train_labels: np.ndarray,
    test_codes: np.ndarray,
    test_labels: np.ndarray,
    config: ProbeConfig = ProbeConfig(),
) -> np.ndarray:
    """(n_test,) True where a multinomial logistic regression on standardised codes (a linear probe) is right."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    # Standardising first: codes of different models live on very different scales, and an unscaled
    # probe would then measure the optimiser's convergence rather than linear separability.
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=config.max_iter, random_state=config.seed))
    return _test_correct(probe, train_codes, train_labels, test_codes, test_labels)


@dataclass(frozen=True)
class LatentQuality:
    """Both classifiers' test accuracy per method, with 95% bootstrap intervals over test images.

    table : one row per method: method, latent_dims, then for "knn" and "probe" `<c>_accuracy`, `<c>_low`,
        `<c>_high`
    correct : {method: {"knn" | "probe": (n_test,) bool, right or wrong per test image}}, what verdicts resample
    """

    table: pd.DataFrame
    correct: dict[str, dict[str, np.ndarray]]


CLASSIFIERS = {"knn": knn_correct, "probe": linear_probe_correct}


def latent_quality_table(
    codes: dict[str, tuple[np.ndarray, np.ndarray]],
    train_labels: dict[str, np.ndarray],
    test_labels: np.ndarray,
    config: ProbeConfig = ProbeConfig(),
    bootstrap: BootstrapConfig = BootstrapConfig(),
) -> LatentQuality:
    """Both classifiers on each method's codes, scored per test image.

    codes : {method id: (train codes (n_train, d), test codes (n_test, d))}
    train_labels : {method id: (n_train,) labels of that method's training images}
    """
    rows, correct = [], {}
    for method, (train_codes, test_codes) in codes.items():
        labels = train_labels[method]
        correct[method] = {name: score(train_codes, labels, test_codes, test_labels, config)
                           for name, score in CLASSIFIERS.items()}  # fmt: skip
        row: dict = {"method": method, "latent_dims": int(train_codes.shape[1])}
        for name, right in correct[method].items():
            interval = score_interval(right.astype(np.float64), bootstrap)
            row.update({f"{name}_accuracy": interval.mean, f"{name}_low": interval.low, f"{name}_high": interval.high})
        rows.append(row)
    return LatentQuality(pd.DataFrame(rows), correct)


def pca_codes(pca: PCABaseline, train_images: torch.Tensor, test_images: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Codes of the training and test images under a PCA baseline (fit on training images only)."""
    return pca.encode(train_images), pca.encode(test_images)


# --- how faithful a 2-D map is, with an interval --------------------------------------------------------------


@dataclass(frozen=True)
class Trust:
    """Trustworthiness of a 2-D map with its bootstrap interval over the scored points; `by_construction` is True
    when the map is the raw 2-D code itself (then it is 1 whatever the code is, and says nothing about it)."""

    interval: Interval
    k: int
    by_construction: bool


def per_point_trustworthiness(latents: np.ndarray, coords: np.ndarray, k: int) -> np.ndarray:
    """(n,) each point's share of scikit-learn's trustworthiness: their mean is `sklearn.manifold.trustworthiness`.

    A point loses for every map neighbour (its k nearest on the map) that is not among its k nearest in the latent
    space, by how far down the latent ranking that neighbour sits.
    latents : (n, d) codes; coords : (n, 2) their map positions
    """
    from sklearn.metrics import pairwise_distances

    n = len(latents)
    if not 1 <= k < n / 2:
        raise ValueError(f"k must be at least 1 and below half the {n} points; got {k}")
    latent = pairwise_distances(latents)
    np.fill_diagonal(latent, np.inf)
    order = np.argsort(latent, axis=1, kind="stable")  # (n, n): nearest first, the point itself last
    ranks = np.empty_like(order)
    ranks[np.arange(n)[:, None], order] = np.arange(1, n + 1)  # rank 1 = nearest other point
    on_map = pairwise_distances(coords)
    np.fill_diagonal(on_map, np.inf)
    neighbours = np.argsort(on_map, axis=1, kind="stable")[:, :k]  # (n, k)
    penalty = np.maximum(ranks[np.arange(n)[:, None], neighbours] - k, 0).sum(axis=1)  # (n,)
    return 1.0 - penalty * (2.0 / (k * (2.0 * n - 3.0 * k - 1.0)))


def trustworthiness(
    latents: np.ndarray,
    coords: np.ndarray,
    *,
    k: int = 10,
    raw: bool = False,
    max_points: int = 2000,
    seed: int = 0,
    bootstrap: BootstrapConfig = BootstrapConfig(),
) -> Trust:
    """Trustworthiness of a map (on a seeded subset of `max_points` when larger) with a bootstrap interval over
    its points. `raw` marks a map that is the 2-D code itself."""
    if len(latents) > max_points:
        rows = np.sort(np.random.default_rng(seed).choice(len(latents), size=max_points, replace=False))
        latents, coords = latents[rows], coords[rows]
    k = min(k, len(latents) // 2 - 1)
    points = per_point_trustworthiness(latents, coords, k)
    by_construction = raw and latents.shape[1] == 2
    return Trust(score_interval(points, bootstrap), k, by_construction)

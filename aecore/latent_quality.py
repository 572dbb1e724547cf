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


def _test_accuracy(estimator, train_codes, train_labels, test_codes, test_labels) -> float:
    """Fit on training codes, return accuracy on test codes.

    One BLAS thread while fitting: these matrices are small, and on a busy machine multi-threaded BLAS spends
    its time waiting for cores (measured: a 4,500 x 32 probe took 18 s with two threads, 0.6 s with one).
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        estimator.fit(train_codes, train_labels)
        return float(estimator.score(test_codes, test_labels))


def knn_accuracy(
    train_codes: np.ndarray,
    train_labels: np.ndarray,
    test_codes: np.ndarray,
    test_labels: np.ndarray,
    config: ProbeConfig = ProbeConfig(),
) -> float:
    """Share of test codes whose k nearest training codes (Euclidean, majority vote) carry the right label."""
    from sklearn.neighbors import KNeighborsClassifier

    classifier = KNeighborsClassifier(n_neighbors=config.neighbours)
    return _test_accuracy(classifier, train_codes, train_labels, test_codes, test_labels)


def linear_probe_accuracy(
    train_codes: np.ndarray,
    train_labels: np.ndarray,
    test_codes: np.ndarray,
    test_labels: np.ndarray,
    config: ProbeConfig = ProbeConfig(),
) -> float:
    """Test accuracy of a multinomial logistic regression on standardised codes (a linear probe)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    # Standardising first: codes of different models live on very different scales, and an unscaled
    # probe would then measure the optimiser's convergence rather than linear separability.
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=config.max_iter, random_state=config.seed))
    return _test_accuracy(probe, train_codes, train_labels, test_codes, test_labels)


def latent_quality_table(
    codes: dict[str, tuple[np.ndarray, np.ndarray]],
    train_labels: dict[str, np.ndarray],
    test_labels: np.ndarray,
    config: ProbeConfig = ProbeConfig(),
) -> pd.DataFrame:
    """One row per method: method, latent_dims, knn_accuracy, probe_accuracy.

    codes : {method id: (train codes (n_train, d), test codes (n_test, d))}
    train_labels : {method id: (n_train,) digits of that method's training images}
    """
    rows = []
    for method, (train_codes, test_codes) in codes.items():
        labels = train_labels[method]
        rows.append(
            {
                "method": method,
                "latent_dims": int(train_codes.shape[1]),
                "knn_accuracy": knn_accuracy(train_codes, labels, test_codes, test_labels, config),
                "probe_accuracy": linear_probe_accuracy(train_codes, labels, test_codes, test_labels, config),
            }
        )
    return pd.DataFrame(rows)


def pca_codes(
    pca: PCABaseline, train_images: torch.Tensor, test_images: torch.Tensor
) -> tuple[np.ndarray, np.ndarray]:
    """Codes of the training and test images under a PCA baseline (fit on training images only)."""
    return pca.encode(train_images), pca.encode(test_images)

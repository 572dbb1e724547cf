"""The PCA baseline every run is measured against: PCA with as many components as the run's latent dims, fit on
exactly the images the run trained on, reconstructions clipped to [0, 1] (the range a Sigmoid output lives in).

Clipping makes PCA a stronger and fairer baseline (on the 10k test set PCA-32 goes from 0.0131 to 0.0118).
Baselines are keyed by everything they depend on, so two runs with the same key share one fit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from aecore import datasets

if TYPE_CHECKING:  # keys are built by pages that never load data: they must not import torch
    import torch

    from aecore.data import Dataset

# Below this a PCA baseline is exact (as many components as pixels, 1,024): its MSE is rounding noise (~4e-14),
# so no ratio against it means anything.
EXACT_MSE = 1e-9


@dataclass(frozen=True)
class BaselineKey:
    """What a PCA baseline depends on: the dataset, its dims, the exact training images and the solver seed."""

    dataset: str
    fingerprint: str  # the dataset's content hash: a different copy of "mnist" is a different baseline
    dims: int
    train_limit: int | None  # which training images: all, or the run's stratified prefix
    seed: int

    @property
    def title(self) -> str:
        return f"PCA-{self.dims}"

    def describe(self, n_images: int) -> str:
        """One line for a caption: which PCA this is."""
        return (
            f"PCA with {self.dims} components, fit on the same {n_images:,} training images as the run, "
            "reconstructions clipped to [0, 1]"
        )


@dataclass(frozen=True)
class PCABaseline:
    """A fitted PCA that encodes and reconstructs (N, 1, 32, 32) images; reconstructions are clipped to [0, 1]."""

    n_components: int
    n_train: int
    pca_: object  # the fitted sklearn PCA

    @classmethod
    def fit(cls, train_images: torch.Tensor, n_components: int, seed: int = 0) -> PCABaseline:
        from sklearn.decomposition import PCA

        flat = train_images.flatten(1).numpy()
        n_components = min(n_components, *flat.shape)
        return cls(n_components, len(flat), PCA(n_components=n_components, random_state=seed).fit(flat))

    def encode(self, images: torch.Tensor) -> np.ndarray:
        return self.pca_.transform(images.flatten(1).numpy()).astype(np.float32)  # (N, 1024) -> (N, k)

    def reconstruct(self, images: torch.Tensor) -> np.ndarray:
        """(N, 1, 32, 32) -> (N, 1, 32, 32) float32 linear reconstruction, clipped to [0, 1]."""
        recon = self.pca_.inverse_transform(self.pca_.transform(images.flatten(1).numpy()))
        return np.clip(recon, 0.0, 1.0).reshape(images.shape).astype(np.float32)

    def errors(self, images: torch.Tensor) -> np.ndarray:
        """(N,) per-image MSE of the clipped reconstructions, float64."""
        recon = self.reconstruct(images)
        return ((recon - images.numpy()) ** 2).reshape(len(images), -1).mean(1).astype(np.float64)


def baseline_key(dataset: str, fingerprint: str, dims: int, train_limit: int | None, seed: int) -> BaselineKey:
    """The key of the baseline for runs with these latent dims, training images and seed."""
    # A limit at or above the split's size trains on every image: the same baseline as no limit.
    limit = None if train_limit is None or train_limit >= datasets.get(dataset).train_images else train_limit
    return BaselineKey(dataset, fingerprint, dims, limit, seed)


def fit_baseline(dataset: Dataset, key: BaselineKey) -> PCABaseline:
    """Fit the baseline `key` names on `dataset`'s training images (callers cache it by `key`)."""
    if (key.dataset, key.fingerprint) != (dataset.name, dataset.fingerprint):
        raise ValueError(f"baseline {key} belongs to another dataset than {dataset.name} ({dataset.fingerprint})")
    from aecore.data import training_subset

    return PCABaseline.fit(training_subset(dataset.train, key.train_limit).images, key.dims, seed=key.seed)

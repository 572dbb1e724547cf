"""Latent-space analysis on the test set: codes, neighbours, agreement between two models, decoding.

Everything here takes arrays and models as arguments; the projection that draws a map lives in
`aecore.projection`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from aecore.inference import decode, encode
from aecore.models import Autoencoder

# A spot is "far from data" when the nearest projected point is further away than this many times
# the typical gap between a projected point and its k-th nearest projected neighbour.
FAR_FACTOR = 1.0


# --- neighbours ----------------------------------------------------------------------------------


def nearest_neighbours(latents: np.ndarray, position: int, k: int) -> np.ndarray:
    """Rows of the k codes nearest (Euclidean) to row `position`, nearest first, excluding itself.

    latents : ndarray of shape (n_samples, latent_dim)
    """
    from sklearn.neighbors import NearestNeighbors

    k = min(k, len(latents) - 1)
    index = NearestNeighbors(n_neighbors=k + 1).fit(latents)
    _, rows = index.kneighbors(latents[position : position + 1])
    rows = rows[0]
    return rows[rows != position][:k]


def knn_sets(latents: np.ndarray, k: int) -> np.ndarray:
    """(n_samples, k) rows of each code's k nearest other codes."""
    from sklearn.neighbors import NearestNeighbors

    # Asking for the training points themselves (X=None) leaves each point out of its own list.
    return NearestNeighbors(n_neighbors=k).fit(latents).kneighbors(return_distance=False)


@dataclass(frozen=True)
class Agreement:
    """How much two latent spaces agree on who is whose neighbour."""

    score: float  # mean over images of |kNN_a(i) ∩ kNN_b(i)| / k, in [0, 1]
    chance: float  # expected score for unrelated spaces: k / (n - 1)
    k: int
    n: int


def neighbourhood_agreement(a: np.ndarray, b: np.ndarray, k: int = 10) -> Agreement:
    """Mean k-NN overlap between two codings of the same images (row i of a and b is the same image).

    a : ndarray of shape (n_samples, dim_a); b : ndarray of shape (n_samples, dim_b)
    """
    if len(a) != len(b):
        raise ValueError(f"a and b must code the same images; got {len(a)} and {len(b)} rows")
    if not 1 <= k < len(a):
        raise ValueError(f"k must be from 1 to {len(a) - 1}; got {k}")
    sets_a, sets_b = knn_sets(a, k), knn_sets(b, k)
    overlap = [len(np.intersect1d(ra, rb, assume_unique=True)) for ra, rb in zip(sets_a, sets_b, strict=True)]
    return Agreement(score=float(np.mean(overlap)) / k, chance=k / (len(a) - 1), k=k, n=len(a))


def trustworthiness(
    latents: np.ndarray, coords: np.ndarray, k: int = 10, max_points: int = 2000, seed: int = 0
) -> float:
    """scikit-learn's trustworthiness of a 2-D map: 1.0 when map neighbours are latent neighbours.

    The measure needs all pairwise distances, so maps larger than `max_points` are scored on a seeded
    subset of that size.
    """
    from sklearn.manifold import trustworthiness as sk_trustworthiness

    if len(latents) > max_points:
        rows = np.sort(np.random.default_rng(seed).choice(len(latents), size=max_points, replace=False))
        latents, coords = latents[rows], coords[rows]
    k = min(k, len(latents) // 2 - 1)
    return float(sk_trustworthiness(latents, coords, n_neighbors=k))


# --- decode anywhere -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SpotNeighbours:
    """The projected points nearest a spot on a map, and how they weigh in its latent code."""

    rows: np.ndarray  # (k,) rows of the projection, nearest first
    weights: np.ndarray  # (k,) inverse-distance weights summing to 1
    distance: float  # from the spot to the nearest projected point
    spacing: float  # typical distance from a projected point to its k-th nearest projected neighbour

    @property
    def far(self) -> bool:
        """True when the spot lies in empty space: the code there is an extrapolation, not data."""
        return self.distance > FAR_FACTOR * self.spacing


@dataclass
class MapIndex:
    """Nearest-point lookup on one 2-D map, to turn any spot back into a latent code.

    The inverse of UMAP or t-SNE does not exist; a distance-weighted average of the latent codes of
    the nearest projected points is a fast, honest stand-in that stays inside the data's span.
    """

    k: int = 8

    def fit(self, coords: np.ndarray) -> MapIndex:
        """coords : ndarray of shape (n_samples, 2)."""
        from sklearn.neighbors import NearestNeighbors

        self.k_ = min(self.k, len(coords) - 1)
        self.index_ = NearestNeighbors(n_neighbors=self.k_).fit(coords)
        gaps, _ = self.index_.kneighbors()  # each point's distances to its k nearest others
        self.spacing_ = float(np.median(gaps[:, -1]))
        return self

    def neighbours(self, spot: tuple[float, float]) -> SpotNeighbours:
        distances, rows = self.index_.kneighbors(np.asarray([spot], dtype=np.float64))
        distances, rows = distances[0], rows[0]
        # Inverse-distance weights; the floor keeps a spot exactly on a point finite (it then dominates).
        inverse = 1.0 / np.maximum(distances, 1e-9 * max(self.spacing_, 1e-12))
        return SpotNeighbours(rows, inverse / inverse.sum(), float(distances[0]), self.spacing_)


def empty_spots(coords: np.ndarray, cells: int = 36, margin: float = 0.05) -> np.ndarray:
    """Centres of the cells of a `cells` × `cells` grid over the map (widened by `margin`) that hold no point.

    coords : ndarray of shape (n_samples, 2). Returns (m, 2): the empty space a user may click to decode.
    """
    low, high = coords.min(0), coords.max(0)
    pad = np.maximum(high - low, 1e-6) * margin
    edges = [np.linspace(low[d] - pad[d], high[d] + pad[d], cells + 1) for d in (0, 1)]
    counts, _, _ = np.histogram2d(coords[:, 0], coords[:, 1], bins=edges)  # (cells, cells), [x bin, y bin]
    centres = [(e[:-1] + e[1:]) / 2 for e in edges]
    ix, iy = np.nonzero(counts == 0)
    return np.column_stack([centres[0][ix], centres[1][iy]])


def latent_at(latents: np.ndarray, spot: SpotNeighbours) -> np.ndarray:
    """The weighted average code of a spot's neighbours: (n_samples, d) -> (d,).

    `latents` rows must match the map's rows; another model's codes of the same images give that
    model's reading of the same neighbourhood.
    """
    return (spot.weights[:, None] * latents[spot.rows]).sum(0).astype(np.float32)


# --- interpolation -------------------------------------------------------------------------------


def interpolate(model: Autoencoder, start: torch.Tensor, end: torch.Tensor, steps: int) -> np.ndarray:
    """Decoded straight-line path between the codes of two images: (steps, 32, 32) in [0, 1].

    start, end : tensors of shape (1, 32, 32) or (1, 1, 32, 32). The first and last frames are the
    model's reconstructions of `start` and `end`.
    """
    if steps < 2:
        raise ValueError(f"steps must be at least 2; got {steps}")
    codes = encode(model, torch.stack([start.reshape(1, 32, 32), end.reshape(1, 32, 32)]))  # (2, d)
    t = np.linspace(0.0, 1.0, steps, dtype=np.float32)[:, None]
    return decode(model, (1 - t) * codes[0] + t * codes[1])

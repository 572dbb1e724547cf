"""Test-set reconstruction errors: per image, per digit, overall, and the PCA baseline at equal dims."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from aecore.models import Autoencoder

EVAL_BATCH = 2048


@dataclass(frozen=True)
class Evaluation:
    """Errors of one model (or baseline) on one split."""

    per_image: np.ndarray  # (N,) mean squared error of each image over its 1024 pixels
    labels: np.ndarray  # (N,) digit of each image

    @property
    def mse(self) -> float:
        return float(self.per_image.mean())

    def per_digit(self) -> pd.DataFrame:
        """One row per digit 0-9: digit, n, mse (NaN where a digit has no images)."""
        counts = np.bincount(self.labels, minlength=10)[:10]
        sums = np.bincount(self.labels, weights=self.per_image, minlength=10)[:10]
        with np.errstate(invalid="ignore", divide="ignore"):
            means = sums / counts
        return pd.DataFrame({"digit": np.arange(10), "n": counts, "mse": means})


def per_image_errors(model: Autoencoder, images: torch.Tensor) -> np.ndarray:
    """(N, 1, 32, 32) -> (N,) per-image MSE, computed in eval mode; the model's mode is restored."""
    return reconstruct_and_errors(model, images)[1]


def reconstruct_and_errors(model: Autoencoder, images: torch.Tensor) -> tuple[torch.Tensor, np.ndarray]:
    """Reconstructions (N, 1, 32, 32) and per-image MSE (N,), without gradients, in eval mode."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    outputs = []
    with torch.inference_mode():
        for start in range(0, len(images), EVAL_BATCH):
            outputs.append(model(images[start : start + EVAL_BATCH].to(device)).cpu())
    model.train(was_training)
    recon = torch.cat(outputs)
    errors = ((recon - images) ** 2).flatten(1).mean(1).numpy().astype(np.float64)
    return recon, errors


def evaluate(model: Autoencoder, images: torch.Tensor, labels: torch.Tensor) -> Evaluation:
    return Evaluation(per_image_errors(model, images), labels.numpy())


@dataclass(frozen=True)
class PCABaseline:
    """PCA with as many components as a model's latent dims, fit on training images only."""

    n_components: int
    pca_: object  # the fitted sklearn PCA

    @classmethod
    def fit(cls, train_images: torch.Tensor, n_components: int, seed: int = 0) -> PCABaseline:
        from sklearn.decomposition import PCA

        flat = train_images.flatten(1).numpy()
        n_components = min(n_components, *flat.shape)
        return cls(n_components, PCA(n_components=n_components, random_state=seed).fit(flat))

    def encode(self, images: torch.Tensor) -> np.ndarray:
        return self.pca_.transform(images.flatten(1).numpy())  # (N, 1024) -> (N, k)

    def reconstruct(self, images: torch.Tensor) -> np.ndarray:
        """(N, 1, 32, 32) -> (N, 1, 32, 32) linear reconstruction (not clipped: PCA as it is)."""
        recon = self.pca_.inverse_transform(self.encode(images))
        return recon.reshape(images.shape)

    def evaluate(self, images: torch.Tensor, labels: torch.Tensor) -> Evaluation:
        recon = self.reconstruct(images)
        errors = ((recon - images.numpy()) ** 2).reshape(len(images), -1).mean(1)
        return Evaluation(errors.astype(np.float64), labels.numpy())


def summary(evaluation: Evaluation) -> dict:
    """JSON-ready overall and per-digit figures, as stored beside a run's weights."""
    table = evaluation.per_digit()
    return {
        "mse": evaluation.mse,
        "per_digit": [{"digit": int(r.digit), "n": int(r.n), "mse": float(r.mse)} for r in table.itertuples()],
    }


# --- dashboard views: samples, reconstructions and per-digit comparisons for the pages ------------


def sample_test_indices(labels: np.ndarray, digit: int | None, count: int, seed: int) -> np.ndarray:
    """`count` sorted positions drawn without replacement (seeded) among images of `digit` (None: any)."""
    pool = np.arange(len(labels)) if digit is None else np.flatnonzero(np.asarray(labels) == digit)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(pool, size=min(count, len(pool)), replace=False))


def reconstruction_sample(
    model: Autoencoder, images: torch.Tensor, indices: list[int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reconstructions (n, 32, 32), absolute errors (n, 32, 32) and per-image MSE (n,) of `images[indices]`."""
    chosen = images[indices]  # (n, 1, 32, 32)
    recon, errors = reconstruct_and_errors(model, chosen)
    return recon[:, 0].numpy(), (recon - chosen).abs()[:, 0].numpy(), errors


def per_digit_comparison(per_digit: dict[str, list[dict]]) -> pd.DataFrame:
    """Digits 0-9 as rows; per model `<model> MSE`, plus n, the winner and, for two models, the difference.

    `per_digit` maps a model name to its stored rows [{"digit", "n", "mse"}, ...] (RunInfo.metrics).
    """
    models = list(per_digit)
    table = pd.DataFrame({"digit": np.arange(10)})
    for model in models:
        rows = sorted(per_digit[model], key=lambda r: r["digit"])
        table[f"{model} MSE"] = [float(r["mse"]) for r in rows]
        table["n"] = [int(r["n"]) for r in rows]
    columns = [f"{m} MSE" for m in models]
    if len(models) == 2:
        table[f"{models[0]} − {models[1]}"] = table[columns[0]] - table[columns[1]]
    table["best"] = table[columns].idxmin(axis=1).str.removesuffix(" MSE")
    return table[["digit", "n", *table.columns.drop(["digit", "n"])]]

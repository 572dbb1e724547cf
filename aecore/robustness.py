"""Corrupted inputs (Gaussian noise, an occluding square, a pixel shift) and how reconstruction error grows with them.

A reconstruction of a corrupted image is always scored against the CLEAN image: the question is how much of
the digit a model recovers, not how faithfully it copies the damage.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from aecore.stats import BootstrapConfig, mean_intervals

CORRUPTIONS = ("noise", "occlusion", "shift")
# Strengths of the robustness curves: noise sigma (intensity units), square side and shift (pixels).
# The Robustness page's sliders span exactly these ranges, so every setting a user picks lies on a curve.
CURVE_STRENGTHS: dict[str, tuple[float, ...]] = {
    "noise": (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
    "occlusion": (0, 4, 8, 12, 16, 20, 24),
    "shift": (-8, -6, -4, -2, 0, 2, 4, 6, 8),
}
CURVE_UNITS = {"noise": "noise σ", "occlusion": "square side (pixels)", "shift": "shift right (pixels; − = left)"}


@dataclass(frozen=True)
class Corruption:
    """What is done to an input: noise of std `noise`, a centred black square of side `occlusion`, a shift.

    The shift moves the image `shift_x` pixels right and `shift_y` pixels down (negative: left / up), filling
    the uncovered edge with background. Noise is drawn from `seed`, so the same corruption is the same image.
    """

    noise: float = 0.0
    occlusion: int = 0
    shift_x: int = 0
    shift_y: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.noise <= 5:
            raise ValueError(f"noise must be from 0 to 5; got {self.noise!r}")
        if isinstance(self.occlusion, bool) or not isinstance(self.occlusion, int) or not 0 <= self.occlusion <= 32:
            raise ValueError(f"occlusion must be a whole number of pixels from 0 to 32; got {self.occlusion!r}")
        for name in ("shift_x", "shift_y"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not -32 <= value <= 32:
                raise ValueError(f"{name} must be a whole number of pixels from -32 to 32; got {value!r}")


def add_noise(images: torch.Tensor, sigma: float, seed: int = 0) -> torch.Tensor:
    """Add N(0, sigma²) noise to every pixel and clip to [0, 1] (a pixel cannot be darker than black)."""
    if sigma == 0:
        return images.clone()
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(images.shape, generator=generator, dtype=images.dtype) * sigma
    return (images + noise).clamp_(0.0, 1.0)


def occlude(images: torch.Tensor, size: int, fill: float = 0.0) -> torch.Tensor:
    """Paint a `size` x `size` square of `fill` over the centre of each (N, 1, H, W) image."""
    out = images.clone()
    if size == 0:
        return out
    height, width = images.shape[-2:]
    top, left = (height - size) // 2, (width - size) // 2
    out[..., top : top + size, left : left + size] = fill
    return out


def shift(images: torch.Tensor, dx: int, dy: int = 0) -> torch.Tensor:
    """Move each (N, 1, H, W) image dx pixels right and dy pixels down; uncovered pixels become 0."""
    out = torch.zeros_like(images)
    height, width = images.shape[-2:]
    if abs(dx) >= width or abs(dy) >= height:
        return out
    src_rows = slice(max(0, -dy), height - max(0, dy))
    dst_rows = slice(max(0, dy), height - max(0, -dy))
    src_cols = slice(max(0, -dx), width - max(0, dx))
    dst_cols = slice(max(0, dx), width - max(0, -dx))
    out[..., dst_rows, dst_cols] = images[..., src_rows, src_cols]
    return out


def corrupt(images: torch.Tensor, corruption: Corruption) -> torch.Tensor:
    """Apply shift, then the occluding square, then noise (noise last, so it also covers the square)."""
    out = shift(images, corruption.shift_x, corruption.shift_y)
    out = occlude(out, corruption.occlusion)
    return add_noise(out, corruption.noise, corruption.seed)


def single(kind: str, strength: float, seed: int = 0) -> Corruption:
    """A corruption of one kind at one strength, as the robustness curves use."""
    if kind == "noise":
        return Corruption(noise=float(strength), seed=seed)
    if kind == "occlusion":
        return Corruption(occlusion=int(strength), seed=seed)
    if kind == "shift":
        return Corruption(shift_x=int(strength), seed=seed)
    raise ValueError(f"corruption must be one of {', '.join(CORRUPTIONS)}; got {kind!r}")


def errors_against_clean(reconstruct, clean: torch.Tensor, corruption: Corruption) -> np.ndarray:
    """(N,) per-image MSE of `reconstruct(corrupted)` against `clean`.

    reconstruct : callable (N, 1, 32, 32) tensor -> (N, 1, 32, 32) tensor or array
    """
    recon = reconstruct(corrupt(clean, corruption))
    recon = torch.as_tensor(np.asarray(recon), dtype=clean.dtype)
    return ((recon - clean) ** 2).flatten(1).mean(1).numpy().astype(np.float64)


def growth_per_image(
    reconstructors: dict,
    clean: torch.Tensor,
    kind: str = "noise",
    strengths: dict[str, tuple[float, ...]] = CURVE_STRENGTHS,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """{method: (N,) per image, its error at the strongest corruption of `kind` minus its error on the clean input}.

    The same seeded corruption as the curves, so the mean of a method's growth is the rise of its curve; per image,
    so that a verdict can resample images and say whether one method's rise is really smaller than another's.
    """
    strongest = single(kind, max(strengths[kind], key=abs), seed)
    return {method: errors_against_clean(f, clean, strongest) - errors_against_clean(f, clean, Corruption(seed=seed))
            for method, f in reconstructors.items()}  # fmt: skip


def robustness_curves(
    reconstructors: dict,
    clean: torch.Tensor,
    strengths: dict[str, tuple[float, ...]] = CURVE_STRENGTHS,
    bootstrap: BootstrapConfig = BootstrapConfig(resamples=1000),
    seed: int = 0,
) -> pd.DataFrame:
    """MSE against corruption strength for each method, with a bootstrap interval over the images.

    reconstructors : {method name: callable images -> reconstructions}
    Returns a long frame: corruption, strength, method, mse, ci_low, ci_high, n.
    """
    rows = []
    methods = list(reconstructors)
    done: dict[Corruption, np.ndarray] = {}  # strength 0 of every kind is the same clean input: score it once
    for kind, levels in strengths.items():
        for level in levels:
            corruption = single(kind, level, seed)
            if corruption not in done:
                done[corruption] = np.column_stack(
                    [errors_against_clean(reconstructors[m], clean, corruption) for m in methods]
                )
            errors = done[corruption]
            for method, interval in zip(methods, mean_intervals(errors, bootstrap), strict=True):
                rows.append(
                    {
                        "corruption": kind,
                        "strength": level,
                        "method": method,
                        "mse": interval.mean,
                        "ci_low": interval.low,
                        "ci_high": interval.high,
                        "n": interval.n,
                    }
                )
    return pd.DataFrame(rows)

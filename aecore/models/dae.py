"""A denoising autoencoder: the seed's convolutional layers, trained to rebuild the clean digit from a noisy one.

Training corrupts each batch with Gaussian noise of standard deviation `noise` (clipped to [0, 1], like the
Robustness page's noise) and scores the reconstruction against the clean batch. Evaluation, codes and maps
use clean inputs, exactly like every other architecture.
"""

from __future__ import annotations

import torch

from aecore.models import reconstruction_loss
from aecore.models.conv import ConvAutoencoder


class DenoisingAutoencoder(ConvAutoencoder):
    """ConvAutoencoder layers with a denoising objective."""

    def __init__(self, bottleneck: int, noise: float = 0.3) -> None:
        super().__init__(bottleneck)
        self.noise = float(noise)

    def training_loss(self, x: torch.Tensor) -> torch.Tensor:
        noisy = (x + self.noise * torch.randn_like(x)).clamp(0.0, 1.0)
        return reconstruction_loss(x, self(noisy))

"""A variational autoencoder with the seed MLP's layer sizes: Gaussian code (mean and log-variance heads).

Objective (per batch): the seed's per-pixel MSE of a reconstruction from a sampled code, plus
β · KL(q(z|x) ‖ N(0, I)) summed over the code's dims, averaged over the batch and divided by the 1,024
pixels. Both terms are per pixel, so β = 1 is the ELBO of a Gaussian decoder with variance 1/2 (up to a
constant factor), larger β trades reconstruction for a smoother code, and β = 0 reconstructs from the mean
without sampling: exactly the plain MLP objective.
"""

from __future__ import annotations

import torch
from torch import nn

from aecore.models import IMAGE_SIZE, Autoencoder, reconstruction_loss
from aecore.models.mlp import mlp_decoder, mlp_trunk

PIXELS = IMAGE_SIZE * IMAGE_SIZE


class VariationalAutoencoder(Autoencoder):
    """MLP-sized VAE: 1024 -> 128 -> 64 -> 32 -> (μ, log σ²) of width b, decoder 32 -> 64 -> 128 -> 1024, Sigmoid."""

    def __init__(self, bottleneck: int, beta: float = 1.0) -> None:
        super().__init__()
        self.bottleneck = bottleneck
        self.latent_dim = bottleneck
        self.beta = float(beta)
        self.encoder = nn.Sequential(*mlp_trunk())
        self.mean_head = nn.Linear(32, bottleneck)
        self.logvar_head = nn.Linear(32, bottleneck)
        self.decoder = mlp_decoder(bottleneck)

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, 1, 32, 32) -> mean (N, b) and log-variance (N, b) of q(z | x)."""
        hidden = self.encoder(x.flatten(1))
        return self.mean_head(hidden), self.logvar_head(hidden)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.posterior(x)[0]  # the deterministic code is the posterior mean

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z).view(-1, 1, IMAGE_SIZE, IMAGE_SIZE)

    def training_loss(self, x: torch.Tensor) -> torch.Tensor:
        mean, logvar = self.posterior(x)
        if self.beta == 0:
            return reconstruction_loss(x, self.decode(mean))
        z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)  # reparameterisation trick
        kl = -0.5 * torch.sum(1 + logvar - mean.pow(2) - logvar.exp(), dim=1).mean()
        return reconstruction_loss(x, self.decode(z)) + self.beta * kl / PIXELS

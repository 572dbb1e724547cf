"""The seed text's fully connected autoencoder, layer for layer: 1024 -> 128 -> 64 -> 32 -> b and back."""

from __future__ import annotations

import torch
from torch import nn

from aecore.models import IMAGE_SIZE, Autoencoder


def mlp_trunk() -> list[nn.Module]:
    """The encoder's layers up to its last hidden layer: 1024 -> 128 -> 64 -> 32, each with ReLU."""
    pixels = IMAGE_SIZE * IMAGE_SIZE
    return [nn.Linear(pixels, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU()]


def mlp_encoder(bottleneck: int) -> nn.Sequential:
    return nn.Sequential(*mlp_trunk(), nn.Linear(32, bottleneck))


def mlp_decoder(bottleneck: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(bottleneck, 32),
        nn.ReLU(),
        nn.Linear(32, 64),
        nn.ReLU(),
        nn.Linear(64, 128),
        nn.ReLU(),
        nn.Linear(128, IMAGE_SIZE * IMAGE_SIZE),
        nn.Sigmoid(),
    )


class MLPAutoencoder(Autoencoder):
    """Fully connected autoencoder with a `bottleneck`-wide code and a Sigmoid output."""

    def __init__(self, bottleneck: int) -> None:
        super().__init__()
        self.bottleneck = bottleneck
        self.latent_dim = bottleneck
        self.encoder = mlp_encoder(bottleneck)
        self.decoder = mlp_decoder(bottleneck)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x.flatten(1))  # (N, 1, 32, 32) -> (N, b)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z).view(-1, 1, IMAGE_SIZE, IMAGE_SIZE)  # (N, b) -> (N, 1, 32, 32)

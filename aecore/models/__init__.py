"""The autoencoder interface every architecture implements: encode, decode, forward and its own training loss.

Each architecture lives in a module of this package; `aecore.architectures` lists them. Every metric, map and
page uses only this interface, so a new architecture works everywhere once it is registered.
"""

from __future__ import annotations

import torch
from torch import nn

IMAGE_SIZE = 32  # MNIST's 28x28 zero-padded by 2 pixels on each side


def reconstruction_loss(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """The seed's loss, shared by training and evaluation: mean squared error over every pixel."""
    return torch.mean((x - x_hat) ** 2)


class Autoencoder(nn.Module):
    """An autoencoder with a deterministic code.

    Subclasses set `latent_dim` and implement `encode` and `decode`. `encode` returns the deterministic code
    (a VAE's mean), `forward` the deterministic reconstruction, and `training_loss` the objective the trainer
    minimises (default: the seed's per-pixel MSE of the reconstruction).
    """

    latent_dim: int
    # NHWC lets oneDNN pick faster convolution kernels on CPU (~25% off a conv epoch, BENCHMARKS.md); the
    # trainer uses it for models that say they gain from it.
    prefers_channels_last = False

    def encode(self, x: torch.Tensor) -> torch.Tensor:  # (N, 1, 32, 32) -> (N, latent_dim)
        raise NotImplementedError

    def decode(self, z: torch.Tensor) -> torch.Tensor:  # (N, latent_dim) -> (N, 1, 32, 32) in [0, 1]
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    def training_loss(self, x: torch.Tensor) -> torch.Tensor:
        """The scalar the trainer minimises for a batch of clean images x (N, 1, 32, 32)."""
        return reconstruction_loss(x, self(x))


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def describe(model: nn.Module) -> str:
    """One line per layer, for an architecture summary."""
    return "\n".join(f"{name}: {layer}" for name, layer in model.named_modules() if not list(layer.children()))

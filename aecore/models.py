"""The two autoencoders of the seed text, layer for layer, behind one encode/decode/forward interface."""

from __future__ import annotations

import torch
from torch import nn

IMAGE_SIZE = 32  # MNIST's 28x28 zero-padded by 2 pixels on each side


class MLPAutoencoder(nn.Module):
    """Fully connected autoencoder 1024 -> 128 -> 64 -> 32 -> b and back, Sigmoid output."""

    kind = "mlp"

    def __init__(self, bottleneck: int) -> None:
        super().__init__()
        self.bottleneck = bottleneck
        self.latent_dim = bottleneck
        self.encoder = nn.Sequential(
            nn.Linear(IMAGE_SIZE * IMAGE_SIZE, 128),
            nn.ReLU(),
            nn.Linear(128, 64),
            nn.ReLU(),
            nn.Linear(64, 32),
            nn.ReLU(),
            nn.Linear(32, bottleneck),
        )
        self.decoder = nn.Sequential(
            nn.Linear(bottleneck, 32),
            nn.ReLU(),
            nn.Linear(32, 64),
            nn.ReLU(),
            nn.Linear(64, 128),
            nn.ReLU(),
            nn.Linear(128, IMAGE_SIZE * IMAGE_SIZE),
            nn.Sigmoid(),
        )

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x.flatten(1))  # (N, 1, 32, 32) -> (N, b)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z).view(-1, 1, IMAGE_SIZE, IMAGE_SIZE)  # (N, b) -> (N, 1, 32, 32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


class ConvAutoencoder(nn.Module):
    """Convolutional autoencoder 1 -> 8 -> 16 -> b channels (stride 2 each) and a mirrored decoder."""

    kind = "conv"

    def __init__(self, bottleneck: int, in_channels: int = 1) -> None:
        super().__init__()
        self.bottleneck = bottleneck
        self.in_channels = in_channels
        self.code_shape = (bottleneck, IMAGE_SIZE // 8, IMAGE_SIZE // 8)  # three stride-2 halvings
        self.latent_dim = bottleneck * self.code_shape[1] * self.code_shape[2]
        self.encoder_conv = nn.Sequential(
            nn.Conv2d(in_channels, 8, kernel_size=3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.Conv2d(8, 16, kernel_size=3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(16),
            nn.ReLU(),
            nn.Conv2d(16, bottleneck, kernel_size=3, stride=2, padding=1),
        )
        self.decoder_conv = nn.Sequential(
            nn.ConvTranspose2d(bottleneck, 16, kernel_size=3, stride=2, padding=1, output_padding=1),
            nn.BatchNorm2d(16),
            nn.ReLU(),
            nn.ConvTranspose2d(16, 8, kernel_size=3, stride=2, padding=1, output_padding=1),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.ConvTranspose2d(8, in_channels, kernel_size=3, stride=2, padding=1, output_padding=1),
            nn.Sigmoid(),
        )

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder_conv(x).flatten(1)  # (N, 1, 32, 32) -> (N, b, 4, 4) -> (N, 16b)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder_conv(z.view(-1, *self.code_shape))  # (N, 16b) -> (N, 1, 32, 32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


Autoencoder = MLPAutoencoder | ConvAutoencoder


def build_model(model: str, bottleneck: int) -> Autoencoder:
    """The autoencoder named by a config's `model` field ("mlp" or "conv")."""
    if model == "mlp":
        return MLPAutoencoder(bottleneck)
    if model == "conv":
        return ConvAutoencoder(bottleneck)
    raise ValueError(f"model must be 'mlp' or 'conv'; got {model!r}")


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def reconstruction_loss(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """The seed's loss, shared by training and evaluation: mean squared error over every pixel."""
    return torch.mean((x - x_hat) ** 2)


def describe(model: nn.Module) -> str:
    """One line per layer, for an architecture summary."""
    return "\n".join(f"{name}: {layer}" for name, layer in model.named_modules() if not list(layer.children()))


def resolve_device(device: str = "auto") -> torch.device:
    """ "auto" picks cuda, then mps, then cpu; an explicit name is used as given."""
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if device not in ("cpu", "cuda", "mps") and not device.startswith("cuda:"):
        raise ValueError(f"device must be auto, cpu, cuda or mps; got {device!r}")
    return torch.device(device)

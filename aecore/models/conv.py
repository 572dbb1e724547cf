"""The seed text's convolutional autoencoder, layer for layer: 1 -> 8 -> 16 -> b channels (stride 2) and back."""

from __future__ import annotations

import torch
from torch import nn

from aecore.models import IMAGE_SIZE, Autoencoder

CODE_SIDE = IMAGE_SIZE // 8  # three stride-2 halvings: each code channel is a 4x4 map


class ConvAutoencoder(Autoencoder):
    """Convolutional autoencoder with `bottleneck` code channels of 4x4 and a mirrored decoder, Sigmoid output."""

    prefers_channels_last = True

    def __init__(self, bottleneck: int, in_channels: int = 1) -> None:
        super().__init__()
        self.bottleneck = bottleneck
        self.in_channels = in_channels
        self.code_shape = (bottleneck, CODE_SIDE, CODE_SIDE)
        self.latent_dim = bottleneck * CODE_SIDE * CODE_SIDE
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
        return self.decoder_conv(z.reshape(-1, *self.code_shape))  # (N, 16b) -> (N, 1, 32, 32)

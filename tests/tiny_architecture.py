"""A test-only architecture as a plugin: name this module in $AECORE_PLUGINS (`AECORE_PLUGINS=tests.tiny_architecture`)
and every process that reads the registry knows it, the dashboard's training worker included. It is also the
smallest complete example of an architecture: a model with `encode` and `decode`, and its ArchSpec."""

from __future__ import annotations

import torch
from torch import nn

from aecore.architectures import ArchSpec, Budget, OptionSpec
from aecore.models import IMAGE_SIZE, Autoencoder


class TinyAutoencoder(Autoencoder):
    """A test-only architecture: one linear layer each way and a sigmoid with a temperature option."""

    def __init__(self, bottleneck: int, temperature: float = 1.0) -> None:
        super().__init__()
        self.latent_dim = bottleneck
        self.temperature = float(temperature)
        self.encoder = nn.Linear(IMAGE_SIZE * IMAGE_SIZE, bottleneck)
        self.decoder = nn.Linear(bottleneck, IMAGE_SIZE * IMAGE_SIZE)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x.flatten(1))  # (N, 1, 32, 32) -> (N, b)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decoder(z) / self.temperature).view(-1, 1, IMAGE_SIZE, IMAGE_SIZE)


TINY_BUDGET = Budget(epochs=1, batch_size=64, learning_rate=1e-2)
TINY_SPEC = ArchSpec(
    name="tiny", title="Tiny", summary="a test-only linear autoencoder", build=TinyAutoencoder, code_cells=1,
    default_bottleneck=3, max_bottleneck=16, widest_useful=16, useless_reason="never", bottleneck_help="code width",
    budgets={"onecycle": TINY_BUDGET, "seed": TINY_BUDGET},
    options=(OptionSpec("temperature", "output temperature", "T", 1.0, 0.5, 4.0, "divides the decoder's logits"),),
)  # fmt: skip

ARCHITECTURES = (TINY_SPEC,)  # what aecore.architectures reads from a plugin module

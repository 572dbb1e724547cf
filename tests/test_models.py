"""The two autoencoders match the seed text layer for layer and share one interface."""

import pytest
import torch
from torch import nn

from aecore.models import ConvAutoencoder, MLPAutoencoder, build_model, parameter_count


def seed_mlp(bottleneck_size: int) -> tuple[nn.Sequential, nn.Sequential]:
    # Copied from the seed text (../shared/seeds/), the reference our model must equal.
    encoder = nn.Sequential(
        nn.Linear(32 * 32, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(),
        nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, bottleneck_size),
    )  # fmt: skip
    decoder = nn.Sequential(
        nn.Linear(bottleneck_size, 32), nn.ReLU(), nn.Linear(32, 64), nn.ReLU(),
        nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 32 * 32), nn.Sigmoid(),
    )  # fmt: skip
    return encoder, decoder


def seed_conv(bottleneck: int, in_channels: int = 1) -> tuple[nn.Sequential, nn.Sequential]:
    encoder = nn.Sequential(
        nn.Conv2d(in_channels=in_channels, out_channels=8, kernel_size=3, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Conv2d(in_channels=8, out_channels=16, kernel_size=3, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.Conv2d(in_channels=16, out_channels=bottleneck, kernel_size=3, stride=2, padding=1),
    )
    decoder = nn.Sequential(
        nn.ConvTranspose2d(in_channels=bottleneck, out_channels=16, kernel_size=3, stride=2, padding=1,
                           output_padding=1),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.ConvTranspose2d(in_channels=16, out_channels=8, kernel_size=3, stride=2, padding=1, output_padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.ConvTranspose2d(in_channels=8, out_channels=in_channels, kernel_size=3, stride=2, padding=1,
                           output_padding=1),
        nn.Sigmoid(),
    )  # fmt: skip
    return encoder, decoder


def layer_signature(module: nn.Module) -> list[tuple]:
    """Type, parameter shapes and hyperparameters of every layer, in order."""
    signature = []
    for layer in module:
        hyper = tuple(getattr(layer, name, None) for name in ("kernel_size", "stride", "padding", "output_padding"))
        shapes = tuple((name, tuple(p.shape)) for name, p in layer.named_parameters())
        signature.append((type(layer).__name__, shapes, hyper))
    return signature


@pytest.mark.parametrize("bottleneck", [2, 32])
def test_mlp_layers_equal_the_seed(bottleneck):
    encoder, decoder = seed_mlp(bottleneck)
    model = MLPAutoencoder(bottleneck)
    assert layer_signature(model.encoder) == layer_signature(encoder)
    assert layer_signature(model.decoder) == layer_signature(decoder)


@pytest.mark.parametrize("bottleneck", [1, 2, 8])
def test_conv_layers_equal_the_seed(bottleneck):
    encoder, decoder = seed_conv(bottleneck)
    model = ConvAutoencoder(bottleneck)
    assert layer_signature(model.encoder_conv) == layer_signature(encoder)
    assert layer_signature(model.decoder_conv) == layer_signature(decoder)


@pytest.mark.parametrize(("kind", "bottleneck", "latent_dim"), [("mlp", 32, 32), ("mlp", 5, 5), ("conv", 2, 32)])
def test_interface_shapes(kind, bottleneck, latent_dim):
    model = build_model(kind, bottleneck).eval()
    x = torch.rand(3, 1, 32, 32)
    z = model.encode(x)
    assert z.shape == (3, latent_dim) and model.latent_dim == latent_dim
    out = model.decode(z)
    assert out.shape == (3, 1, 32, 32)
    assert torch.allclose(model(x), out)
    assert out.min() >= 0.0 and out.max() <= 1.0  # Sigmoid output


def test_parameter_counts_match_the_seed():
    encoder, decoder = seed_mlp(32)
    expected = sum(p.numel() for p in [*encoder.parameters(), *decoder.parameters()])
    assert parameter_count(MLPAutoencoder(32)) == expected
    encoder, decoder = seed_conv(2)
    expected = sum(p.numel() for p in [*encoder.parameters(), *decoder.parameters()])
    assert parameter_count(ConvAutoencoder(2)) == expected


def test_unknown_model_is_rejected():
    with pytest.raises(ValueError, match="model must be"):
        build_model("vae", 2)

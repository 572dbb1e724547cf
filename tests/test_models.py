"""The models: the seed's two equal it layer for layer, every registered architecture honours the Autoencoder
interface (tests parametrised over the registry pick up a new one), and each objective is what it claims."""

import pytest
import torch
from torch import nn

from aecore.architectures import ARCHITECTURES, ArchSpec, build_model
from aecore.inference import decode, encode, reconstruct
from aecore.models import Autoencoder, parameter_count, reconstruction_loss
from aecore.models.conv import ConvAutoencoder
from aecore.models.dae import DenoisingAutoencoder
from aecore.models.mlp import MLPAutoencoder
from aecore.models.vae import PIXELS, VariationalAutoencoder


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


def images(n: int = 6, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 1, 32, 32, generator=torch.Generator().manual_seed(seed))


# --- the seed's models, layer for layer ------------------------------------------------------------


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


def test_parameter_counts_match_the_seed():
    encoder, decoder = seed_mlp(32)
    expected = sum(p.numel() for p in [*encoder.parameters(), *decoder.parameters()])
    assert parameter_count(MLPAutoencoder(32)) == expected
    encoder, decoder = seed_conv(2)
    expected = sum(p.numel() for p in [*encoder.parameters(), *decoder.parameters()])
    assert parameter_count(ConvAutoencoder(2)) == expected


# --- every registered architecture -----------------------------------------------------------------

SPECS = pytest.mark.parametrize("spec", ARCHITECTURES, ids=lambda spec: spec.name)


@SPECS
@pytest.mark.parametrize("which", ["one", "default"])
def test_encode_decode_and_forward_shapes(spec: ArchSpec, which):
    bottleneck = 1 if which == "one" else spec.default_bottleneck
    model = build_model(spec.name, bottleneck).eval()
    assert isinstance(model, Autoencoder)
    assert model.latent_dim == spec.latent_dim(bottleneck)
    x = images(3)
    with torch.inference_mode():
        z = model.encode(x)
        out = model.decode(z)
        assert z.shape == (3, spec.latent_dim(bottleneck))
        assert out.shape == (3, 1, 32, 32)
        assert torch.equal(model(x), out), "forward must be decode(encode(x))"


@SPECS
def test_outputs_stay_in_0_1_even_for_extreme_codes(spec: ArchSpec):
    model = build_model(spec.name, 2).eval()
    with torch.inference_mode():
        recon = model(images(4))
        far = model.decode(torch.tensor([[1e4], [-1e4], [0.0]]).expand(3, model.latent_dim).contiguous())
    for out in (recon, far):
        assert torch.isfinite(out).all() and out.min() >= 0.0 and out.max() <= 1.0


@SPECS
def test_training_loss_is_finite_and_falls_over_a_few_steps(spec: ArchSpec, tiny_dataset):
    torch.manual_seed(0)
    model = build_model(spec.name, spec.default_bottleneck).train()
    x = tiny_dataset.train.images[:32]

    def loss_with_fixed_noise() -> float:
        torch.manual_seed(1)  # the same noise draws before and after, for objectives that sample
        return model.training_loss(x).item()

    before = loss_with_fixed_noise()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(15):
        loss = model.training_loss(x)
        assert loss.dim() == 0 and torch.isfinite(loss), f"{spec.name}: training_loss gave {loss}"
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    after = loss_with_fixed_noise()
    assert after < 0.8 * before, f"{spec.name}: training_loss went from {before:.4f} to {after:.4f} in 15 steps"


@SPECS
def test_inference_helpers_round_trip_and_restore_the_mode(spec: ArchSpec):
    model = build_model(spec.name, 2).train()
    x = images(5)
    codes = encode(model, x)
    assert codes.shape == (5, model.latent_dim) and codes.dtype.name == "float32"
    decoded = decode(model, codes)
    assert decoded.shape == (5, 32, 32)
    torch.testing.assert_close(torch.from_numpy(decoded), reconstruct(model, x)[:, 0])
    assert model.training, "an inference helper left the model in eval mode"


@SPECS
def test_build_model_fills_in_the_registry_defaults(spec: ArchSpec):
    model = build_model(spec.name, 2)
    for option in spec.options:
        assert getattr(model, option.name) == option.default
        changed = build_model(spec.name, 2, {option.name: option.high})
        assert getattr(changed, option.name) == option.high


def test_unknown_architecture_is_rejected_with_the_registered_names():
    with pytest.raises(ValueError, match="architecture must be one of mlp, conv, vae, dae; got 'transformer'"):
        build_model("transformer", 2)


# --- the VAE ----------------------------------------------------------------------------------------


def test_vae_layers_are_the_mlps_with_mean_and_log_variance_heads():
    encoder, decoder = seed_mlp(8)
    model = VariationalAutoencoder(8)
    assert layer_signature(model.encoder) == layer_signature(encoder[:-1])  # up to the 32-unit layer
    for head in (model.mean_head, model.logvar_head):
        assert layer_signature([head]) == layer_signature([encoder[-1]])
    assert layer_signature(model.decoder) == layer_signature(decoder)


def test_vae_code_is_the_posterior_mean_and_forward_is_deterministic():
    torch.manual_seed(0)
    model = VariationalAutoencoder(4).eval()
    x = images(6)
    with torch.inference_mode():
        mean, logvar = model.posterior(x)
        assert not torch.equal(mean, logvar)
        assert torch.equal(model.encode(x), mean)
        first, second = model(x), model(x)
        assert torch.equal(first, second), "forward sampled a code"
        assert torch.equal(first, model.decode(mean))


def test_vae_with_beta_0_trains_exactly_the_plain_mse_of_the_mean_reconstruction():
    torch.manual_seed(0)
    model = VariationalAutoencoder(4, beta=0.0)
    x = images(6)
    expected = reconstruction_loss(x, model.decode(model.posterior(x)[0]))
    assert torch.equal(model.training_loss(x), expected)
    assert torch.equal(model.training_loss(x), torch.mean((x - model(x)) ** 2))


def test_vae_kl_term_is_per_pixel_and_weighted_by_beta():
    torch.manual_seed(0)
    model = VariationalAutoencoder(4)
    x = images(6)
    mean, logvar = model.posterior(x)
    kl = (-0.5 * torch.sum(1 + logvar - mean.pow(2) - logvar.exp(), dim=1).mean()).item()
    assert kl > 0

    def loss(beta: float) -> float:
        model.beta = beta
        torch.manual_seed(7)  # the same sampled code for every beta
        return model.training_loss(x).item()

    assert loss(3.0) - loss(1.0) == pytest.approx(2.0 * kl / PIXELS, rel=1e-4)
    model.beta = 1.0
    draws = {round(model.training_loss(x).item(), 9) for _ in range(3)}
    assert len(draws) > 1, "with beta > 0 the objective must sample the code"


# --- the DAE ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("bottleneck", [1, 2])
def test_dae_layers_equal_the_conv_nets(bottleneck):
    encoder, decoder = seed_conv(bottleneck)
    model = DenoisingAutoencoder(bottleneck)
    assert isinstance(model, ConvAutoencoder)
    assert layer_signature(model.encoder_conv) == layer_signature(encoder)
    assert layer_signature(model.decoder_conv) == layer_signature(decoder)
    assert parameter_count(model) == parameter_count(ConvAutoencoder(bottleneck))


def test_dae_scores_the_reconstruction_of_a_noisy_input_against_the_clean_input(tiny_dataset):
    torch.manual_seed(0)
    model = DenoisingAutoencoder(2, noise=0.5).eval()  # eval: BatchNorm's running stats, so calls compare
    x = tiny_dataset.train.images[:8]
    torch.manual_seed(3)
    loss = model.training_loss(x)
    torch.manual_seed(3)
    noisy = (x + 0.5 * torch.randn_like(x)).clamp(0.0, 1.0)
    recon = model(noisy)
    assert torch.equal(loss, reconstruction_loss(x, recon)), "the target must be the clean batch"
    assert loss != reconstruction_loss(noisy, recon)
    assert loss != reconstruction_loss(x, model(x)), "the input must be corrupted"
    model.noise = 0.0
    assert torch.equal(model.training_loss(x), reconstruction_loss(x, model(x)))

"""Running a trained model over many images: the one batched, gradient-free, mode-restoring helper.

Every metric, map and page reaches a model through these functions, so the model is always in eval mode
(BatchNorm uses its running statistics) and is handed back in the mode the caller left it in.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from aecore.models import Autoencoder

BATCH = 2048  # no gradients are kept, so large batches are cheap


def batched(model: Autoencoder, fn: Callable[[torch.Tensor], torch.Tensor], inputs: torch.Tensor) -> torch.Tensor:
    """`fn` (a bound method of `model`) over `inputs` in batches, in eval mode, on the model's device.

    Returns the concatenated outputs on the CPU.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    try:
        with torch.inference_mode():
            outputs = [fn(chunk.to(device)).cpu() for chunk in torch.split(inputs, BATCH)]
    finally:
        model.train(was_training)
    return torch.cat(outputs) if outputs else torch.empty(0)


def reconstruct(model: Autoencoder, images: torch.Tensor) -> torch.Tensor:
    """(N, 1, 32, 32) -> (N, 1, 32, 32) deterministic reconstructions in [0, 1], on the CPU."""
    return batched(model, model.forward, images)


def encode(model: Autoencoder, images: torch.Tensor) -> np.ndarray:
    """(N, 1, 32, 32) -> (N, latent_dim) float32 deterministic codes."""
    return batched(model, model.encode, images).numpy().astype(np.float32, copy=False)


def decode(model: Autoencoder, codes: np.ndarray) -> np.ndarray:
    """(N, latent_dim) codes -> (N, 32, 32) float32 images in [0, 1] (the decoder's Sigmoid)."""
    z = torch.as_tensor(np.asarray(codes, dtype=np.float32)).reshape(-1, model.latent_dim)
    return batched(model, model.decode, z)[:, 0].numpy()


def reconstruct_and_errors(model: Autoencoder, images: torch.Tensor) -> tuple[torch.Tensor, np.ndarray]:
    """Reconstructions (N, 1, 32, 32) and the seed's per-image MSE (N,) float64 of `images`."""
    recon = reconstruct(model, images)
    errors = ((recon - images.cpu()) ** 2).flatten(1).mean(1).numpy().astype(np.float64)
    return recon, errors

"""Build small real runs on disk for tests, without the full training pipeline."""

from __future__ import annotations

from pathlib import Path

import torch

from aecore.checkpoints import RunInfo, save_run
from aecore.config import RunConfig
from aecore.metrics import PCABaseline, evaluate, summary
from aecore.train import train


def tiny_config(model: str = "mlp", **overrides) -> RunConfig:
    values = {
        "model": model,
        "bottleneck": 4 if model == "mlp" else 1,
        "epochs": 1,
        "batch_size": 64,
        "learning_rate": 1e-2,
        "train_limit": 100,
    }
    values.update(overrides)
    return RunConfig(**values)


def make_run(root: Path, data, config: RunConfig | None = None) -> tuple[RunInfo, torch.nn.Module]:
    """Train `config` (default: a 1-epoch MLP) on `data` and save it under `root`."""
    config = config or tiny_config()
    result = train(config, data, device="cpu")
    pca = PCABaseline.fit(data.train.images, config.latent_dim)
    metrics = {
        "test": summary(evaluate(result.model, data.test.images, data.test.labels)),
        "pca": summary(pca.evaluate(data.test.images, data.test.labels)),
        "val_mse": result.history[-1].val_loss,
    }
    info = save_run(
        root, config, result.model, history=result.history, best_epoch=result.best_epoch, metrics=metrics,
        dataset={"name": data.name, "fingerprint": data.fingerprint, "description": "tiny"}, train_seconds=0.1,
    )  # fmt: skip
    return info, result.model

"""The training loop: in-memory batches, seeded and deterministic on CPU, progress and cancel hooks, a timeline.

The loop never special-cases an architecture: it minimises `model.training_loss(x)`, validates with the seed's
per-pixel MSE, keeps the epoch with the lowest validation loss, and after every epoch records how the model
rebuilds a fixed set of validation digits (the training timeline).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch

from aecore.architectures import build_model
from aecore.config import ONECYCLE_WARMUP, RunConfig
from aecore.data import Dataset, first_of_each_digit, training_subset
from aecore.devices import resolve_device
from aecore.inference import reconstruct
from aecore.models import Autoencoder, reconstruction_loss
from aecore.records import PROBES_PER_DIGIT, EpochRecord, Timeline

# The models are too small to gain from a second intra-op thread (an epoch takes as long on 1 as on 2), and on
# a busy machine two spinning OpenMP threads can make an epoch 10-20x slower. One thread also makes a CPU
# run's loss history independent of the machine's core count.
CPU_TRAIN_THREADS = 1


class TrainingCancelled(RuntimeError):
    """The caller asked the run to stop; nothing was saved."""


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; nothing was saved."""


@dataclass(frozen=True)
class Progress:
    """What a UI needs to draw a progress bar after every batch."""

    epoch: int  # 1-based
    epochs: int
    batch: int  # 1-based within the epoch
    batches: int
    loss: float  # this batch's training loss
    history: tuple[EpochRecord, ...]  # the finished epochs

    @property
    def fraction(self) -> float:
        return ((self.epoch - 1) * self.batches + self.batch) / (self.epochs * self.batches)


@dataclass
class TrainResult:
    model: Autoencoder
    history: list[EpochRecord] = field(default_factory=list)
    best_epoch: int = 0  # the epoch whose weights were kept (lowest validation loss)
    timeline: Timeline | None = None


def train(
    config: RunConfig,
    data: Dataset,
    *,
    device: str = "auto",
    progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    threads: int | None = None,
) -> TrainResult:
    """Train `config` on its training images, validate on `data.val` each epoch, keep the best epoch.

    `threads`: intra-op threads on CPU (default CPU_TRAIN_THREADS); the loss history depends on it, so a run is
    reproducible for a given machine and thread count. Raises TrainingCancelled when `should_stop()` turns true,
    TrainingDiverged on a NaN or infinite loss. Never writes anything to disk.
    """
    torch_device = resolve_device(device)
    with _cpu_threads((threads or CPU_TRAIN_THREADS) if torch_device.type == "cpu" else None):
        return _train(config, data, torch_device, progress, should_stop)


def _train(
    config: RunConfig,
    data: Dataset,
    torch_device: torch.device,
    progress: Callable[[Progress], None] | None,
    should_stop: Callable[[], bool] | None,
) -> TrainResult:
    torch.manual_seed(config.seed)
    model = build_model(config.model, config.bottleneck, dict(config.options)).to(torch_device)
    images = training_subset(data.train, config.train_limit).images.to(torch_device)
    val_images = data.val.images.to(torch_device)
    probes = first_of_each_digit(data.val.labels, PROBES_PER_DIGIT)
    if model.prefers_channels_last:
        model = model.to(memory_format=torch.channels_last)
        images = images.contiguous(memory_format=torch.channels_last)
        val_images = val_images.contiguous(memory_format=torch.channels_last)

    n = len(images)
    batches = math.ceil(n / config.batch_size)
    optimizer, scheduler = _optimizer(config, model, steps=config.epochs * batches, device=torch_device)
    shuffle = torch.Generator().manual_seed(config.seed)
    result = TrainResult(model=model)
    best_val, best_state = math.inf, None
    frames = []

    for epoch in range(1, config.epochs + 1):
        started = time.perf_counter()
        model.train()
        order = torch.randperm(n, generator=shuffle).to(torch_device)
        total = 0.0
        for batch in range(1, batches + 1):
            if should_stop is not None and should_stop():
                raise TrainingCancelled(f"cancelled in epoch {epoch}, batch {batch}")
            x = images[order[(batch - 1) * config.batch_size : batch * config.batch_size]]
            loss = model.training_loss(x)
            value = loss.item()
            if not math.isfinite(value):
                raise TrainingDiverged(
                    f"the loss became {value} in epoch {epoch}, batch {batch}; "
                    f"try a lower learning rate than {config.learning_rate:g}"
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            total += value * len(x)
            if progress is not None:
                progress(Progress(epoch, config.epochs, batch, batches, value, tuple(result.history)))
        val_loss = evaluate_loss(model, val_images)
        if not math.isfinite(val_loss):
            raise TrainingDiverged(f"the validation loss became {val_loss} in epoch {epoch}")
        frames.append(to_uint8(reconstruct(model, val_images[probes])))
        result.history.append(
            EpochRecord(
                epoch=epoch,
                train_loss=total / n,
                val_loss=val_loss,
                seconds=time.perf_counter() - started,
                learning_rate=optimizer.param_groups[0]["lr"],
            )
        )
        if val_loss < best_val:
            best_val, result.best_epoch = val_loss, epoch
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}

    if best_state is not None:
        model.load_state_dict(best_state)
    model.to(memory_format=torch.contiguous_format)  # callers get an ordinary model back
    model.eval()
    result.timeline = Timeline(probes, data.val.labels.numpy()[probes], np.stack(frames))
    return result


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(N, 1, 32, 32) in [0, 1] -> (N, 32, 32) uint8, rounded: a compact picture of a reconstruction."""
    return (images[:, 0].clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()


def evaluate_loss(model: Autoencoder, images: torch.Tensor) -> float:
    """Mean squared error over every pixel of `images`, in eval mode, restoring the caller's mode."""
    return reconstruction_loss(images.cpu(), reconstruct(model, images)).item()


@contextmanager
def _cpu_threads(count: int | None) -> Iterator[None]:
    """Use `count` intra-op threads inside the block (None: leave as is), then restore the caller's."""
    previous = torch.get_num_threads()
    if count is not None:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _optimizer(config: RunConfig, model: torch.nn.Module, steps: int, device: torch.device):
    # The fused kernel updates all parameters in one call: on CPU it makes an MLP epoch ~20% faster
    # than the per-tensor loop (bench/bench_training.py); same algorithm, deterministic on CPU.
    fused = True if device.type in ("cpu", "cuda") else None
    if config.recipe == "seed":
        return torch.optim.Adam(model.parameters(), lr=config.learning_rate, fused=fused), None
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=0.0, fused=fused)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=config.learning_rate, total_steps=steps, pct_start=ONECYCLE_WARMUP
    )
    return optimizer, scheduler

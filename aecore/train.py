"""The training loop: in-memory batches, seeded and deterministic on CPU, progress and cancel hooks."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch

from aecore.config import RunConfig
from aecore.data import Dataset, Split
from aecore.models import Autoencoder, build_model, reconstruction_loss, resolve_device

EVAL_BATCH = 2048  # evaluation needs no gradients, so large batches are cheap and fast
# Both models are too small to gain from a second intra-op thread (an epoch takes as long on 1 as on
# 2), and on a busy machine two spinning OpenMP threads can make an epoch 10-20x slower. One thread
# also makes a CPU run's loss history independent of the machine's core count.
CPU_TRAIN_THREADS = 1


class TrainingCancelled(RuntimeError):
    """The caller asked the run to stop; nothing was saved."""


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; nothing was saved."""


@dataclass(frozen=True)
class EpochRecord:
    epoch: int  # 1-based
    train_loss: float  # mean over the epoch's batches, weighted by batch size
    val_loss: float
    seconds: float  # wall time of this epoch, validation included
    learning_rate: float  # at the end of the epoch


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


def train(
    config: RunConfig,
    data: Dataset,
    *,
    device: str = "auto",
    progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> TrainResult:
    """Train `config` on `data.train`, validate on `data.val` each epoch, keep the best epoch.

    Raises TrainingCancelled when `should_stop()` turns true, TrainingDiverged on a NaN or
    infinite loss. Never writes anything to disk.
    """
    torch_device = resolve_device(device)
    with _cpu_threads(CPU_TRAIN_THREADS if torch_device.type == "cpu" else None):
        return _train(config, data, torch_device, progress, should_stop)


def _train(
    config: RunConfig,
    data: Dataset,
    torch_device: torch.device,
    progress: Callable[[Progress], None] | None,
    should_stop: Callable[[], bool] | None,
) -> TrainResult:
    torch.manual_seed(config.seed)
    model = build_model(config.model, config.bottleneck).to(torch_device)
    images, _ = _training_images(config, data.train)
    images = images.to(torch_device)
    val_images = data.val.images.to(torch_device)
    if config.model == "conv":
        # NHWC lets oneDNN pick faster convolution kernels on CPU: ~25% off a conv epoch (BENCHMARKS.md).
        model = model.to(memory_format=torch.channels_last)
        images = images.contiguous(memory_format=torch.channels_last)
        val_images = val_images.contiguous(memory_format=torch.channels_last)

    n = len(images)
    batches = math.ceil(n / config.batch_size)
    optimizer, scheduler = _optimizer(config, model, steps=config.epochs * batches, device=torch_device)
    shuffle = torch.Generator().manual_seed(config.seed)
    result = TrainResult(model=model)
    best_val, best_state = math.inf, None

    for epoch in range(1, config.epochs + 1):
        started = time.perf_counter()
        model.train()
        order = torch.randperm(n, generator=shuffle).to(torch_device)
        total = 0.0
        for batch in range(1, batches + 1):
            if should_stop is not None and should_stop():
                raise TrainingCancelled(f"cancelled in epoch {epoch}, batch {batch}")
            x = images[order[(batch - 1) * config.batch_size : batch * config.batch_size]]
            loss = reconstruction_loss(x, model(x))
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
    return result


def evaluate_loss(model: Autoencoder, images: torch.Tensor) -> float:
    """Mean squared error over every pixel of `images`, in eval mode, restoring the caller's mode."""
    was_training = model.training
    model.eval()
    total = 0.0
    with torch.inference_mode():
        for start in range(0, len(images), EVAL_BATCH):
            x = images[start : start + EVAL_BATCH]
            total += reconstruction_loss(x, model(x)).item() * len(x)
    model.train(was_training)
    return total / len(images)


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


def _training_images(config: RunConfig, split: Split) -> tuple[torch.Tensor, torch.Tensor]:
    if config.train_limit is None or config.train_limit >= len(split):
        return split.images, split.labels
    # A stratified prefix: take images round-robin over digits so a small limit still covers 0-9.
    labels = split.labels
    per_digit = [torch.nonzero(labels == d).flatten() for d in range(10)]
    order = torch.stack([idx[: min(len(i) for i in per_digit)] for idx in per_digit], dim=1).flatten()
    chosen = order[: config.train_limit]
    return split.images[chosen], labels[chosen]


def _optimizer(config: RunConfig, model: torch.nn.Module, steps: int, device: torch.device):
    # The fused kernel updates all parameters in one call: on CPU it makes an MLP epoch ~20% faster
    # than the per-tensor loop (bench/bench_training.py); same algorithm, deterministic on CPU.
    fused = True if device.type in ("cpu", "cuda") else None
    if config.recipe == "seed":
        return torch.optim.Adam(model.parameters(), lr=config.learning_rate, fused=fused), None
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=0.0, fused=fused)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=config.learning_rate, total_steps=steps, pct_start=0.3
    )
    return optimizer, scheduler

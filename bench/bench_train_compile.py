"""A training step of each seed model under `torch.compile` (inductor, CPU) against the same step in eager mode.

The step is what `aecore.train` does per batch: the model's training loss, backward, then the fused Adam step,
batch 64, one intra-op thread, the model in the layout `train` gives it (channels_last for the conv net). Times
are CPU milliseconds per batch after a warm-up (compilation included in the warm-up and reported apart), with
the eager and compiled steps alternated REPEATS times. The compiled step's floating-point results differ from
eager's, so a shipped run retrained with it would not be bit-identical: it would have to pay for that.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from common import Row, markdown_table

from aecore.architectures import build_model
from aecore.config import RunConfig
from aecore.data import load_dataset
from aecore.train import CPU_TRAIN_THREADS

BATCH = 64
REPEATS = 3


def make_step(model_name: str, compiled: bool, channels_last: bool):
    """step(x): one training step of a fresh seed-recipe model, eager or compiled."""
    torch.manual_seed(0)
    model = build_model(model_name, RunConfig.for_recipe(model_name, "seed").bottleneck)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)

    def forward_backward(x):
        loss = model.training_loss(x)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        return loss

    run = torch.compile(forward_backward) if compiled else forward_backward

    def step(x):
        loss = run(x)
        optimizer.step()
        return loss.item()

    return step


def cpu_ms_per_batch(step, batches: list[torch.Tensor]) -> float:
    started = time.process_time()
    for x in batches:
        step(x)
    return (time.process_time() - started) / len(batches) * 1000


def measure(model_name: str, images: torch.Tensor, warm_up: int, timed: int) -> dict:
    channels_last = build_model(model_name, 2).prefers_channels_last
    batches = _batches(images, warm_up + timed, channels_last)
    steps, warm_up_seconds = {}, {}
    for mode in ("eager", "compiled"):
        steps[mode] = make_step(model_name, compiled=mode == "compiled", channels_last=channels_last)
        started = time.perf_counter()
        for x in batches[:warm_up]:
            steps[mode](x)
        warm_up_seconds[mode] = time.perf_counter() - started
    times = {mode: [] for mode in steps}
    for _ in range(REPEATS):
        for mode, step in steps.items():
            times[mode].append(cpu_ms_per_batch(step, batches[warm_up:]))
    return {"model": model_name, "layout": "channels_last" if channels_last else "contiguous",
            "warm_up_seconds": warm_up_seconds, "ms_per_batch": times}  # fmt: skip


def _batches(images: torch.Tensor, count: int, channels_last: bool) -> list[torch.Tensor]:
    """`count` full batches, cycling over the images (a batch of another size would make inductor compile again
    inside the timed loop)."""
    layout = torch.channels_last if channels_last else torch.contiguous_format
    full = len(images) // BATCH
    return [images[(i % full) * BATCH : (i % full + 1) * BATCH].contiguous(memory_format=layout) for i in range(count)]


def rows(results: list[dict]) -> list[Row]:
    out = []
    for r in results:
        eager, compiled = (statistics.median(r["ms_per_batch"][m]) for m in ("eager", "compiled"))
        out.append(
            Row(
                bench=f"torch.compile training step, {r['model']} (batch {BATCH}, one thread)",
                reference=f"eager {eager:.2f} ms/batch",
                measured=f"{compiled:.2f} ms/batch",
                ratio=f"{compiled / eager:.2f}",
                target="-",
                met=None,
                note=f"{r['layout']} layout; the compiled warm-up took {r['warm_up_seconds']['compiled']:.0f} s "
                "(less when inductor's disk cache holds the kernels); ranges eager "
                f"{min(r['ms_per_batch']['eager']):.2f}-{max(r['ms_per_batch']['eager']):.2f}, compiled "
                f"{min(r['ms_per_batch']['compiled']):.2f}-{max(r['ms_per_batch']['compiled']):.2f} ms",
            )
        )
    return out


def main(smoke: bool = False, models: tuple[str, ...] = ("mlp", "conv")) -> dict:
    torch.set_num_threads(CPU_TRAIN_THREADS)
    images = load_dataset("mnist-sample").train.images
    warm_up, timed = (2, 2) if smoke else (20, 200)
    results = [measure(m, images, warm_up, timed) for m in models]
    return {"rows": rows(results), "raw": results}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["mlp", "conv"])
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    out = main(args.smoke, tuple(args.models))
    print(markdown_table(out["rows"]))
    print(json.dumps(out["raw"], indent=1))

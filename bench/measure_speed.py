"""Measure each architecture's training speed for `ArchSpec.seconds_per_batch` / `seconds_per_image`.

An epoch of `n` images in batches of `b` is modelled as `ceil(n / b) * seconds_per_batch + n * seconds_per_image`
(validation and the timeline's probe frames fall into the per-image term). Each architecture trains 2 epochs on
the bundled sample's 4,500 training images at batch 8 and at batch 256, `--repeats` times each, through
`aecore.train.train` on the CPU; a least-squares fit of the model to those epochs gives the two constants.

Training uses one intra-op thread, so the process's CPU time is what an epoch costs on an idle core; that is
what is fitted, because on a shared machine wall time mostly measures the other processes (both are printed).

    python bench/measure_speed.py [--repeats 2]
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
from common import REPO  # noqa: F401  (puts the repository on sys.path)

from aecore.architectures import ARCHITECTURES
from aecore.config import RunConfig
from aecore.data import load_dataset
from aecore.train import train

BATCH_SIZES = (8, 256)
EPOCHS = 2


def measure(name: str, data, repeats: int) -> tuple[float, float, list[tuple[int, float, float]]]:
    """(seconds_per_batch, seconds_per_image, [(batch size, CPU s per epoch, wall s per epoch), ...]) of `name`."""
    n = len(data.train)
    rows, times, seen = [], [], []
    for _ in range(repeats):
        for batch_size in BATCH_SIZES:
            config = RunConfig.for_recipe(name, epochs=EPOCHS, batch_size=batch_size)
            wall, cpu = time.perf_counter(), time.process_time()
            train(config, data, device="cpu")
            per_epoch = (time.process_time() - cpu) / EPOCHS
            rows.append([math.ceil(n / batch_size), n])
            times.append(per_epoch)
            seen.append((batch_size, per_epoch, (time.perf_counter() - wall) / EPOCHS))
    (per_batch, per_image), *_ = np.linalg.lstsq(np.array(rows, float), np.array(times), rcond=None)
    return float(per_batch), float(per_image), seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    data = load_dataset("mnist-sample")
    train(RunConfig.for_recipe("mlp", epochs=1, train_limit=100), data, device="cpu")  # one-time set-up costs
    for spec in ARCHITECTURES:
        per_batch, per_image, seen = measure(spec.name, data, args.repeats)
        epochs = ", ".join(f"batch {b}: {cpu:.2f} s CPU, {wall:.2f} s wall" for b, cpu, wall in seen)
        print(f"{spec.name}: seconds_per_batch={per_batch:.2e}, seconds_per_image={per_image:.2e}  ({epochs})")


if __name__ == "__main__":
    main()

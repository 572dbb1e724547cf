"""What a training run records besides its weights (the per-epoch history and the timeline), as plain data.

Kept apart from `aecore.train` so that reading a run folder needs neither torch nor the training loop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PROBES_PER_DIGIT = 2  # the timeline follows 2 validation images of each class


@dataclass(frozen=True)
class EpochRecord:
    epoch: int  # 1-based
    train_loss: float  # the architecture's objective, averaged over the epoch's batches (weighted by size)
    val_loss: float  # the seed's per-pixel MSE on the validation images, for every architecture
    seconds: float  # wall time of this epoch, validation included
    learning_rate: float  # at the end of the epoch


@dataclass(frozen=True)
class Timeline:
    """How a run rebuilt a fixed set of validation digits after each epoch.

    probe_positions : (P,) positions in the validation split
    probe_labels : (P,) their digits
    frames : (epochs, P, 32, 32) uint8 reconstructions, frame e-1 after epoch e
    """

    probe_positions: np.ndarray
    probe_labels: np.ndarray
    frames: np.ndarray

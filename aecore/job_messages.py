"""The messages between the server (aecore.jobs) and its training worker (aecore.worker): what a job asks for,
what the worker reports back, and the states a job goes through. Both sides import this module; neither
imports the other's internals, so there is no import circle between them.

Every message is a frozen dataclass sent through a multiprocessing pipe (pickled: the pipe is private to the
server and the worker it spawned, and nothing here is read from a file).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the server needs no torch for the jobs; records arrive from the worker ready-made
    from aecore.config import RunConfig
    from aecore.studies import SweepSpec, TuneSpec
    from aecore.train import EpochRecord

# How a job stands: IDLE before the first one; RUNNING until the worker reports how it ended.
IDLE = "idle"
RUNNING = "running"
FINISHED = "finished"
FAILED = "failed"
CANCELLED = "cancelled"

# --- what the server sends: one request per job ---------------------------------------------------------


@dataclass(frozen=True)
class TrainRequest:
    """Train `configs` in order into checkpoint `root` (each through `load_or_train`: a saved one is reused)."""

    configs: tuple[RunConfig, ...]
    root: Path


@dataclass(frozen=True)
class StudyRequest:
    """Run a sweep or tune study into checkpoint `root`, as `name` in `storage`."""

    spec: SweepSpec | TuneSpec
    name: str
    root: Path
    storage: str | None  # None: `studies.db` beside `root`
    workers: int = 1  # the job's own worker plus workers − 1 helper processes on the same study


# --- what the worker sends back (small: a batch reading pickles to 156 bytes, 286 with an epoch) ----------


@dataclass(frozen=True)
class Progressed:
    """A batch reading of run `index`; `new_epochs` are the epochs finished since the last reading."""

    index: int
    epoch: int
    epochs: int
    batch: int
    batches: int
    loss: float
    run_fraction: float  # of run `index`, 0..1
    new_epochs: tuple[EpochRecord, ...]


@dataclass(frozen=True)
class Saved:
    """Run `index` is on disk: trained and saved, or `reused` from an identical config."""

    index: int
    run_id: str
    reused: bool
    history: tuple[EpochRecord, ...]


@dataclass(frozen=True)
class TrialStarted:
    """A study job's trial began: `position` of `count` are started or done, this one included."""

    position: int
    count: int
    config: RunConfig


@dataclass(frozen=True)
class TrialEnded:
    """A study job's trial ended (COMPLETE, PRUNED or FAIL); a complete one names its run."""

    position: int
    state: str
    run_id: str | None
    reused: bool


@dataclass(frozen=True)
class Ready:
    """The worker's first message: the thread counts it runs with (torch's intra-op threads and BLAS's)."""

    torch_threads: int
    blas_threads: int


@dataclass(frozen=True)
class Leaving:
    """The worker has been idle for its idle time and asks to go: the server closes the pipe (the worker exits)
    unless a job was sent meanwhile, which the worker then runs as usual."""


@dataclass(frozen=True)
class Ended:
    """The job is over: `state` is FINISHED, FAILED or CANCELLED; `reason` says why when not finished."""

    state: str
    reason: str = ""

"""Background training that a UI can start, watch and cancel: one job at a time, on a thread, no UI calls.

A job trains one or more configs in order through `load_or_train`, so an identical config that
already has a run comes back at once instead of training again. The UI polls `snapshot()`, which
is an immutable copy taken under a lock: it never sees a half-updated state.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from aecore.config import ConfigError, RunConfig
from aecore.train import EpochRecord, Progress

IDLE = "idle"
RUNNING = "running"
FINISHED = "finished"
FAILED = "failed"
CANCELLED = "cancelled"

log = logging.getLogger(__name__)


class JobBusy(RuntimeError):
    """A job is already running; the message says which one and what to do."""


@dataclass(frozen=True)
class JobSnapshot:
    """What a progress panel shows, copied at one instant."""

    job_id: int = 0  # 0 until the first job starts; grows by one per job
    state: str = IDLE
    configs: tuple[RunConfig, ...] = ()
    current: int = 0  # index into `configs` of the run being trained
    epoch: int = 0  # 1-based, of the current run
    epochs: int = 0
    batch: int = 0  # 1-based within the epoch
    batches: int = 0
    batch_loss: float | None = None  # the last batch's training loss
    history: tuple[EpochRecord, ...] = ()  # finished epochs of the current run
    fraction: float = 0.0  # of the whole job, 0..1
    elapsed: float = 0.0  # seconds since the job started
    eta_seconds: float | None = None  # None until there is progress to extrapolate from
    run_ids: tuple[str, ...] = ()  # runs this job finished (trained and saved, or found already saved)
    reused: tuple[str, ...] = ()  # of `run_ids`, those an identical config had already produced
    message: str = ""  # why the job failed or was cancelled

    @property
    def active(self) -> bool:
        return self.state == RUNNING

    @property
    def run_id(self) -> str | None:
        """The last run the job finished, if any."""
        return self.run_ids[-1] if self.run_ids else None

    @property
    def train_loss(self) -> float | None:
        return self.history[-1].train_loss if self.history else None

    @property
    def val_loss(self) -> float | None:
        return self.history[-1].val_loss if self.history else None

    @property
    def batch_fraction(self) -> float:
        return self.batch / self.batches if self.batches else 0.0

    @property
    def config(self) -> RunConfig | None:
        """The config being trained (or the last one, once the job is over)."""
        return self.configs[self.current] if self.configs else None


@dataclass
class _Job:
    snapshot: JobSnapshot
    started: float
    cancel: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None


class TrainingJobs:
    """Runs at most one training job at a time on a background thread.

    Parameters
    ----------
    data_root : where datasets are read from (None: aecore's default)
    device : passed to the trainer ("auto", "cpu", ...)
    threads : torch CPU threads while training (process-wide in torch), None to leave torch's setting.
        A UI process should leave cores to its own server: on 2 busy cores a conv batch took 85 ms
        with torch's default 2 threads and 11 ms with 1 (thread oversubscription).
    """

    def __init__(self, data_root: str | None = None, device: str = "auto", threads: int | None = None) -> None:
        self.data_root = data_root
        self.device = device
        self.threads = threads
        self._lock = threading.Lock()
        self._job: _Job | None = None

    def start(self, configs: Sequence[RunConfig], root: Path | None = None) -> int:
        """Start training `configs` in order into checkpoint `root`; return the job id.

        Raises JobBusy when a job is still running, ValueError when `configs` is empty.
        """
        configs = tuple(configs)
        if not configs:
            raise ValueError("nothing to train: give at least one config")
        if not all(isinstance(c, RunConfig) for c in configs):
            raise ConfigError("every item to train must be a RunConfig")
        from aecore.runstore import default_checkpoint_root

        root = Path(root) if root else default_checkpoint_root()
        with self._lock:
            if self._job is not None and self._job.snapshot.state == RUNNING:
                raise JobBusy(
                    f"a training job is already running ({_describe(self._job.snapshot)}); "
                    "wait for it to finish or cancel it, then start again"
                )
            job_id = (self._job.snapshot.job_id if self._job else 0) + 1
            job = _Job(JobSnapshot(job_id=job_id, state=RUNNING, configs=configs), started=time.monotonic())
            job.thread = threading.Thread(
                target=self._run, args=(job, root), name=f"aecore-training-{job_id}", daemon=True
            )
            self._job = job
        job.thread.start()
        return job_id

    def cancel(self) -> bool:
        """Ask the running job to stop at the next batch; False when no job is running."""
        with self._lock:
            if self._job is None or self._job.snapshot.state != RUNNING:
                return False
            self._job.cancel.set()
            return True

    def snapshot(self) -> JobSnapshot:
        with self._lock:
            if self._job is None:
                return JobSnapshot()
            job = self._job
            if job.snapshot.state != RUNNING:
                return job.snapshot
            return replace(job.snapshot, elapsed=time.monotonic() - job.started)

    def wait(self, timeout: float | None = None) -> JobSnapshot:
        """Block until the current job ends (or `timeout` seconds pass); return the last snapshot."""
        with self._lock:
            thread = self._job.thread if self._job else None
        if thread is not None:
            thread.join(timeout)
        return self.snapshot()

    # --- the worker thread ---------------------------------------------------------------------

    def _update(self, job: _Job, **changes) -> None:
        with self._lock:
            job.snapshot = replace(job.snapshot, elapsed=time.monotonic() - job.started, **changes)

    def _on_progress(self, job: _Job, index: int, count: int, progress: Progress) -> None:
        fraction = (index + progress.fraction) / count
        elapsed = time.monotonic() - job.started
        eta = elapsed * (1 - fraction) / fraction if fraction > 0 else None
        self._update(
            job,
            current=index,
            epoch=progress.epoch,
            epochs=progress.epochs,
            batch=progress.batch,
            batches=progress.batches,
            batch_loss=progress.loss,
            history=progress.history,
            fraction=fraction,
            eta_seconds=eta,
        )

    def _run(self, job: _Job, root: Path) -> None:
        from aecore.data import DatasetUnavailable
        from aecore.pipeline import load_or_train
        from aecore.runstore import CheckpointError
        from aecore.train import TrainingCancelled, TrainingDiverged

        configs = job.snapshot.configs
        finished: list[str] = []
        reused: list[str] = []
        try:
            if self.threads:
                import torch

                torch.set_num_threads(self.threads)
            ensure_writable(root)
            for index, config in enumerate(configs):
                self._update(job, current=index, epoch=0, epochs=config.epochs, batch=0, batches=0, history=())
                trained = []  # the trainer reports progress only when it really trains

                def progress(p: Progress, index: int = index, trained: list = trained) -> None:
                    trained.append(True)
                    self._on_progress(job, index, len(configs), p)

                info, _ = load_or_train(
                    config,
                    root=root,
                    data_root=self.data_root,
                    device=self.device,
                    progress=progress,
                    should_stop=job.cancel.is_set,
                )
                finished.append(info.run_id)
                if not trained:
                    reused.append(info.run_id)
                self._update(
                    job,
                    run_ids=tuple(finished),
                    reused=tuple(reused),
                    history=info.history,
                    fraction=(index + 1) / len(configs),
                )
        except TrainingCancelled as error:
            self._end(job, CANCELLED, f"{_kept(finished)}{configs[len(finished)].run_id} was {error}; nothing saved")
        except (TrainingDiverged, CheckpointError, DatasetUnavailable, ConfigError) as error:
            self._end(job, FAILED, f"{_kept(finished)}{error}")
        except Exception as error:  # a bug, not a user error: keep the traceback in the log
            log.exception("training job %s crashed", job.snapshot.job_id)
            self._end(job, FAILED, f"{_kept(finished)}unexpected error: {type(error).__name__}: {error}")
        else:
            self._end(job, FINISHED, "")

    def _end(self, job: _Job, state: str, message: str) -> None:
        self._update(job, state=state, message=message, eta_seconds=0.0 if state == FINISHED else None)


def ensure_writable(root: Path) -> None:
    """Fail before training, not after it, when runs could not be saved into `root`."""
    from aecore.runstore import TMP_PREFIX, CheckpointError

    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=root, prefix=TMP_PREFIX):
            pass
    except OSError as error:
        raise CheckpointError(
            f"cannot save runs: the checkpoints folder {root} is not writable ({error.strerror or error}); "
            "nothing was trained"
        ) from None


def _describe(snapshot: JobSnapshot) -> str:
    names = ", ".join(c.run_id for c in snapshot.configs)
    return f"job {snapshot.job_id}: {names}"


def _kept(finished: list[str]) -> str:
    # With several configs in one job, runs finished before a failure are saved and stay saved.
    return f"kept {', '.join(finished)}; " if finished else ""

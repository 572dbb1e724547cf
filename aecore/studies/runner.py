"""Running a study: worker loops that take trials until the study is done, heartbeats, and local worker processes.

A worker trains each trial's run through `load_or_train` (one training per run id, however many workers ask),
reports its validation loss after every epoch for pruning, and fails the trials of workers that died (see the
package's docstring for how the study stays consistent).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import functools
import logging
import os
import socket
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
from optuna.trial import TrialState

from aecore.config import ConfigError, RunConfig
from aecore.data import DatasetUnavailable
from aecore.pipeline import load_or_train
from aecore.runstore import CheckpointError, RunInfo, default_checkpoint_root
from aecore.studies.specs import StudyError, SweepSpec, TuneSpec
from aecore.studies.storage import (
    HEARTBEAT_SECONDS,
    STALE_BEATS,
    describe_storage,
    first_line,
    open_study,
    resolve_storage,
    storage_errors,
    trials_frame,
)
from aecore.train import Progress, TrainingCancelled, TrainingDiverged

POLL_SECONDS = 1.0  # how often a worker with nothing to start looks at the study again

log = logging.getLogger(__name__)

# What a worker process reports to its parent as is (the CLI shows each as one line); anything else is a bug.
USER_ERRORS = (StudyError, ConfigError, CheckpointError, DatasetUnavailable, TrainingCancelled)


@dataclasses.dataclass(frozen=True)
class TrialOutcome:
    """How one trial ended, for progress displays."""

    number: int
    state: str  # COMPLETE, PRUNED or FAIL
    config: RunConfig
    value: float | None = None  # best validation loss (COMPLETE), last reported one (PRUNED)
    run_id: str | None = None
    reused: bool = False  # the run existed already: nothing was trained
    message: str = ""  # why it was pruned or failed


@dataclasses.dataclass(frozen=True)
class StudyReport:
    """Where a study lives and its trials when `run_study` returned."""

    name: str
    storage: str  # with any password masked
    trials: pd.DataFrame = dataclasses.field(repr=False)


def run_study(
    spec: SweepSpec | TuneSpec,
    *,
    study_name: str | None = None,
    storage: str | None = None,
    root: Path | None = None,
    data_root: str | None = None,
    device: str = "auto",
    workers: int = 1,
    heartbeat: int = HEARTBEAT_SECONDS,
    sampler_seed: int | None = None,
    on_trial_start: Callable[[int, int, RunConfig], None] | None = None,
    on_trial_end: Callable[[TrialOutcome], None] | None = None,
    progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> StudyReport:
    """Create or resume the study and work on it until it is done; return its trials.

    Parameters
    ----------
    spec : the grid or the tuning space; a study of that name must have been made from the same one
    study_name : default `spec.default_name()`, so rerunning the same command resumes the same study
    storage : an Optuna RDB URL; default `sqlite:///<root>/studies.db`
    workers : local worker processes (1: work in this process). Other processes or machines running the
        same study at the same time share the work.
    heartbeat : seconds between a worker's heartbeats; a trial silent for 3x this long is retried
    sampler_seed : seeds the sampler (each worker process gets seed + its index), None for random
    on_trial_start : called with (i, n, config) as a trial starts: i of the study's n trials are started or
        done, this one included
    on_trial_end : called with each trial's outcome
    progress : the trainer's per-batch callback; with workers > 1 it is not called
    should_stop : polled between batches and trials; when it turns true the current trial is cancelled (and
        queued again for the next run) and TrainingCancelled is raised
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"workers must be a whole number >= 1; got {workers!r}")
    if isinstance(heartbeat, bool) or not isinstance(heartbeat, int) or heartbeat < 1:
        raise ConfigError(f"heartbeat must be a whole number of seconds >= 1; got {heartbeat!r}")
    root = Path(root) if root else default_checkpoint_root()
    name = study_name or spec.default_name()
    url = resolve_storage(storage, root)
    job = _Job(spec, name, url, root, data_root, device, heartbeat, sampler_seed)
    if workers == 1:
        _TrialWorker(job, on_trial_start, on_trial_end, progress, should_stop).run()
    else:
        open_study(spec, name, url, heartbeat, sampler_seed)  # one clear error here, not one per process
        _run_processes(job, workers, on_trial_start, on_trial_end, should_stop)
    return StudyReport(name, describe_storage(url), trials_frame(name, url))


@dataclasses.dataclass(frozen=True)
class _Job:
    """Everything a worker process needs to join a study (picklable)."""

    spec: SweepSpec | TuneSpec
    name: str
    url: str
    root: Path
    data_root: str | None
    device: str
    heartbeat: int
    sampler_seed: int | None


class _TrialWorker:
    """Takes trials from one study until it is done."""

    def __init__(self, job: _Job, on_trial_start=None, on_trial_end=None, progress=None, should_stop=None) -> None:
        self.job = job
        self.on_trial_start = on_trial_start
        self.on_trial_end = on_trial_end
        self.progress = progress
        self.should_stop = should_stop or (lambda: False)

    def run(self) -> None:
        job = self.job
        self.study, self.storage = open_study(job.spec, job.name, job.url, job.heartbeat, job.sampler_seed)
        self.study_id = self.storage.get_study_id_from_name(job.name)
        with storage_errors(job.url):
            while True:
                if self.should_stop():
                    raise TrainingCancelled("the study was cancelled between trials")
                self._fail_dead_trials()
                action, retry, started = job.spec.plan(self.study.get_trials(deepcopy=False))
                if action == "done":
                    return
                if action == "wait":
                    time.sleep(POLL_SECONDS)
                    continue
                for params in retry:
                    self.study.enqueue_trial(params)
                self._trial(min(started + 1, job.spec.size))

    def _fail_dead_trials(self) -> None:
        """Fail running trials whose worker is gone: a dead process on this machine, a worker silent past the
        grace period, or a trial that never got as far as naming its worker within that period."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(self.study)
        grace = datetime.timedelta(seconds=STALE_BEATS * self.job.heartbeat)
        for trial in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            worker = trial.user_attrs.get("worker")
            orphan = worker is None and datetime.datetime.now() - trial.datetime_start > grace
            if orphan or _is_dead_here(worker):
                trial_id = self.storage.get_trial_id_from_study_id_trial_number(self.study_id, trial.number)
                with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):
                    self.storage.set_trial_state_values(trial_id, TrialState.FAIL)
                    log.info("trial %d: its worker %s is gone; it will be retried", trial.number, worker)

    def _trial(self, position: int) -> None:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
            trial = self.study.ask()
        trial_id = self.storage.get_trial_id_from_study_id_trial_number(self.study_id, trial.number)
        config = None
        with _beating(self.storage, trial_id, self.job.heartbeat):
            try:
                trial.set_user_attr("worker", _identity())  # first: lets others tell whether this worker lives
                config = self.job.spec.config(trial)
                trial.set_user_attr("config", config.to_dict())
                twin = self._twin(trial) if self.job.spec.one_trial_per_config else None
                if twin is not None:
                    trial.set_user_attr("duplicate_of", twin)
                    raise optuna.TrialPruned(f"trial {twin} has the same config")
                if self.on_trial_start is not None:
                    self.on_trial_start(position, self.job.spec.size, config)
                info, reused = self._fit(trial, config)
                trial.set_user_attr("run_id", info.run_id)
                trial.set_user_attr("reused", reused)
                value = min(epoch.val_loss for epoch in info.history)
            except optuna.TrialPruned as pruned:
                self.study.tell(trial, state=TrialState.PRUNED, skip_if_finished=True)
                value = self.storage.get_trial(trial_id).value
                self._ended(TrialOutcome(trial.number, "PRUNED", config, value, message=str(pruned)))
            except TrainingDiverged as error:
                trial.set_user_attr("error", str(error))
                self.study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
                self._ended(TrialOutcome(trial.number, "FAIL", config, message=str(error)))
            except optuna.exceptions.UpdateFinishedTrialError:
                # Another worker failed this trial after missing heartbeats and queued it again; the run lock
                # makes the retry reuse whatever this worker saved.
                log.warning("trial %d was taken over by another worker; moving on", trial.number)
            except BaseException:
                self.study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)  # retried by the next plan
                raise
            else:
                self.study.tell(trial, value, skip_if_finished=True)
                self._ended(TrialOutcome(trial.number, "COMPLETE", config, value, info.run_id, reused))

    def _twin(self, trial: optuna.Trial) -> int | None:
        """A trial that has these exact parameters and a result, or runs them and started first: two workers
        (on machines that share no checkpoints folder) can draw the same grid point in the same instant."""
        for other in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING, TrialState.COMPLETE)):
            first = other.state == TrialState.COMPLETE or other.number < trial.number
            if first and other.number != trial.number and other.params == trial.params:
                return other.number
        return None

    def _ended(self, outcome: TrialOutcome) -> None:
        if self.on_trial_end is not None:
            self.on_trial_end(outcome)

    def _fit(self, trial: optuna.Trial, config: RunConfig) -> tuple[RunInfo, bool]:
        """Load or train the trial's run, reporting each epoch's validation loss and pruning on it."""
        reported = 0
        trained = False

        def report(history) -> None:
            nonlocal reported
            for epoch in history[reported:]:
                trial.report(epoch.val_loss, epoch.epoch)
            reported = len(history)

        def on_batch(p: Progress) -> None:
            nonlocal trained
            trained = True
            if len(p.history) > reported:
                report(p.history)
                if trial.should_prune():
                    last = p.history[-1]
                    raise optuna.TrialPruned(f"validation loss {last.val_loss:.5f} after epoch {last.epoch}")
            if self.progress is not None:
                self.progress(p)

        # load_or_train holds the run store's per-run lock: a second worker handed the same config waits, then
        # loads the run the first one saved instead of training it again.
        info, _ = load_or_train(config, root=self.job.root, data_root=self.job.data_root, device=self.job.device,
                                progress=on_batch, should_stop=self.should_stop)  # fmt: skip
        report(info.history)  # the last epoch (never pruned: its run is saved), or all of a reused run's
        return info, not trained


@contextlib.contextmanager
def _beating(storage: optuna.storages.RDBStorage, trial_id: int, interval: int) -> Iterator[None]:
    """Record the trial's heartbeat now and every `interval` seconds until the block ends."""
    stop = threading.Event()

    def beat() -> None:
        while True:
            try:
                storage.record_heartbeat(trial_id)
            except Exception as error:  # a missed beat is retried; the grace period spans several
                log.warning("heartbeat of trial %d failed: %s", trial_id, first_line(error))
            if stop.wait(interval):
                return

    thread = threading.Thread(target=beat, name=f"aecore-heartbeat-{trial_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


# --- which worker runs a trial, and whether it is still alive ------------------------------------


@functools.cache
def _machine() -> str:
    """This kernel and PID namespace: process ids are only comparable within it ('' where unknown)."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        return f"{boot}/{os.stat('/proc/self/ns/pid').st_ino}"
    except OSError:
        return ""


def _process_start(pid: int) -> str | None:
    """When process `pid` started (clock ticks since boot), None when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _identity() -> dict[str, Any]:
    return {
        "host": socket.gethostname(),
        "machine": _machine(),
        "pid": os.getpid(),
        "started": _process_start(os.getpid()),
    }


def _is_dead_here(worker: Any) -> bool:
    """True when `worker` ran on this machine and its process has exited (or its pid was reused)."""
    if not isinstance(worker, dict) or not worker.get("machine") or not worker.get("started"):
        return False
    if worker.get("machine") != _machine() or worker.get("host") != socket.gethostname():
        return False
    return _process_start(worker.get("pid", -1)) != worker["started"]


# --- several worker processes --------------------------------------------------------------------


def _run_processes(job: _Job, workers: int, on_trial_start, on_trial_end, should_stop) -> None:
    """Run `workers` worker processes on the study, relaying their trial events; re-raise the first error."""
    import multiprocessing
    import queue as queues

    context = multiprocessing.get_context("spawn")  # fork after torch or SQLAlchemy threads is unsafe
    events = context.Queue()
    stop = context.Event()
    processes = []
    for index in range(workers):
        seed = None if job.sampler_seed is None else job.sampler_seed + index
        worker_job = _Job(**{**job.__dict__, "sampler_seed": seed})
        process = context.Process(target=_process_main, args=(worker_job, events, stop), name=f"aecore-worker-{index}")
        process.start()
        processes.append(process)
    error: BaseException | None = None

    def relay(kind: str, *payload) -> None:
        nonlocal error
        if kind == "start" and on_trial_start is not None:
            on_trial_start(*payload)
        elif kind == "end" and on_trial_end is not None:
            on_trial_end(*payload)
        elif kind == "error" and error is None:
            error = payload[0]
            stop.set()  # the others stop too; their current trials are queued again

    try:
        while any(p.is_alive() for p in processes):
            if should_stop is not None and should_stop():
                stop.set()
            with contextlib.suppress(queues.Empty):
                relay(*events.get(timeout=0.2))
        with contextlib.suppress(queues.Empty):
            while True:
                relay(*events.get(timeout=0.1))
    except BaseException:
        stop.set()
        raise
    finally:
        for process in processes:
            process.join()
    if error is not None:
        raise error
    failed = [p.name for p in processes if p.exitcode != 0]
    if failed:
        raise StudyError(f"worker process(es) {', '.join(failed)} died; run the same command again to resume")


def _process_main(job: _Job, events, stop) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    worker = _TrialWorker(
        job,
        on_trial_start=lambda i, n, config: events.put(("start", i, n, config)),
        on_trial_end=lambda outcome: events.put(("end", outcome)),
        should_stop=stop.is_set,
    )
    try:
        worker.run()
    except KeyboardInterrupt:
        events.put(("error", TrainingCancelled("interrupted")))
    except USER_ERRORS as error:
        events.put(("error", error))
    except Exception as error:  # a bug: its traceback goes to this process's stderr, one line to the parent
        traceback.print_exc()
        events.put(("error", StudyError(f"a worker process failed: {type(error).__name__}: {error}")))

"""Training jobs a UI can start, watch and cancel: the server-side state of one job at a time.

The training itself runs in a worker process (aecore.worker) started with the multiprocessing
spawn context, never forked from a server full of threads. The worker stays alive between jobs,
so torch's import and the dataset load are paid once (on 2 cores a 3-epoch job took 5.8 s on a
new worker, 1.1 s on a warm one); it is started again when it died. If it dies during a job
(killed, out of memory, a crash in native code), the job fails with the reason and the server
carries on.

A job trains one or more configs in order through `load_or_train`, so an identical config that
already has a run comes back at once instead of training again. A study job (`start_study`) runs a sweep
or tune study through `aecore.studies.run_study` with one worker, in the same worker process: the panel
sees which trial of how many is training, and a cancel stops it like any job (the study keeps its
finished trials; starting the same study again resumes it). Requests and reports are the typed messages of
aecore.job_messages. The worker sends progress through a pipe, at most every `aecore.worker.MIN_INTERVAL`
seconds plus every epoch end; a listener thread folds each message into a new JobSnapshot. The UI polls
`snapshot()`, which returns that immutable object, replaced whole under a lock: it never sees a half-updated
state.
"""

from __future__ import annotations

import contextlib
import logging
import math
import multiprocessing
import os
import signal
import sys
import threading
import time
import types
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import TYPE_CHECKING

from aecore.config import ConfigError, RunConfig
from aecore.job_messages import (
    FAILED,
    FINISHED,
    IDLE,
    RUNNING,
    Ended,
    Leaving,
    Progressed,
    Ready,
    Saved,
    StudyRequest,
    TrainRequest,
    TrialEnded,
    TrialStarted,
)
from aecore.worker import serve

if TYPE_CHECKING:  # the server needs no torch for the jobs; records arrive from the worker ready-made
    from multiprocessing.process import BaseProcess
    from multiprocessing.synchronize import Event

    from aecore.studies import SweepSpec, TuneSpec
    from aecore.train import EpochRecord

# A worker holds ~1.3 GB (torch, a dataset, a model) between jobs; after this long without one it exits, and the
# next job pays a few seconds to spawn a new one. AECORE_WORKER_IDLE_SECONDS changes it; "none" keeps it forever.
DEFAULT_IDLE_SECONDS = 300.0


def idle_seconds_from_env(default: float | None = DEFAULT_IDLE_SECONDS) -> float | None:
    """AECORE_WORKER_IDLE_SECONDS as seconds (a positive number, or "none" for never); `default` when unset or
    not a positive number (logged: a typo in the environment must not stop the dashboard)."""
    text = os.environ.get("AECORE_WORKER_IDLE_SECONDS", "").strip()
    if not text:
        return default
    if text.lower() == "none":
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value < 1e9:
        logging.getLogger(__name__).warning(
            "AECORE_WORKER_IDLE_SECONDS must be a positive number of seconds or none, not %r; using %s", text, default
        )
        return default
    return value


def worker_threads() -> int:
    """Threads for the training worker: the cores this process may use, less one for the dashboard (at least 1).
    On the project's 2-core machine that is 1."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # no affinity API (macOS)
        cores = os.cpu_count() or 2
    return max(1, cores - 1)


# Serialises the __main__ swap of `_no_main_module` between runners spawning at the same time.
_SPAWN_LOCK = threading.Lock()

# What a signal that ended the worker most likely means, in a user's words.
SIGNAL_CAUSES: dict[str, str] = {
    "SIGKILL": "out of memory or killed from outside",
    "SIGSEGV": "a crash in native code",
    "SIGBUS": "a crash in native code",
    "SIGILL": "a crash in native code",
    "SIGFPE": "a crash in native code",
    "SIGABRT": "a native library aborted",
}


class JobBusy(RuntimeError):
    """A job is already running; the message says which one and what to do."""


@dataclass(frozen=True)
class JobSnapshot:
    """What a progress panel shows, copied at one instant."""

    job_id: int = 0  # 0 until the first job starts; grows by one per job
    state: str = IDLE
    configs: tuple[RunConfig, ...] = ()  # a study job's grow as its trials start (a retried point twice)
    current: int = 0  # index into `configs` of the run being trained
    epoch: int = 0  # 1-based, of the current run
    epochs: int = 0
    batch: int = 0  # 1-based within the epoch
    batches: int = 0
    batch_loss: float | None = None  # the last reported batch's training loss
    history: tuple[EpochRecord, ...] = ()  # finished epochs of the current run
    fraction: float = 0.0  # of the whole job, 0..1
    elapsed: float = 0.0  # seconds since the job started
    eta_seconds: float | None = None  # None until there is progress to extrapolate from
    run_ids: tuple[str, ...] = ()  # runs this job finished (trained and saved, or found already saved)
    reused: tuple[str, ...] = ()  # of `run_ids`, those an identical config had already produced
    message: str = ""  # why the job failed or was cancelled
    pid: int | None = None  # the worker process that runs (or ran) the job
    study: str = ""  # the study a study job runs ("" for a list of configs)
    study_kind: str = ""  # "sweep" or "tune"
    trial: int = 0  # a study job's current trial: `trial` of `trials` are started or done, this one included
    trials: int = 0  # a study job's size: its grid points or trials to finish
    trial_states: tuple[str, ...] = ()  # how each of its trials ended: COMPLETE, PRUNED or FAIL

    @property
    def active(self) -> bool:
        return self.state == RUNNING

    @property
    def total(self) -> int:
        """Runs (or a study's trials) the whole job will take."""
        return self.trials if self.study else len(self.configs)

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
        """The config being trained (or the last one, once the job is over); None before a study's first trial."""
        return self.configs[self.current] if self.configs else None


@dataclass
class _WorkerHandle:
    process: BaseProcess
    conn: Connection  # ours: jobs out, messages in
    cancel: Event  # shared with the worker, which checks it before every batch
    listener: threading.Thread | None = None  # applies the worker's messages, then reaps it: the only thread that does

    @property
    def exited(self) -> bool:
        """Whether the process has ended; unlike is_alive(), does not reap it under the listener's feet."""
        return bool(wait([self.process.sentinel], 0))


class TrainingJobs:
    """Runs at most one training job at a time, in a spawned worker process.

    Parameters
    ----------
    data_root : where the worker reads datasets from (None: aecore's default)
    device : passed to the trainer ("auto", "cpu", ...)
    threads : torch and BLAS threads in the worker (evaluation, the PCA baseline; the training loop itself
        uses aecore.train.CPU_TRAIN_THREADS); None for `worker_threads()`: every core this process may use
        but one, at least one, so that the dashboard keeps a core while a job runs (on 2 busy cores a conv
        batch took 85 ms with torch's default 2 threads and 11 ms with 1: thread oversubscription).
    idle_seconds : the worker exits after this long without a job, giving back its memory (~1.3 GB with
        torch, a dataset and a model loaded); the next job spawns a new one (a few seconds). None: never.

    Methods never raise because the worker died: its death fails the running job (with the reason)
    and the next `start` spawns a new worker. `close()` stops the worker; the interpreter also
    stops it at exit (it is a daemon process that treats SIGTERM as a cancel).
    """

    def __init__(
        self,
        data_root: str | None = None,
        device: str = "auto",
        threads: int | None = None,
        idle_seconds: float | None = DEFAULT_IDLE_SECONDS,
    ) -> None:
        self.data_root = data_root
        self.device = device
        self.threads = threads or worker_threads()
        self.idle_seconds = idle_seconds
        self.worker_threads: Ready | None = None  # what the last worker reported it runs with
        self._lock = threading.Lock()
        self._ended = threading.Condition(self._lock)  # notified when a job leaves RUNNING
        self._snapshot = JobSnapshot()
        self._started = 0.0  # time.monotonic() when the current job started
        self._worker: _WorkerHandle | None = None  # alive, or dead and not yet noticed by its listener
        self._job_worker: _WorkerHandle | None = None  # the worker the current (or last) job ran on

    def start(self, configs: Sequence[RunConfig], root: Path | None = None) -> int:
        """Start training `configs` in order into checkpoint `root`; return the job id.

        Raises JobBusy when a job is still running, ValueError when `configs` is empty.
        """
        configs = tuple(configs)
        if not configs:
            raise ValueError("nothing to train: give at least one config")
        if not all(isinstance(c, RunConfig) for c in configs):
            raise ConfigError("every item to train must be a RunConfig")
        root = _resolve_root(root)
        return self._begin(JobSnapshot(configs=configs, epochs=configs[0].epochs), TrainRequest(configs, root))

    def start_study(
        self,
        spec: SweepSpec | TuneSpec,
        root: Path | None = None,
        storage: str | None = None,
        study_name: str | None = None,
        workers: int = 1,
    ) -> int:
        """Start running a sweep or tune study with `workers` processes into checkpoint `root`; return the job id.

        The study lives in `storage` (default: `studies.db` beside `root`) under `study_name` (default: the
        spec's own name, so the same grid resumes the same study). Raises JobBusy when a job is still running.
        """
        from aecore.studies import SweepSpec, TuneSpec

        if not isinstance(spec, SweepSpec | TuneSpec):
            raise ConfigError("a study job needs a SweepSpec or a TuneSpec")
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ConfigError(f"workers must be a whole number >= 1; got {workers!r}")
        name = study_name or spec.default_name()
        request = StudyRequest(spec, name, _resolve_root(root), storage, workers)
        return self._begin(JobSnapshot(study=name, study_kind=spec.kind, trials=spec.size), request)

    def _begin(self, snapshot: JobSnapshot, request: TrainRequest | StudyRequest) -> int:
        """Make `snapshot` the running job and send `request` to the worker (spawned if needed)."""
        with self._lock:
            if self._snapshot.state == RUNNING:
                raise JobBusy(
                    f"a training job is already running ({_describe(self._snapshot)}); "
                    "wait for it to finish or cancel it, then start again"
                )
            if self._worker is None or self._worker.exited:
                self._worker = self._spawn()
            worker = self._worker
            worker.cancel.clear()
            self._job_worker = worker
            self._started = time.monotonic()
            self._snapshot = replace(snapshot, job_id=self._snapshot.job_id + 1, state=RUNNING,
                                     pid=worker.process.pid)  # fmt: skip
            with contextlib.suppress(OSError):  # the worker died just now: its listener fails the job, saying how
                worker.conn.send(request)
            return self._snapshot.job_id

    def cancel(self) -> bool:
        """Ask the running job to stop at the next batch; False when no job is running."""
        with self._lock:
            if self._snapshot.state != RUNNING:
                return False
            self._job_worker.cancel.set()
            return True

    def snapshot(self) -> JobSnapshot:
        with self._lock:
            if self._snapshot.state != RUNNING:
                return self._snapshot
            return replace(self._snapshot, elapsed=time.monotonic() - self._started)

    def wait(self, timeout: float | None = None) -> JobSnapshot:
        """Block until the current job ends (or `timeout` seconds pass); return the last snapshot."""
        with self._lock:
            self._ended.wait_for(lambda: self._snapshot.state != RUNNING, timeout)
        return self.snapshot()

    def close(self, timeout: float = 30.0) -> None:
        """Stop the worker process, cancelling a running job (which saves nothing), and wait for both.

        A later `start` spawns a new worker. After `timeout` seconds the worker is killed.
        """
        with self._lock:
            worker, self._worker = self._worker, None
        if worker is None:
            return
        worker.process.terminate()  # SIGTERM: the worker stops at the next batch, reports, exits
        if not wait([worker.process.sentinel], timeout):
            worker.process.kill()
        worker.listener.join()  # it has read the job's end (or failed the job) and reaped the worker

    # --- the worker process and its listener ---------------------------------------------------

    def _spawn(self) -> _WorkerHandle:
        context = multiprocessing.get_context("spawn")
        conn, worker_conn = context.Pipe()
        cancel = context.Event()
        process = context.Process(
            target=serve,
            args=(worker_conn, cancel, self.threads, self.data_root, self.device, self.idle_seconds),
            name="aecore-training",
            # A daemon is stopped (SIGTERM, then joined) when the server's interpreter exits.
            daemon=True,
        )
        with _no_main_module():
            process.start()
        worker_conn.close()  # only the worker holds its end, so each side sees EOF when the other goes
        worker = _WorkerHandle(process, conn, cancel)
        worker.listener = threading.Thread(
            target=self._listen, args=(worker,), name=f"aecore-jobs-listener-{process.pid}", daemon=True
        )
        worker.listener.start()
        return worker

    def _listen(self, worker: _WorkerHandle) -> None:
        """Apply the worker's messages until it exits; then fail the job it was running, if any."""
        try:
            # Messages first: a worker that reported and then exited has its report read.
            while worker.conn in wait([worker.conn, worker.process.sentinel]):
                message = worker.conn.recv()
                if isinstance(message, Leaving):
                    if self._let_go(worker):
                        worker.conn.close()  # the worker's signal to exit: it reads EOF
                        break
                    continue
                if isinstance(message, Ready):
                    self.worker_threads = message
                    continue
                self._apply(message)
        except (EOFError, OSError):
            pass  # the worker exited
        worker.process.join()
        with self._lock:
            if self._worker is worker:
                self._worker = None
            if self._snapshot.state == RUNNING and self._job_worker is worker:
                self._finish(FAILED, _lost(self._snapshot, worker.process.exitcode))
        worker.conn.close()

    def _let_go(self, worker: _WorkerHandle) -> bool:
        """Whether an idle worker may exit: yes unless a job was sent to it since (then it runs that job).
        Under the lock, so a `start` either sees the worker gone and spawns another, or sends it the job first."""
        with self._lock:
            if self._snapshot.state == RUNNING and self._job_worker is worker:
                return False
            if self._worker is worker:
                self._worker = None
            return True

    def _apply(self, message: Progressed | Saved | TrialStarted | TrialEnded | Ended) -> None:
        with self._lock:
            snapshot = self._snapshot
            count = snapshot.total
            if isinstance(message, Progressed):
                before = snapshot.trial - 1 if snapshot.study else message.index  # runs or trials already done
                fraction = (before + message.run_fraction) / count
                elapsed = time.monotonic() - self._started
                self._snapshot = replace(
                    snapshot,
                    current=message.index,
                    epoch=message.epoch,
                    epochs=message.epochs,
                    batch=message.batch,
                    batches=message.batches,
                    batch_loss=message.loss,
                    history=snapshot.history + message.new_epochs,
                    fraction=fraction,
                    eta_seconds=elapsed * (1 - fraction) / fraction if fraction > 0 else None,
                )
            elif isinstance(message, Saved):
                changes = {
                    "run_ids": snapshot.run_ids + (message.run_id,),
                    "reused": snapshot.reused + ((message.run_id,) if message.reused else ()),
                    "history": message.history,
                    "fraction": (message.index + 1) / count,
                }
                following = message.index + 1
                if following < count:  # the next run starts by loading its data: no batches or epochs yet
                    epochs = snapshot.configs[following].epochs
                    changes |= {"current": following, "epoch": 0, "epochs": epochs, "batch": 0, "batches": 0}
                    changes["history"] = ()
                self._snapshot = replace(snapshot, **changes)
            elif isinstance(message, TrialStarted):
                self._snapshot = replace(
                    snapshot, configs=snapshot.configs + (message.config,), current=len(snapshot.configs),
                    trial=message.position + 1, trials=message.count, epoch=0, epochs=message.config.epochs,
                    batch=0, batches=0, batch_loss=None, history=(), fraction=message.position / message.count,
                )  # fmt: skip
            elif isinstance(message, TrialEnded):
                ran = message.run_id is not None and message.state == "COMPLETE"
                self._snapshot = replace(
                    snapshot,
                    run_ids=snapshot.run_ids + ((message.run_id,) if ran else ()),
                    reused=snapshot.reused + ((message.run_id,) if ran and message.reused else ()),
                    trial_states=snapshot.trial_states + (message.state,),
                    fraction=max(snapshot.fraction, (message.position + 1) / count),
                )
            else:
                self._finish(message.state, message.reason)

    def _finish(self, state: str, reason: str) -> None:
        """End the current job (the lock is held); runs it finished first stay saved and are named."""
        kept = f"kept {', '.join(self._snapshot.run_ids)}; " if self._snapshot.run_ids and reason else ""
        self._snapshot = replace(
            self._snapshot,
            state=state,
            message=f"{kept}{reason}",
            elapsed=time.monotonic() - self._started,
            eta_seconds=0.0 if state == FINISHED else None,
        )
        self._ended.notify_all()


@contextlib.contextmanager
def _no_main_module() -> Iterator[None]:
    """Hide the server's __main__ from spawn, which would otherwise run it again in the worker.

    Spawn runs the parent's main script in the child (as __mp_main__) so that objects defined there
    can be unpickled. The worker needs none, and under Streamlit __main__ is the page script: the
    worker would draw the whole dashboard in bare mode, reading every run, before its first batch.
    Streamlit itself replaces sys.modules["__main__"] on every script run, so the original is put
    back only if no script run replaced the placeholder meanwhile.
    """
    with _SPAWN_LOCK:
        original, placeholder = sys.modules["__main__"], types.ModuleType("__main__")
        sys.modules["__main__"] = placeholder
        try:
            yield
        finally:
            if sys.modules["__main__"] is placeholder:
                sys.modules["__main__"] = original


def _resolve_root(root: Path | None) -> Path:
    """The checkpoint root, resolved in the server: the worker's environment is the one it was spawned with."""
    from aecore.runstore import default_checkpoint_root

    return Path(root) if root else default_checkpoint_root()


def _describe(snapshot: JobSnapshot) -> str:
    if snapshot.study:
        trial = f"trial {snapshot.trial} of {snapshot.trials}" if snapshot.trial else "starting"
        return f"job {snapshot.job_id}: {snapshot.study_kind} study {snapshot.study}, {trial}"
    names = ", ".join(c.run_id for c in snapshot.configs)
    return f"job {snapshot.job_id}: {names}"


def _lost(snapshot: JobSnapshot, exitcode: int | None) -> str:
    """Why a job failed when its worker ended without reporting: how the process ended, what was lost."""
    if exitcode is not None and exitcode < 0:
        number = -exitcode
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = "an unknown signal"
        cause = SIGNAL_CAUSES.get(name)
        how = "was killed" if number in (signal.SIGKILL, signal.SIGTERM, signal.SIGINT) else "crashed"
        reason = f"the training process {how} (signal {number}, {name}{f': {cause}' if cause else ''})"
    else:
        reason = f"the training process exited unexpectedly (exit code {exitcode})"
    if snapshot.study:
        return f"{reason}; the study keeps its finished trials: start the same {snapshot.study_kind} again to resume it"
    done = len(snapshot.run_ids)
    if done < len(snapshot.configs):
        reason += f"; nothing was saved for {snapshot.configs[done].run_id}"
    return reason

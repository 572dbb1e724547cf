"""The training worker: the spawned process that runs aecore.jobs' jobs one at a time and reports back.

`serve` is the process's main function. It waits for a `TrainRequest` on its pipe, trains each
config through `load_or_train` and answers with `Progressed`, `Saved` and `Ended` messages
(aecore.job_messages); or for a `StudyRequest`, which it runs through `run_study` with one worker, answering
with `TrialStarted`, `Progressed`, `TrialEnded` and `Ended`. It stops a job at the next batch when the
server sets the shared cancel event, when it receives SIGTERM (the server's interpreter sends that to a
daemon at exit) or when the server process is gone; a save that has begun always completes, so nothing is
left half-written.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import TYPE_CHECKING

from aecore.config import ConfigError, RunConfig
from aecore.job_messages import (
    CANCELLED,
    FAILED,
    FINISHED,
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

if TYPE_CHECKING:
    from multiprocessing.synchronize import Event

    from aecore.train import Progress

# Seconds between two batch readings sent to the server: 20 a second is ten times what a panel
# redrawn twice a second can show, and costs the training loop nothing. Epoch ends and the last
# batch of an epoch are sent whatever the interval.
MIN_INTERVAL = 0.05

SERVER_GONE = "the server process ended"

log = logging.getLogger(__name__)


class _Stop:
    """Whether the job must stop at the next batch, and why when the server did not ask for it.

    `reason` is a plain attribute because the SIGTERM handler sets it: a handler that took the
    cancel event's lock could deadlock with a `should_stop` call it interrupted.
    """

    def __init__(self, cancel: Event) -> None:
        self.cancel = cancel
        self.server = os.getppid()
        self.reason: str | None = None

    def on_sigterm(self, signum: int, frame: object) -> None:
        self.reason = "the training process was asked to stop (SIGTERM)"

    def __call__(self) -> bool:
        if self.reason is None and os.getppid() != self.server:  # orphaned: the server died without a word
            self.reason = SERVER_GONE
        return self.reason is not None or self.cancel.is_set()


class _Link:
    """Sends messages to the server; once the server is gone, stops the job instead of raising."""

    def __init__(self, conn: Connection, stop: _Stop) -> None:
        self.conn = conn
        self.stop = stop

    def send(self, message: Progressed | Saved | TrialStarted | TrialEnded | Ended) -> None:
        if self.stop.reason == SERVER_GONE:
            return
        try:
            self.conn.send(message)
        except OSError:
            self.stop.reason = SERVER_GONE


class _Reporter:
    """The trainer's progress callback for run `index`: sends what changed, at most every MIN_INTERVAL."""

    def __init__(self, link: _Link, index: int) -> None:
        self.link = link
        self.index = index
        self.epochs_sent = 0  # the server has the history up to here; only the rest travels
        self.sent_at = -MIN_INTERVAL
        self.trained = False  # the trainer calls back only when it really trains

    def __call__(self, progress: Progress) -> None:
        self.trained = True
        now = time.monotonic()
        epoch_ended = len(progress.history) > self.epochs_sent
        if not epoch_ended and progress.batch < progress.batches and now - self.sent_at < MIN_INTERVAL:
            return
        self.link.send(
            Progressed(
                index=self.index,
                epoch=progress.epoch,
                epochs=progress.epochs,
                batch=progress.batch,
                batches=progress.batches,
                loss=progress.loss,
                run_fraction=progress.fraction,
                new_epochs=progress.history[self.epochs_sent :],
            )
        )
        self.epochs_sent, self.sent_at = len(progress.history), now


def serve(
    conn: Connection, cancel: Event, threads: int, data_root: str | None, device: str, idle_seconds: float | None = None
) -> None:
    """Run the jobs that arrive on `conn` until SIGTERM, or until the server closes the pipe or dies.

    After `idle_seconds` without a job (None: never) the worker says it is `Leaving`; the server then closes
    the pipe, and the worker exits, unless it sent a job meanwhile, which is run as usual."""
    stop = _Stop(cancel)
    # Ctrl+C in a terminal reaches the whole process group; the server decides, and stops us with SIGTERM.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, stop.on_sigterm)
    # A signal writes a byte here, which wakes the idle wait below (a handler alone would not:
    # the wait is retried after it runs).
    wake, wake_writer = os.pipe()
    os.set_blocking(wake_writer, False)
    signal.set_wakeup_fd(wake_writer)
    link = _Link(conn, stop)
    link.send(_cap_threads(threads))
    leaving = False
    while stop.reason is None:
        ready = wait([conn, wake], None if leaving or idle_seconds is None else idle_seconds)
        if not ready:  # idle for idle_seconds: ask to go, then wait for the server's answer (EOF or a job)
            link.send(Leaving())
            leaving = True
            continue
        if conn not in ready:
            break  # SIGTERM while idle
        try:
            request = conn.recv()
        except (EOFError, OSError):
            break  # the server closed its end, or exited
        leaving = False
        if isinstance(request, StudyRequest):
            link.send(_run_study(request, link, stop, data_root, device))
        elif isinstance(request, TrainRequest):
            link.send(_run(request, link, stop, data_root, device))
        else:  # a bug in the server: say so rather than hang the job
            link.send(Ended(FAILED, f"unexpected error: the worker got a {type(request).__name__}, not a request"))


def _cap_threads(threads: int) -> Ready:
    """Cap torch's intra-op threads and BLAS's (the PCA baseline's fit) at `threads`, for the process's life."""
    import torch
    from threadpoolctl import threadpool_info, threadpool_limits

    torch.set_num_threads(threads)
    threadpool_limits(threads, user_api="blas")
    blas = [pool["num_threads"] for pool in threadpool_info() if pool.get("user_api") == "blas"]
    return Ready(torch.get_num_threads(), max(blas, default=threads))


def _run(request: TrainRequest, link: _Link, stop: _Stop, data_root: str | None, device: str) -> Ended:
    """Train the request's configs in order into its root, sending progress and each saved run; return how it
    ended."""
    from aecore.data import DatasetUnavailable
    from aecore.pipeline import load_or_train
    from aecore.runstore import CheckpointError, ensure_writable
    from aecore.train import TrainingCancelled, TrainingDiverged

    configs, root = request.configs, request.root
    saved = 0
    try:
        ensure_writable(root)
        for index, config in enumerate(configs):
            if stop():  # a cancel that came while the previous run was evaluated or saved
                raise TrainingCancelled("cancelled before it started")
            report = _Reporter(link, index)
            info, _ = load_or_train(
                config,
                root=root,
                data_root=data_root,
                device=device,
                progress=report,
                should_stop=stop,
                precompute=True,  # what the pages show of this run alone, stored before the run is announced
            )
            link.send(Saved(index, info.run_id, reused=not report.trained, history=info.history))
            saved += 1
    except TrainingCancelled as error:
        why = f" ({stop.reason})" if stop.reason else ""
        return Ended(CANCELLED, f"{configs[saved].run_id} was {error}{why}; nothing saved")
    except (TrainingDiverged, CheckpointError, DatasetUnavailable, ConfigError) as error:
        return Ended(FAILED, str(error))
    except Exception as error:  # a bug, not a user error: keep the traceback in the server's log
        log.exception("training job crashed")
        return Ended(FAILED, f"unexpected error: {type(error).__name__}: {error}")
    return Ended(FINISHED)


def _run_study(request: StudyRequest, link: _Link, stop: _Stop, data_root: str | None, device: str) -> Ended:
    """Run the study with one worker (this process), sending each trial's start, progress and end."""
    import optuna

    from aecore.runstore import ensure_writable
    from aecore.studies import USER_ERRORS, run_study
    from aecore.train import TrainingCancelled

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # the panel shows the trials; the server log stays quiet
    started = 0  # trials started so far: the next one's index in the panel's list of configs
    current: tuple[int, int, RunConfig] | None = None  # position, count and config of the trial in progress
    reporter = _Reporter(link, 0)

    def on_trial_start(position: int, count: int, config: RunConfig) -> None:
        nonlocal started, current, reporter
        reporter = _Reporter(link, started)
        started += 1
        current = (position, count, config)
        link.send(TrialStarted(position - 1, count, config))

    def on_trial_end(outcome) -> None:
        position = current[0] - 1 if current else 0
        link.send(TrialEnded(position, outcome.state, outcome.run_id, outcome.reused))

    helpers: list = []
    try:
        ensure_writable(request.root)
        helpers = _start_helpers(request, data_root, device)
        run_study(request.spec, study_name=request.name, storage=request.storage, root=request.root,
                  data_root=data_root, device=device, workers=1, on_trial_start=on_trial_start,
                  on_trial_end=on_trial_end, progress=lambda p: reporter(p), should_stop=stop)  # fmt: skip
        _finish_helpers(helpers, stop)
    except TrainingCancelled as error:
        _stop_helpers(helpers)
        why = f" ({stop.reason})" if stop.reason else ""
        where = f"trial {current[0]} of {current[1]} ({current[2].run_id}) was {error}" if current else str(error)
        kind = request.spec.kind
        return Ended(CANCELLED, f"{where}{why}; the study keeps its finished trials: start the same {kind} again "
                                "to resume it")  # fmt: skip
    except USER_ERRORS as error:
        _stop_helpers(helpers)
        return Ended(FAILED, str(error))
    except Exception as error:  # a bug, not a user error: keep the traceback in the server's log
        _stop_helpers(helpers)
        log.exception("study job crashed")
        return Ended(FAILED, f"unexpected error: {type(error).__name__}: {error}")
    return Ended(FINISHED)


# A helper works on the same study in a process of its own. The job's worker is a daemon process, and a daemon
# may not start multiprocessing children, so helpers are plain subprocesses that read their job from stdin.
HELPER_CODE = (
    "import json, sys\n"
    "from pathlib import Path\n"
    "from aecore.studies import SweepSpec, TuneSpec, run_study\n"
    "job = json.load(sys.stdin)\n"
    "kind = {spec.kind: spec for spec in (SweepSpec, TuneSpec)}[job.pop('kind')]\n"
    "spec = kind(**{k: tuple(v) if isinstance(v, list) else v for k, v in job.pop('spec').items()})\n"
    "run_study(spec, **{**job, 'root': Path(job['root'])})\n"
)  # JSON, not pickle: nothing the project reads is unpickled (tests/test_hardening.py)


def _start_helpers(request: StudyRequest, data_root: str | None, device: str) -> list:
    """Start `request.workers − 1` helper processes on the study (none for one worker)."""
    import dataclasses
    import json
    import subprocess
    import sys

    repo = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [repo, os.environ.get("PYTHONPATH")]))}
    job = json.dumps({
        "kind": request.spec.kind, "spec": dataclasses.asdict(request.spec), "study_name": request.name,
        "storage": request.storage, "root": str(request.root), "data_root": data_root, "device": device,
    }).encode()  # fmt: skip
    helpers = []
    for _ in range(request.workers - 1):
        helper = subprocess.Popen(
            [sys.executable, "-c", HELPER_CODE], stdin=subprocess.PIPE, env=env, stdout=subprocess.DEVNULL
        )  # fmt: skip  (errors go to the server log)
        helper.stdin.write(job)
        helper.stdin.close()
        helpers.append(helper)
    return helpers


def _finish_helpers(helpers: list, stop: _Stop) -> None:
    """Wait for the helpers' last trials once this worker's study is done; stop them if the job is cancelled."""
    while any(helper.poll() is None for helper in helpers):
        if stop():
            _stop_helpers(helpers)
            return
        time.sleep(0.5)


def _stop_helpers(helpers: list) -> None:
    """End the helpers (SIGTERM): a trial they leave running is retried by the study's heartbeat check."""
    for helper in helpers:
        if helper.poll() is None:
            helper.terminate()
    for helper in helpers:
        helper.wait()

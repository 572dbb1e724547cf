"""The training worker caps its torch and BLAS threads (a core left for the dashboard) and exits after its idle
time instead of holding its memory between jobs; a job sent as it decides to leave still runs. And the device a
job trains on when asked for `auto`."""

from __future__ import annotations

from multiprocessing.connection import wait

import pytest

from aecore.config import RunConfig
from aecore.job_messages import FINISHED
from aecore.jobs import TrainingJobs, idle_seconds_from_env, worker_threads

JOB_TIMEOUT = 300  # seconds: the CPU is shared with other work
GONE_TIMEOUT = 120  # seconds for an idle worker to be gone once its idle time is up


def tiny(seed: int) -> RunConfig:
    return RunConfig.for_recipe("mlp", bottleneck=3, epochs=1, batch_size=64, train_limit=200, seed=seed)


def test_worker_threads_leave_a_core_for_the_dashboard(monkeypatch):
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1})
    assert worker_threads() == 1
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(16)))
    assert worker_threads() == 15
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0})
    assert worker_threads() == 1


@pytest.mark.parametrize("text, expected", [("", 300.0), ("2.5", 2.5), ("none", None), ("-1", 300.0), ("x", 300.0)])
def test_idle_time_from_the_environment(monkeypatch, text, expected):
    monkeypatch.setenv("AECORE_WORKER_IDLE_SECONDS", text)
    assert idle_seconds_from_env() == expected


def test_the_worker_runs_with_the_threads_it_was_given(checkpoint_root):
    jobs = TrainingJobs(device="cpu", threads=3, idle_seconds=None)
    try:
        jobs.start([tiny(31)], root=checkpoint_root)
        assert jobs.wait(JOB_TIMEOUT).state == FINISHED, jobs.snapshot().message
        reported = jobs.worker_threads
        assert reported is not None, "the worker never said which threads it uses"
        assert reported.torch_threads == 3 and reported.blas_threads == 3, reported
    finally:
        jobs.close()


def test_an_idle_worker_exits_and_the_next_job_spawns_another(checkpoint_root):
    jobs = TrainingJobs(device="cpu", idle_seconds=1.0)
    try:
        jobs.start([tiny(32)], root=checkpoint_root)
        assert jobs.wait(JOB_TIMEOUT).state == FINISHED, jobs.snapshot().message
        first = jobs._worker
        assert first is not None
        assert wait([first.process.sentinel], GONE_TIMEOUT), "the idle worker did not exit"
        first.listener.join(GONE_TIMEOUT)
        assert first.process.exitcode == 0, f"the idle worker ended with {first.process.exitcode}"
        jobs.start([tiny(33)], root=checkpoint_root)
        assert jobs.wait(JOB_TIMEOUT).state == FINISHED, jobs.snapshot().message
        assert jobs.snapshot().pid != first.process.pid
    finally:
        jobs.close()


def test_a_job_sent_while_the_worker_asks_to_leave_still_runs(checkpoint_root):
    """The worker's `Leaving` and a new job cross: the job started first, so the worker stays and runs it."""
    jobs = TrainingJobs(device="cpu", idle_seconds=None)
    try:
        jobs.start([tiny(34)], root=checkpoint_root)
        assert jobs.wait(JOB_TIMEOUT).state == FINISHED
        worker = jobs._worker
        jobs.start([tiny(35)], root=checkpoint_root)
        assert not jobs._let_go(worker), "a worker with a job in flight was let go"
        assert jobs.wait(JOB_TIMEOUT).state == FINISHED, jobs.snapshot().message
        assert jobs._worker is worker and jobs.snapshot().pid == worker.process.pid
    finally:
        jobs.close()


@pytest.mark.parametrize("cuda, mps, expected", [(True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")])
def test_device_auto_prefers_cuda_then_mps(monkeypatch, cuda, mps, expected):
    """What `--device auto` picks when an accelerator is present (CI has none, so the probes are replaced)."""
    import torch

    from aecore import devices

    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(devices, "_mps_available", lambda: mps)
    assert devices.resolve_device("auto").type == expected

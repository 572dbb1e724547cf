"""Background training jobs: they train and save, run one at a time, cancel cleanly, and never harm saved runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from aecore.checkpoints import find_run, list_runs
from aecore.config import RunConfig
from aecore.jobs import CANCELLED, FAILED, FINISHED, JobBusy, TrainingJobs
from tests.browser_support import copy_checkpoints

JOB_TIMEOUT = 300  # seconds; a tiny run takes a few, but the CPU is shared with the rest of the suite


def tiny(model: str = "mlp", **overrides) -> RunConfig:
    values = {"bottleneck": 3, "epochs": 1, "batch_size": 64, "train_limit": 200, "seed": 11, **overrides}
    return RunConfig.for_recipe(model, **values)


def long(model: str = "mlp") -> RunConfig:
    """A run far too long to finish during a test: tests that start it also cancel it."""
    return tiny(model, epochs=1000, batch_size=8, train_limit=4000, seed=12)


def folder_bytes(root: Path) -> dict[str, bytes]:
    """Every file under `root` with its content, to prove a failed job changed nothing."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def wait_for(condition, timeout: float = JOB_TIMEOUT, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _writable(folder: Path) -> bool:
    probe = folder / ".write-probe"
    try:
        probe.touch()
    except OSError:
        return False
    probe.unlink()
    return True


@contextmanager
def read_only(folder: Path):
    """Make `folder` read-only for this process: chmod, or `chattr +i` when running as root."""
    os.chmod(folder, 0o555)
    immutable = False
    if _writable(folder) and shutil.which("chattr"):  # root ignores permission bits
        immutable = subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0
    try:
        if _writable(folder):
            pytest.skip("cannot make a read-only folder here (root without chattr support)")
        yield folder
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        os.chmod(folder, 0o755)


@pytest.fixture
def shipped_root(tmp_path) -> Path:
    return copy_checkpoints(tmp_path / "checkpoints")


def test_a_job_trains_saves_and_reports_progress(checkpoint_root):
    jobs = TrainingJobs(device="cpu")
    config = tiny()
    seen = []
    job_id = jobs.start([config], root=checkpoint_root)
    while (snapshot := jobs.snapshot()).active:
        seen.append(snapshot)
        time.sleep(0.01)
    done = jobs.wait(JOB_TIMEOUT)

    assert job_id == 1 and done.job_id == 1
    assert done.state == FINISHED, done.message
    assert done.run_ids == (config.run_id,) and done.reused == ()
    assert done.fraction == 1.0 and done.eta_seconds == 0.0
    assert len(done.history) == 1 and done.train_loss > 0 and done.val_loss > 0
    saved = find_run(config.run_id, checkpoint_root)
    assert saved.config == config and len(saved.history) == 1
    assert any(s.batches == 4 and s.batch >= 1 for s in seen), "no batch progress was ever visible"


def test_an_identical_config_is_reused_instantly(checkpoint_root):
    jobs = TrainingJobs(device="cpu")
    config = tiny(seed=13)
    first = (jobs.start([config], root=checkpoint_root), jobs.wait(JOB_TIMEOUT))[1]
    weights = folder_bytes(checkpoint_root)
    second = (jobs.start([config], root=checkpoint_root), jobs.wait(JOB_TIMEOUT))[1]

    assert first.state == second.state == FINISHED
    assert first.reused == () and second.reused == (config.run_id,)
    assert second.job_id == first.job_id + 1
    assert folder_bytes(checkpoint_root) == weights, "a reused run must not be rewritten"


def test_only_one_job_runs_and_cancel_keeps_the_previous_runs(shipped_root):
    jobs = TrainingJobs(device="cpu")
    before = folder_bytes(shipped_root)
    jobs.start([long()], root=shipped_root)
    with pytest.raises(JobBusy, match="already running"):
        jobs.start([tiny()], root=shipped_root)
    wait_for(lambda: jobs.snapshot().batch > 0, what="the first batch")
    assert jobs.cancel() is True
    done = jobs.wait(JOB_TIMEOUT)

    assert done.state == CANCELLED
    assert "cancelled" in done.message and "nothing saved" in done.message
    assert done.job_id == 1, "the refused start must not have created a job"
    assert folder_bytes(shipped_root) == before
    assert not (shipped_root / long().run_id).exists()
    assert jobs.cancel() is False, "nothing is running any more"


def test_a_diverging_job_fails_with_the_reason_and_keeps_the_runs(shipped_root, monkeypatch):
    import aecore.train

    monkeypatch.setattr(aecore.train, "reconstruction_loss", lambda x, y: (y * float("nan")).mean())
    jobs = TrainingJobs(device="cpu")
    before = folder_bytes(shipped_root)
    jobs.start([tiny()], root=shipped_root)
    done = jobs.wait(JOB_TIMEOUT)

    assert done.state == FAILED
    assert "loss became nan" in done.message
    assert folder_bytes(shipped_root) == before
    assert list_runs(shipped_root)[1] == [], "every earlier run still loads"


def test_a_failure_in_the_second_run_keeps_the_first(checkpoint_root, monkeypatch):
    import aecore.train

    real_loss = aecore.train.reconstruction_loss

    def loss(x, y):  # NaN while the job trains its second config (conv); the MLP trains normally
        value = real_loss(x, y)
        return value * float("nan") if jobs.snapshot().current == 1 else value

    monkeypatch.setattr(aecore.train, "reconstruction_loss", loss)
    jobs = TrainingJobs(device="cpu")
    mlp, conv = tiny("mlp", seed=14), tiny("conv", seed=14)
    jobs.start([mlp, conv], root=checkpoint_root)
    done = jobs.wait(JOB_TIMEOUT)

    assert done.state == FAILED
    assert done.run_ids == (mlp.run_id,)
    assert f"kept {mlp.run_id}" in done.message and "nan" in done.message
    assert find_run(mlp.run_id, checkpoint_root).config == mlp
    assert not (checkpoint_root / conv.run_id).exists()


def test_a_read_only_checkpoint_folder_fails_before_training(shipped_root):
    jobs = TrainingJobs(device="cpu")
    with read_only(shipped_root):
        before = folder_bytes(shipped_root)
        jobs.start([tiny()], root=shipped_root)
        done = jobs.wait(JOB_TIMEOUT)
        runs, broken = list_runs(shipped_root)

    assert done.state == FAILED
    assert "not writable" in done.message and "nothing was trained" in done.message
    assert done.epoch == 0, "training must not start when its run could not be saved"
    assert folder_bytes(shipped_root) == before
    assert {r.run_id for r in runs} == {p.name for p in shipped_root.iterdir()} and broken == []


def test_start_refuses_an_empty_job():
    with pytest.raises(ValueError, match="at least one config"):
        TrainingJobs().start([])


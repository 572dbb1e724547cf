"""Background training jobs: they train in a worker process, report progress, run one at a time, cancel
cleanly, survive the worker's death and the server's SIGTERM, and never harm saved runs."""

from __future__ import annotations

import copy
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import FrozenInstanceError
from pathlib import Path

import pytest

from aecore.config import RunConfig
from aecore.job_messages import CANCELLED, FAILED, FINISHED, RUNNING
from aecore.jobs import JobBusy, JobSnapshot, TrainingJobs, _lost
from aecore.runstore import LOCK_FOLDER, find_run, list_runs
from aecore.studies import SHIPPED_STORAGE_FILE
from aecore.worker import MIN_INTERVAL
from tests.browser_support import REPO, copy_checkpoints

JOB_TIMEOUT = 300  # seconds; a tiny run takes a few, but the CPU is shared with the rest of the suite
STOP_TIMEOUT = 60  # seconds for a worker to stop once told to (a batch takes milliseconds)


def tiny(model: str = "mlp", **overrides) -> RunConfig:
    values = {"bottleneck": 3, "epochs": 1, "batch_size": 64, "train_limit": 200, "seed": 11, **overrides}
    return RunConfig.for_recipe(model, **values)


def long(model: str = "mlp") -> RunConfig:
    """A run far too long to finish during a test: tests that start it also stop it."""
    return tiny(model, epochs=1000, batch_size=8, train_limit=4000, seed=12)


def diverging(config: RunConfig) -> RunConfig:
    """`config` with a learning rate of 1e30, at which the loss really becomes NaN by the second batch.

    RunConfig refuses rates above 1 from users, and no rate up to 1 diverges on these models, so the
    field is set past the check: the worker trains whatever config it is given.
    """
    unchecked = copy.copy(config)
    object.__setattr__(unchecked, "learning_rate", 1e30)
    return unchecked


def visible(root: Path) -> list[str]:
    """What a run leaves in the checkpoints folder: every entry but the run store's lock folder and the shipped
    studies file."""
    return sorted(p.name for p in root.iterdir() if p.name not in (LOCK_FOLDER, SHIPPED_STORAGE_FILE))


def folder_bytes(root: Path) -> dict[str, bytes]:
    """Every file under `root` with its content, to prove a failed job changed nothing (the run store's lock
    files, which only serialise saves, are not content)."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and LOCK_FOLDER not in p.relative_to(root).parts
    }


def wait_for(condition, timeout: float = JOB_TIMEOUT, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def first_batch(jobs: TrainingJobs) -> JobSnapshot:
    """The first snapshot that shows a trained batch (the worker may still be starting)."""
    return wait_for(lambda: (s := jobs.snapshot()).batch > 0 and s, what="the first batch")


def running(pid: int) -> bool:
    """Whether process `pid` still runs; a zombie (exited, not yet reaped by whoever adopted it) does not."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


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


@pytest.fixture(scope="module")
def module_jobs():
    """One job runner for the module, as the server has one: its worker starts once and serves every job."""
    jobs = TrainingJobs(device="cpu")
    yield jobs
    jobs.close()
    assert not jobs.snapshot().active


@pytest.fixture
def jobs(module_jobs):
    yield module_jobs
    if module_jobs.cancel():  # a failed test must not leave the next one a busy runner
        module_jobs.wait(JOB_TIMEOUT)


@pytest.fixture
def shipped_root(tmp_path) -> Path:
    return copy_checkpoints(tmp_path / "checkpoints")


def test_a_job_trains_saves_and_reports_progress(jobs, checkpoint_root):
    config = tiny(epochs=3, batch_size=8, train_limit=2000)  # 250 batches an epoch: long enough to watch
    before = jobs.snapshot().job_id
    job_id = jobs.start([config], root=checkpoint_root)
    readings: dict[tuple[int, int], tuple[int, float]] = {}  # (epoch, batch) -> (epochs in history, seen at)
    deadline = time.monotonic() + JOB_TIMEOUT
    while (snapshot := jobs.snapshot()).active and time.monotonic() < deadline:
        if snapshot.batch:
            readings.setdefault((snapshot.epoch, snapshot.batch), (len(snapshot.history), time.monotonic()))
        time.sleep(0.005)
    done = jobs.wait(JOB_TIMEOUT)

    assert job_id == before + 1 == done.job_id
    assert done.state == FINISHED, done.message
    assert done.run_ids == (config.run_id,) and done.reused == ()
    assert done.fraction == 1.0 and done.eta_seconds == 0.0
    assert len(done.history) == 3 and done.train_loss > 0 and done.val_loss > 0
    saved = find_run(config.run_id, checkpoint_root)
    assert saved.config == config and saved.history == done.history, "the panel shows what was saved"

    assert len(readings) >= 3, f"only {len(readings)} progress readings arrived while training"
    assert any(0 < batch < 250 for _, batch in readings), "no reading from the middle of an epoch"
    assert any(epochs for epochs, _ in readings.values()), "no finished epoch was shown while training"
    for (epoch, batch), (epochs, _) in readings.items():
        assert epochs == epoch - 1, f"epoch {epoch} batch {batch} was shown with {epochs} finished epochs"
    times = [seen for _, seen in readings.values()]
    window = max(times) - min(times)
    allowed = window / MIN_INTERVAL + 2 * config.epochs + 2  # plus each epoch's last batch and first reading
    assert len(readings) <= allowed, f"{len(readings)} readings in {window:.2f} s: progress is not throttled"


def test_an_identical_config_is_reused_instantly_by_the_same_worker(jobs, checkpoint_root):
    config = tiny(seed=13)
    first = (jobs.start([config], root=checkpoint_root), jobs.wait(JOB_TIMEOUT))[1]
    weights = folder_bytes(checkpoint_root)
    second = (jobs.start([config], root=checkpoint_root), jobs.wait(JOB_TIMEOUT))[1]

    assert first.state == second.state == FINISHED
    assert first.reused == () and second.reused == (config.run_id,)
    assert second.job_id == first.job_id + 1
    assert second.pid == first.pid, "the worker is kept between jobs"
    assert folder_bytes(checkpoint_root) == weights, "a reused run must not be rewritten"


def test_only_one_job_runs_and_cancel_keeps_the_previous_runs(jobs, shipped_root):
    before = folder_bytes(shipped_root)
    job_id = jobs.start([long()], root=shipped_root)
    with pytest.raises(JobBusy, match="already running") as refused:
        jobs.start([tiny()], root=shipped_root)
    assert f"job {job_id}: {long().run_id}" in str(refused.value), "the refusal names the running job"
    first_batch(jobs)
    assert jobs.cancel() is True
    done = jobs.wait(JOB_TIMEOUT)

    assert done.state == CANCELLED
    assert f"{long().run_id} was cancelled" in done.message and "nothing saved" in done.message
    assert done.job_id == job_id, "the refused start must not have created a job"
    assert folder_bytes(shipped_root) == before
    assert jobs.cancel() is False, "nothing is running any more"


def test_ctrl_c_in_the_servers_terminal_leaves_the_worker_training(jobs, checkpoint_root):
    """Ctrl+C signals the whole process group; the server decides what happens to the job."""
    jobs.start([long()], root=checkpoint_root)
    interrupted = first_batch(jobs)
    os.kill(interrupted.pid, signal.SIGINT)
    wait_for(lambda: jobs.snapshot().fraction > interrupted.fraction, STOP_TIMEOUT, "progress after Ctrl+C")
    jobs.cancel()
    done = jobs.wait(JOB_TIMEOUT)

    assert done.state == CANCELLED, done.message
    assert done.pid == interrupted.pid


def test_a_diverging_job_fails_with_the_reason_and_keeps_the_runs(jobs, shipped_root):
    before = folder_bytes(shipped_root)
    jobs.start([diverging(tiny())], root=shipped_root)
    done = jobs.wait(JOB_TIMEOUT)

    assert done.state == FAILED
    assert "loss became nan" in done.message
    assert folder_bytes(shipped_root) == before
    assert list_runs(shipped_root)[1] == [], "every earlier run still loads"


def test_a_failure_in_the_second_run_keeps_the_first(jobs, checkpoint_root):
    mlp, conv = tiny("mlp", seed=14), diverging(tiny("conv", seed=14))
    jobs.start([mlp, conv], root=checkpoint_root)
    done = jobs.wait(JOB_TIMEOUT)

    assert done.state == FAILED
    assert done.run_ids == (mlp.run_id,)
    assert f"kept {mlp.run_id}" in done.message and "nan" in done.message
    assert find_run(mlp.run_id, checkpoint_root).config == mlp
    assert not (checkpoint_root / conv.run_id).exists()


def test_a_read_only_checkpoint_folder_fails_before_training(jobs, shipped_root):
    with read_only(shipped_root):
        before = folder_bytes(shipped_root)
        jobs.start([tiny()], root=shipped_root)
        done = jobs.wait(JOB_TIMEOUT)
        runs, broken = list_runs(shipped_root)

    assert done.state == FAILED
    assert "read-only" in done.message and "cannot save" in done.message
    assert done.epoch == 0, "training must not start when its run could not be saved"
    assert folder_bytes(shipped_root) == before
    assert {r.run_id for r in runs} == set(visible(shipped_root)) and broken == []


def test_start_refuses_an_empty_job():
    with pytest.raises(ValueError, match="at least one config"):
        TrainingJobs().start([])


def test_a_killed_worker_fails_the_job_with_the_reason_and_the_next_job_runs(jobs, checkpoint_root):
    jobs.start([long()], root=checkpoint_root)
    killed = first_batch(jobs)
    os.kill(killed.pid, signal.SIGKILL)  # what the kernel's out-of-memory killer does
    done = jobs.wait(JOB_TIMEOUT)

    assert done.state == FAILED
    assert "the training process was killed (signal 9, SIGKILL: out of memory or killed from outside)" in done.message
    assert f"nothing was saved for {long().run_id}" in done.message
    assert visible(checkpoint_root) == []

    config = tiny(seed=16)
    jobs.start([config], root=checkpoint_root)
    after = jobs.wait(JOB_TIMEOUT)
    assert after.state == FINISHED, after.message
    assert after.pid != killed.pid, "a new worker took over"
    assert find_run(config.run_id, checkpoint_root).config == config


@pytest.mark.parametrize(
    ("exitcode", "reason"),
    [
        (-signal.SIGSEGV, "the training process crashed (signal 11, SIGSEGV: a crash in native code)"),
        (-signal.SIGABRT, "the training process crashed (signal 6, SIGABRT: a native library aborted)"),
        (1, "the training process exited unexpectedly (exit code 1)"),
    ],
)
def test_other_deaths_of_the_worker_are_told_apart(exitcode, reason):
    mlp, conv = tiny("mlp"), tiny("conv")
    lost = _lost(JobSnapshot(state=RUNNING, configs=(mlp, conv), run_ids=(mlp.run_id,)), exitcode)
    assert lost == f"{reason}; nothing was saved for {conv.run_id}"


def test_two_tabs_see_the_same_job(jobs, checkpoint_root):
    """Every page of every browser tab reads the one runner from its own thread."""
    job_id = jobs.start([long()], root=checkpoint_root)
    first_batch(jobs)
    seen: dict[str, list[JobSnapshot]] = {"tab 1": [], "tab 2": []}
    watching = {tab: threading.Event() for tab in seen}

    def tab(name: str) -> None:
        deadline = time.monotonic() + JOB_TIMEOUT
        while time.monotonic() < deadline:
            seen[name].append(snapshot := jobs.snapshot())
            watching[name].set()
            if not snapshot.active:
                return
            time.sleep(0.005)

    threads = [threading.Thread(target=tab, args=(name,)) for name in seen]
    for thread in threads:
        thread.start()
    assert all(event.wait(STOP_TIMEOUT) for event in watching.values())
    jobs.cancel()  # from a third thread, as a Cancel button in another tab
    for thread in threads:
        thread.join(JOB_TIMEOUT)

    for name, snapshots in seen.items():
        assert {s.job_id for s in snapshots} == {job_id}, name
        assert snapshots[0].state == RUNNING and snapshots[-1].state == CANCELLED, name
        assert all(s.batch <= s.batches and 0 <= s.fraction <= 1 for s in snapshots), f"{name} saw a torn state"
    assert seen["tab 1"][-1] == seen["tab 2"][-1], "both tabs end on the same result"
    with pytest.raises(FrozenInstanceError):
        seen["tab 1"][-1].state = RUNNING


OWNER = '''
"""A stand-in for the dashboard server: it owns a TrainingJobs that runs a long job until SIGTERM."""
import atexit
import json
import signal
import sys
import threading
from pathlib import Path

if __name__ != "__main__":  # as Streamlit's __main__ (the page script), this must never run in the worker
    print("the worker ran the server's main script", file=sys.stderr)

if __name__ == "__main__":
    # Registered before multiprocessing is imported, so it runs after multiprocessing's own exit
    # handler has stopped the worker (SIGTERM to a daemon process, then join).
    atexit.register(lambda: print(f"{jobs.wait(60).state}: {jobs.snapshot().message}", flush=True))
    from aecore.config import RunConfig
    from aecore.jobs import TrainingJobs

    mode, root, config = sys.argv[1], Path(sys.argv[2]), RunConfig.from_dict(json.loads(sys.argv[3]))
    stopped = threading.Event()
    if mode == "server":  # as Streamlit does: SIGTERM stops the server, then the interpreter exits normally
        signal.signal(signal.SIGTERM, lambda signum, frame: stopped.set())
    jobs = TrainingJobs(device="cpu")
    jobs.start([config], root)
    while (snapshot := jobs.snapshot()).active and snapshot.batch == 0:
        stopped.wait(0.01)
    print(snapshot.pid if snapshot.active else f"not training: {snapshot.message}", flush=True)
    stopped.wait()
'''


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process states from /proc")
@pytest.mark.parametrize("mode", ["server", "plain"])
def test_sigterm_to_the_server_stops_the_worker_and_leaves_no_files(tmp_path, mode):
    """`server` handles SIGTERM like Streamlit (its interpreter exits normally); `plain` dies of it at once."""
    root = tmp_path / "checkpoints"
    root.mkdir()
    script = tmp_path / "owner.py"
    script.write_text(OWNER)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    argv = [sys.executable, str(script), mode, str(root), json.dumps(long().to_dict())]
    owner = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    worker = None
    try:
        assert select.select([owner.stdout], [], [], JOB_TIMEOUT)[0], "the owner never started training"
        line = owner.stdout.readline().strip()
        assert line.isdigit(), line or owner.communicate()[1]
        worker = int(line)
        owner.send_signal(signal.SIGTERM)
        owner.wait(STOP_TIMEOUT)
        wait_for(lambda: not running(worker), STOP_TIMEOUT, "the worker to stop")
        stdout, stderr = owner.communicate(timeout=STOP_TIMEOUT)  # EOF once the worker, which shares the pipes, is gone
    finally:
        if owner.poll() is None:
            owner.kill()
        if worker and running(worker):
            os.kill(worker, signal.SIGKILL)

    assert "Traceback" not in stderr and "Abort" not in stderr, stderr
    assert "main script" not in stderr, stderr
    assert visible(root) == [], "the stopped run left files behind"
    if mode == "server":
        assert owner.returncode == 0 and stderr == "", stderr
        assert stdout.startswith(f"cancelled: {long().run_id} was cancelled"), stdout
        assert "(the training process was asked to stop (SIGTERM)); nothing saved" in stdout, stdout
    else:
        assert owner.returncode == -signal.SIGTERM, stderr


def imported(path: Path) -> set[str]:
    """Every aecore module a file imports, at the top or inside a function."""
    import ast

    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.startswith("aecore")}


def test_the_server_and_the_worker_share_only_the_message_module():
    aecore = REPO / "aecore"
    assert "aecore.jobs" not in imported(aecore / "worker.py"), "the worker imports the server: an import circle"
    assert not {"aecore.jobs", "aecore.worker"} & imported(aecore / "job_messages.py")
    assert "aecore.job_messages" in imported(aecore / "worker.py") & imported(aecore / "jobs.py")


def test_a_request_that_is_no_request_fails_the_job_instead_of_hanging_it():
    jobs = TrainingJobs()
    try:
        jobs._begin(JobSnapshot(configs=(tiny(),)), (tiny(),))  # the bare tuple the pipe used to carry
        done = jobs.wait(JOB_TIMEOUT)
    finally:
        jobs.close()
    assert done.state == FAILED and "not a request" in done.message, done

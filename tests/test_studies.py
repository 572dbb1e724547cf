"""Optuna studies: grids and tuning that resume, share work between processes and machines, and train each run once."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState, create_trial

import aecore.pipeline
import aecore.studies
import aecore.studies.runner
from aecore.__main__ import main
from aecore.config import ConfigError
from aecore.runstore import list_runs
from aecore.studies import (
    StudyError,
    SweepSpec,
    TuneSpec,
    delete_study,
    frozen_trials,
    list_studies,
    open_storage,
    run_study,
    study_runs,
    trials_frame,
)
from aecore.train import TrainingCancelled
from tests.postgres_support import find_postgres, free_port, postgres_server
from tests.test_sweep import counted_trainings

REPO = Path(__file__).resolve().parent.parent
HOOKS = Path(__file__).resolve().parent / "study_hooks"
QUICK = {"epochs": 1, "train_limit": 100}
GRID = SweepSpec(models=("mlp", "conv"), bottlenecks=(1,), seeds=(0, 1), **QUICK)  # 4 tiny points
GRID_ARGS = ["sweep", "--models", "mlp", "conv", "--bottlenecks", "1", "--seeds", "0", "1", "--epochs", "1",
             "--train-limit", "100", "--device", "cpu"]  # fmt: skip
PROCESS_TIMEOUT = 180


@pytest.fixture
def count_trainings(monkeypatch):
    return counted_trainings(monkeypatch)


def start_cli(root: Path, log: Path, argv: list[str], **env: str) -> subprocess.Popen:
    """`python -m aecore --checkpoints root ...` in a real process whose trainings are logged to `log`."""
    environment = {**os.environ, "PYTHONPATH": f"{HOOKS}{os.pathsep}{REPO}", "AECORE_TEST_TRAINING_LOG": str(log),
                   "CUDA_VISIBLE_DEVICES": "", **env}  # fmt: skip
    return subprocess.Popen([sys.executable, "-m", "aecore", "--checkpoints", str(root), *argv], cwd=REPO,
                            env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip


def finish(process: subprocess.Popen) -> str:
    out, err = process.communicate(timeout=PROCESS_TIMEOUT)
    assert process.returncode == 0, f"exit {process.returncode}: {err[-3000:]}"
    return out


def trainings(log: Path) -> list[tuple[str, str]]:
    """(pid, run_id) of every training start the hook logged, in order."""
    return [tuple(line.split()) for line in log.read_text().splitlines()] if log.exists() else []


def wait_for(condition, what: str, timeout: float = PROCESS_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def run_folders(root: Path) -> set[str]:
    return {p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")}


def grid_run_ids() -> set[str]:
    return {config.run_id for config in GRID.configs()}


# --- several workers, one study ------------------------------------------------------------------


def test_two_worker_processes_train_each_grid_point_once(checkpoint_root, tmp_path):
    log = tmp_path / "trainings.log"
    out = finish(start_cli(checkpoint_root, log, [*GRID_ARGS, "--workers", "2"], AECORE_TEST_BARRIER="2"))

    started = trainings(log)
    assert sorted(run_id for _, run_id in started) == sorted(grid_run_ids()), "each point trained exactly once"
    assert len({pid for pid, _ in started}) == 2, "both worker processes trained"
    assert run_folders(checkpoint_root) == grid_run_ids()
    frame = trials_frame(GRID.default_name(), root=checkpoint_root)
    complete = frame[frame["state"] == "COMPLETE"]
    assert set(complete["run_id"]) == grid_run_ids(), "every trial records the run it produced"
    assert "4 of 4 grid points have a run" in out and out.count("test MSE") == 4


def test_a_killed_study_resumes_and_trains_only_what_is_missing(checkpoint_root, tmp_path):
    log = tmp_path / "trainings.log"
    first = start_cli(checkpoint_root, log, GRID_ARGS, AECORE_TEST_HOLD_AT="2")
    try:
        wait_for(lambda: len(trainings(log)) == 2, "the second trial to start training")
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=PROCESS_TIMEOUT)
    saved = run_folders(checkpoint_root)
    killed = trainings(log)[1][1]
    assert len(saved) == 1 and killed not in saved, "one run saved before the kill; the killed one not"

    finish(start_cli(checkpoint_root, log, GRID_ARGS))
    resumed = [run_id for _, run_id in trainings(log)[2:]]
    assert sorted(resumed) == sorted(grid_run_ids() - saved), "the resume trains exactly the missing points"
    assert killed in resumed, "the point whose trial died is retried"
    assert run_folders(checkpoint_root) == grid_run_ids()
    states = trials_frame(GRID.default_name(), root=checkpoint_root)["state"].value_counts()
    assert states.get("COMPLETE") == 4 and states.get("FAIL") == 1 and "RUNNING" not in states


@pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed to be used with Study.optimize")
def test_a_trial_silent_past_its_heartbeats_is_failed_and_its_point_retried(checkpoint_root, count_trainings):
    spec = dataclasses.replace(GRID, seeds=(0,))  # 2 points
    name = "stale"
    with pytest.raises(TrainingCancelled):  # creates the study, trains nothing
        run_study(spec, study_name=name, root=checkpoint_root, device="cpu", should_stop=lambda: True)
    storage = open_storage(aecore.studies.default_storage(checkpoint_root), heartbeat=1)
    study = optuna.load_study(study_name=name, storage=storage, sampler=spec.sampler(None))
    trial = study.ask()  # a worker on another machine takes a point, beats once, and goes silent
    stale_config = spec.config(trial)
    trial.set_user_attr("worker", {"host": "elsewhere", "machine": "other", "pid": 1, "started": "1"})
    storage.record_heartbeat(storage.get_trial_id_from_study_id_trial_number(storage.get_study_id_from_name(name), 0))
    study.enqueue_trial(trial.params)  # and the same point is queued twice, as racing retries can do

    run_study(spec, study_name=name, root=checkpoint_root, device="cpu", heartbeat=1)
    assert sorted(count_trainings) == sorted(c.run_id for c in spec.configs()), "both points trained once"
    assert stale_config.run_id in count_trainings
    frame = trials_frame(name, root=checkpoint_root)
    assert frame.loc[frame["number"] == trial.number, "state"].item() == "FAIL"
    twin = frame[frame["duplicate_of"].notna()]
    assert twin["duplicate_of"].tolist() == [trial.number] and twin["state"].tolist() == ["PRUNED"], (
        "the queued copy gave way to the running trial instead of training the point a second time"
    )
    assert set(frame.loc[frame["state"] == "COMPLETE", "run_id"]) == {c.run_id for c in spec.configs()}


def test_a_cancelled_trial_is_queued_again_and_finished_by_the_next_run(checkpoint_root, count_trainings):
    spec = dataclasses.replace(GRID, models=("mlp",), seeds=(0,))  # 1 point
    batches = []

    def stop_after_a_batch() -> bool:
        return len(batches) > 0

    with pytest.raises(TrainingCancelled):
        run_study(spec, root=checkpoint_root, device="cpu", progress=batches.append, should_stop=stop_after_a_batch)
    assert run_folders(checkpoint_root) == set(), "a cancelled trial saves no run"
    report = run_study(spec, root=checkpoint_root, device="cpu")
    assert list(report.trials["state"]) == ["FAIL", "COMPLETE"]
    assert count_trainings == [spec.configs()[0].run_id] * 2, "trained again after the cancel, nothing else"


def test_two_workers_asking_for_one_run_train_it_once(checkpoint_root, monkeypatch, caplog):
    config = GRID.configs()[0]
    entered, release = threading.Event(), threading.Event()
    calls = []
    real = aecore.pipeline.train

    def held(config, *args, **kwargs):
        calls.append(config.run_id)
        entered.set()
        assert release.wait(60)
        return real(config, *args, **kwargs)

    monkeypatch.setattr(aecore.pipeline, "train", held)
    results = {}

    def worker(name: str) -> None:
        results[name] = aecore.pipeline.load_or_train(config, root=checkpoint_root, device="cpu")[0]

    caplog.set_level("INFO", logger="aecore.runstore")
    first = threading.Thread(target=worker, args=("first",))
    first.start()
    assert entered.wait(60)
    second = threading.Thread(target=worker, args=("second",))
    second.start()
    wait_for(lambda: any("is training or saving" in r.getMessage() for r in caplog.records), "the lock wait")
    release.set()
    first.join(60)
    second.join(60)
    assert calls == [config.run_id], "the second worker waited, then loaded the saved run"
    assert results["first"].run_id == results["second"].run_id == config.run_id


# --- tuning --------------------------------------------------------------------------------------


class GuardedMetrics:
    """A run's metrics that fail the test if anything reads the test-set numbers."""

    def __init__(self, metrics) -> None:
        self.metrics = metrics

    def __getattr__(self, name):
        assert name not in ("test", "pca"), f"the study read the {name} metrics"
        return getattr(self.metrics, name)


def test_tune_prunes_on_validation_loss_and_never_reads_test_metrics(checkpoint_root, monkeypatch):
    real = aecore.studies.runner.load_or_train

    def guarded(*args, **kwargs):
        info, model = real(*args, **kwargs)
        return dataclasses.replace(info, metrics=GuardedMetrics(info.metrics)), model

    monkeypatch.setattr(aecore.studies.runner, "load_or_train", guarded)
    spec = TuneSpec("mlp", trials=6, epochs=(2, 3), batch_sizes=(50, 100), startup_trials=2, warmup_epochs=1,
                    train_limit=100)  # fmt: skip
    report = run_study(spec, root=checkpoint_root, device="cpu", sampler_seed=0)

    frame = report.trials
    assert len(frame) == 6 and set(frame["state"]) <= {"COMPLETE", "PRUNED"}
    pruned = frame[frame["state"] == "PRUNED"]
    assert len(pruned) >= 1, "some trial fell behind the median validation loss and was pruned"
    assert pruned["run_id"].isna().all(), "a pruned trial records no run"
    complete = frame[frame["state"] == "COMPLETE"]
    assert run_folders(checkpoint_root) == set(complete["run_id"]), "pruned trials save no run"
    runs = {run.run_id: run for run in list_runs(checkpoint_root)[0]}
    for row in complete.itertuples():
        assert row.value == min(e.val_loss for e in runs[row.run_id].history), "the value is the validation loss"
        assert runs[row.run_id].config.learning_rate == row.learning_rate
    trials = {t.number: t for t in frozen_trials(report.name, root=checkpoint_root)}
    for row in pruned.itertuples():
        reported = [loss for _, loss in sorted(trials[row.number].intermediate_values.items())]
        assert len(reported) < row.epochs, "a pruned trial stopped before its last epoch"
        assert row.value == reported[-1]


def test_tune_in_a_space_of_one_config_reuses_its_run_instead_of_looping(checkpoint_root, count_trainings):
    spec = TuneSpec("mlp", trials=3, learning_rates=(0.01, 0.01), epochs=(1, 1), batch_sizes=(100,), train_limit=100)
    asked = []
    report = run_study(
        spec, root=checkpoint_root, device="cpu", on_trial_end=asked.append, should_stop=lambda: len(asked) > 10
    )  # fmt: skip  (a loop would end in TrainingCancelled)
    assert list(report.trials["state"]) == ["COMPLETE"] * 3 and len(count_trainings) == 1
    assert report.trials["reused"].tolist() == [False, True, True]


def test_tune_cli_names_the_best_trial_by_validation_loss(checkpoint_root, capsys):
    argv = ["--checkpoints", str(checkpoint_root), "tune", "--model", "mlp", "--trials", "2", "--epochs", "1", "1",
            "--batch-sizes", "100", "--train-limit", "100", "--device", "cpu"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    frame = trials_frame(list_studies(root=checkpoint_root)["study"].item(), root=checkpoint_root)
    best = frame.loc[frame["value"].idxmin()]
    assert "2 trials: 2 complete, 0 pruned, 0 failed" in out
    assert f"-> {best['run_id']}: val MSE {best['value']:.5f}" in out and "test" not in out


# --- PostgreSQL: one study, workers on many machines ---------------------------------------------


@pytest.fixture
def postgres_url():
    bin_dir = find_postgres()
    if bin_dir is None:
        message = "PostgreSQL is not installed (no initdb under /usr/lib/postgresql/*/bin or on PATH)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}; .ci/run installs it with apt")
        pytest.skip(message)
    with postgres_server(bin_dir) as url:
        yield url


def test_a_postgres_study_is_shared_by_two_worker_processes(checkpoint_root, tmp_path, postgres_url):
    log = tmp_path / "trainings.log"
    argv = [*GRID_ARGS, "--storage", postgres_url, "--study", "shared"]
    workers = [start_cli(checkpoint_root, log, argv, AECORE_TEST_BARRIER="2") for _ in range(2)]
    for worker in workers:
        finish(worker)

    started = trainings(log)
    assert sorted(run_id for _, run_id in started) == sorted(grid_run_ids()), "each point trained exactly once"
    assert len({pid for pid, _ in started}) == 2, "both workers trained"
    frame = trials_frame("shared", storage=postgres_url)
    assert set(frame.loc[frame["state"] == "COMPLETE", "run_id"]) == grid_run_ids()
    assert list_studies(storage=postgres_url)["study"].tolist() == ["shared"]


# --- reading studies back, deleting them, errors -------------------------------------------------


def test_studies_are_listed_shown_and_deleted_without_touching_runs(checkpoint_root, capsys):
    spec = dataclasses.replace(GRID, models=("mlp",), seeds=(0,))
    report = run_study(spec, root=checkpoint_root, device="cpu")
    assert [run.run_id for run in study_runs(report.name, root=checkpoint_root)] == [spec.configs()[0].run_id]
    table = list_studies(root=checkpoint_root)
    assert table[["study", "kind", "trials", "complete"]].values.tolist() == [[report.name, "sweep", 1, 1]]

    root = ["--checkpoints", str(checkpoint_root)]
    assert main([*root, "studies"]) == 0 and report.name in capsys.readouterr().out
    assert main([*root, "studies", report.name]) == 0 and spec.configs()[0].run_id in capsys.readouterr().out
    assert main([*root, "studies", report.name, "--delete", "--yes"]) == 0  # asked otherwise (test_stored_text)
    assert list_studies(root=checkpoint_root).empty
    assert run_folders(checkpoint_root) == {spec.configs()[0].run_id}, "deleting a study keeps its runs"
    with pytest.raises(StudyError, match="no study named"):
        delete_study(report.name, root=checkpoint_root)


def test_reading_an_empty_checkpoints_folder_creates_no_storage(checkpoint_root):
    assert list_studies(root=checkpoint_root).empty
    assert not (checkpoint_root / "studies.db").exists()


def test_a_study_name_cannot_be_reused_for_other_settings(checkpoint_root):
    spec = dataclasses.replace(GRID, models=("mlp",), seeds=(0,))
    run_study(spec, study_name="mine", root=checkpoint_root, device="cpu")
    with pytest.raises(StudyError, match="explores other settings .*bottlenecks"):
        run_study(dataclasses.replace(spec, bottlenecks=(2,)), study_name="mine", root=checkpoint_root, device="cpu")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["sweep", "--bottlenecks", "1", "--storage", "not a url"], "is not a database URL"),
        (["sweep", "--bottlenecks", "1", "--storage", "nosuchdb://host/db"], "unknown database kind 'nosuchdb'"),
        (["sweep", "--bottlenecks", "1", "--storage", "postgresql://me@127.0.0.1:{port}/db"], "cannot use the study"),
        (["sweep", "--bottlenecks", "1", "--workers", "0"], "--workers must be a whole number from 1 to 256"),
        (["sweep", "--bottlenecks", "1", "--seeds"], "expected at least one argument"),
        (["tune", "--learning-rates", "0.1", "0.01"], "learning_rates must be two values, low then high"),
        (["tune", "--epochs", "0", "3"], "epochs must be from 1"),
        (["tune", "--trials", "0"], "--trials must be a whole number from 1 to 100,000"),
        (["studies", "no-such-study"], "no study named 'no-such-study'"),
        (["studies", "--delete"], "--delete needs a study name"),
        (["train", "--seed", "1", "--seeds", "2"], "not allowed with argument"),
    ],
)
def test_study_mistakes_are_one_line_and_exit_2(argv, message, checkpoint_root, capsys):
    argv = [arg.format(port=free_port()) for arg in argv]
    assert main(["--checkpoints", str(checkpoint_root), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_train_with_several_seeds_trains_one_run_each(checkpoint_root, count_trainings, capsys):
    argv = ["--checkpoints", str(checkpoint_root), "train", "--seeds", "0", "1", "2", "--epochs", "1",
            "--train-limit", "100", "--bottleneck", "2", "--device", "cpu"]  # fmt: skip
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(": ")[1].split()[:2] for line in lines] == [["seed", "0"], ["seed", "1"], ["seed", "2"]]
    runs = list_runs(checkpoint_root)[0]
    assert sorted(run.config.seed for run in runs) == [0, 1, 2] and len(count_trainings) == 3


# --- what a worker decides from the trials it sees -----------------------------------------------


def point(model: str, seed: int, state: TrialState, **user_attrs):
    params = {"model": model, "bottleneck": 1, "seed": seed}
    distributions = {name: optuna.distributions.CategoricalDistribution(values)
                     for name, values in GRID.search_space.items()}  # fmt: skip
    value = 0.1 if state == TrialState.COMPLETE else None
    return create_trial(state=state, params=params, distributions=distributions, value=value, user_attrs=user_attrs)


THREE_DONE = [point("mlp", 0, TrialState.COMPLETE), point("conv", 0, TrialState.COMPLETE),
              point("mlp", 1, TrialState.COMPLETE)]  # fmt: skip
LAST = {"model": "conv", "bottleneck": 1, "seed": 1}


@pytest.mark.parametrize(
    ("trials", "action", "retry"),
    [
        ([], "run", []),
        ([*THREE_DONE, point("conv", 1, TrialState.COMPLETE)], "done", []),
        ([*THREE_DONE, point("conv", 1, TrialState.RUNNING)], "wait", []),
        ([*THREE_DONE, point("conv", 1, TrialState.FAIL)], "run", [LAST]),
        ([*THREE_DONE, point("conv", 1, TrialState.FAIL, error="diverged")], "done", []),
        ([*THREE_DONE, create_trial(state=TrialState.FAIL)], "run", [LAST]),
        ([*THREE_DONE, point("conv", 1, TrialState.PRUNED, duplicate_of=9)], "run", [LAST]),
        ([*THREE_DONE[:2], point("mlp", 1, TrialState.RUNNING)], "run", []),
    ],
    ids=[
        "fresh",
        "complete",
        "last-running",
        "killed-point-retried",
        "diverged-point-final",
        "died-before-a-point",
        "twin-gave-way-and-twin-died",
        "untouched-point-left",
    ],  # fmt: skip
)
def test_a_grid_plan_retries_only_points_that_died(trials, action, retry):
    assert GRID.plan(trials)[:2] == (action, retry)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"models": ()}, "at least one model"),
        ({"seeds": ()}, "at least one seed"),
        ({"bottlenecks": (0,)}, "bottleneck"),
        ({"epochs": 0}, "epochs"),
    ],
)
def test_invalid_grids_are_refused(changes, message):
    with pytest.raises(ConfigError, match=message):
        dataclasses.replace(GRID, **changes)


def test_tune_defaults_come_from_the_recipe():
    spec = TuneSpec("conv")
    assert spec.learning_rates == pytest.approx((0.0065, 0.65)) and spec.epochs == (11, 44)
    assert spec.default_name() == TuneSpec("conv", trials=50).default_name(), "more trials extend the same study"
    assert spec.default_name() != TuneSpec("conv", batch_sizes=(64,)).default_name()


def test_tune_prunes_onecycle_trials_only_after_the_warm_up_of_the_longest():
    # Before one-cycle's warm-up ends (30% of the steps) a loss says how far the warm-up has got, not where a
    # trial ends: pruning there compares schedules, not recipes.
    assert TuneSpec("mlp").epochs == (15, 60) and TuneSpec("mlp").warmup_epochs == 18
    assert TuneSpec("mlp", recipe="seed").warmup_epochs == 2  # a constant rate has no warm-up
    assert TuneSpec("mlp", warmup_epochs=4).warmup_epochs == 4
    assert TuneSpec("mlp").pruner()._n_warmup_steps == 18

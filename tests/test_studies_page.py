"""Studies in the dashboard: the Studies page lists a study and its trials and puts a trial's run into a slot; the
Bottleneck sweep page draws a sweep study's runs; a sweep runs as the one training job, trial by trial, and
cancels like any job."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import optuna
import plotly.graph_objects as go
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState, create_trial
from streamlit.testing.v1 import AppTest

from aecore.job_messages import CANCELLED, FINISHED
from aecore.jobs import JobBusy, TrainingJobs
from aecore.studies import SHIPPED_STORAGE_FILE, SweepSpec, default_storage, open_storage, run_study, trials_frame
from tests.browser_support import REPO, copy_checkpoints
from tests.test_jobs import JOB_TIMEOUT
from ui import cache
from ui.figures import study_history_figure, study_intermediate_figure, study_parallel_figure

APP_TIMEOUT = 240
TINY = {"epochs": 1, "train_limit": 100}
STUDY = SweepSpec(models=("mlp",), bottlenecks=(1, 2), seeds=(0,), **TINY)  # 2 points, seconds each


def points(spec: SweepSpec) -> set[str]:
    return {config.run_id for config in spec.configs()}


def table(at: AppTest, column: str):
    """The first dataframe on the page with this column (AppTest does not know a dataframe's key)."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """A copy of the shipped runs plus a 2-point sweep study made with run_study."""
    root = copy_checkpoints(tmp_path_factory.mktemp("studies") / "checkpoints")
    (root / SHIPPED_STORAGE_FILE).unlink()  # this page's tests read the one study they make, not the shipped ones
    report = run_study(STUDY, root=root, device="cpu")
    assert set(report.trials["run_id"]) == points(STUDY)
    return root


@pytest.fixture
def app(root, monkeypatch):
    monkeypatch.setenv("AECORE_CHECKPOINTS", str(root))
    at = AppTest.from_file(str(REPO / "dashboard.py"), default_timeout=APP_TIMEOUT).run()
    assert not at.exception, at.exception[0].value
    yield at
    jobs = cache.training_jobs()  # the server-wide runner the page used
    if jobs.cancel():
        jobs.wait(JOB_TIMEOUT)


def test_the_studies_page_lists_the_study_and_a_button_puts_a_trials_run_into_slot_a(app):
    at = app.switch_page("pages/studies.py").run()
    assert not at.exception, at.exception
    studies = table(at, "best validation MSE")
    assert list(studies["study"]) == [STUDY.default_name()] and studies["complete"].item() == 2
    assert at.selectbox(key="studies_study").value == STUDY.default_name()
    trials = table(at, "validation MSE")
    assert list(trials["state"]) == ["COMPLETE", "COMPLETE"] and set(trials["run_id"]) == points(STUDY)
    assert at.get("plotly_chart"), "Optuna's parallel-coordinate plot of the sweep"

    wanted = STUDY.configs()[1].run_id
    assert at.selectbox(key="slot_A").value != wanted
    at.selectbox(key="studies_trial").set_value(wanted).run()
    at.button(key="studies_put_A").click().run()
    assert not at.exception, at.exception
    assert at.selectbox(key="slot_A").value == wanted, "the sidebar's picker holds the trial's run"
    assert at.selectbox(key="slot_B").value != wanted


def test_the_sweep_page_draws_a_sweep_studys_runs(app):
    at = app.switch_page("pages/bottleneck_sweep.py").run()
    option = f"study {STUDY.default_name()} (2 runs)"
    assert option in at.selectbox(key="sweep_family").options
    at.selectbox(key="sweep_family").set_value(option).run()
    assert not at.exception, at.exception
    shown = table(at, "training seeds (n)")
    assert list(shown["bottleneck"]) == [1, 2] and set(shown["run ids"]) == points(STUDY)
    low = [float(text.split("–")[0]) for text in shown["95% CI (test images)"]]
    assert (low < shown["test MSE"].astype(float)).all() and (shown["training seeds (n)"] == 1).all()


def test_the_sweep_form_starts_a_study_job_and_the_panel_reports_it(app):
    at = app.switch_page("pages/studies.py").run()
    grid = SweepSpec(models=("mlp",), bottlenecks=(3,), seeds=(5, 6), **TINY)
    at.multiselect(key="study_models").set_value(["mlp"])
    at.text_input(key="study_bottlenecks").set_value("3")
    at.text_input(key="study_seeds").set_value("5 6")
    at.text_input(key="study_epochs").set_value("1")
    at.text_input(key="study_train_limit").set_value("100")
    at.button(key="study_submit").click().run()
    assert not at.exception, at.exception
    jobs = cache.training_jobs()
    started = jobs.snapshot()
    assert started.study == grid.default_name() and started.trials == 2
    done = jobs.wait(JOB_TIMEOUT)
    assert done.state == FINISHED, done.message
    assert set(done.run_ids) == points(grid) and done.trial_states == ("COMPLETE", "COMPLETE")
    at.run()
    shown = "\n".join(str(e.value) for e in at.success)
    assert "is done: 2 run(s) trained, 0 reused" in shown.replace("\\", "")
    studies = table(at, "best validation MSE")
    assert grid.default_name() in set(studies["study"]), "the new study is listed"


def test_a_bad_grid_in_the_form_starts_nothing(app):
    at = app.switch_page("pages/studies.py").run()
    before = cache.training_jobs().snapshot().job_id
    at.text_input(key="study_bottlenecks").set_value("2 x")
    at.button(key="study_submit").click().run()
    assert "bottlenecks must be whole numbers" in at.error[0].value
    assert cache.training_jobs().snapshot().job_id == before


# --- the job runner, on its own -------------------------------------------------------------------


@pytest.fixture(scope="module")
def jobs():
    runner = TrainingJobs(device="cpu")
    yield runner
    runner.close()


def test_a_study_job_reports_each_trial_i_of_n_with_its_config(jobs, checkpoint_root):
    grid = SweepSpec(models=("mlp",), bottlenecks=(1, 2), seeds=(3,), epochs=2, train_limit=400)
    job_id = jobs.start_study(grid, root=checkpoint_root)
    with pytest.raises(JobBusy, match=f"sweep study {grid.default_name()}"):
        jobs.start_study(grid, root=checkpoint_root)
    seen: dict[int, set] = {}  # trial -> (trials, run id, whether a batch had been reported)
    deadline = time.monotonic() + JOB_TIMEOUT
    while (snapshot := jobs.snapshot()).active and time.monotonic() < deadline:
        if snapshot.trial:
            seen.setdefault(snapshot.trial, set()).add((snapshot.trials, snapshot.config.run_id, snapshot.batch > 0))
        time.sleep(0.005)
    done = jobs.wait(JOB_TIMEOUT)

    assert done.job_id == job_id and done.state == FINISHED, done.message
    assert sorted(seen) == [1, 2], "the panel saw trial 1 of 2, then 2 of 2"
    trained = {run_id for trial in seen.values() for _, run_id, _ in trial}
    assert trained == points(grid) and all(n == 2 for trial in seen.values() for n, _, _ in trial)
    assert any(batch for _, _, batch in seen[1]), "batch progress arrived during a trial"
    assert done.fraction == 1.0 and set(done.run_ids) == points(grid) and done.reused == ()
    frame = trials_frame(grid.default_name(), root=checkpoint_root)
    assert set(frame.loc[frame["state"] == "COMPLETE", "run_id"]) == points(grid), "the study recorded both"


def test_cancelling_a_study_job_saves_nothing_and_the_study_resumes_it(jobs, checkpoint_root):
    long = SweepSpec(models=("mlp",), bottlenecks=(1,), seeds=(4,), epochs=1000, train_limit=4000)
    jobs.start_study(long, root=checkpoint_root)
    deadline = time.monotonic() + JOB_TIMEOUT
    while not jobs.snapshot().batch and time.monotonic() < deadline:
        time.sleep(0.01)
    assert jobs.cancel() is True
    done = jobs.wait(JOB_TIMEOUT)

    assert done.state == CANCELLED
    assert "trial 1 of 1" in done.message and "start the same sweep again to resume it" in done.message
    assert not any(p.is_dir() and not p.name.startswith(".") for p in checkpoint_root.iterdir()), "nothing saved"
    assert list(trials_frame(long.default_name(), root=checkpoint_root)["state"]) == ["FAIL"], "queued again"
    assert jobs.start([replace(long.configs()[0], seed=5)], root=checkpoint_root) == done.job_id + 1, "runner free"
    jobs.cancel()
    jobs.wait(JOB_TIMEOUT)


# --- Optuna's plots, without Streamlit --------------------------------------------------------------


def test_study_figures_wrap_optunas_plots(root):
    trials = optuna.load_study(study_name=STUDY.default_name(), storage=open_storage(default_storage(root))).trials
    fig = study_parallel_figure(trials)
    assert isinstance(fig, go.Figure)
    axes = {str(point[0]) for trace in fig.data if trace.customdata is not None for point in trace.customdata}
    assert axes == {"validation MSE", "model", "bottleneck", "seed"}, "one axis per grid parameter and the target"

    distributions = {"learning_rate": FloatDistribution(1e-4, 1e-1, log=True),
                     "batch_size": CategoricalDistribution([32, 64])}  # fmt: skip
    tune = [
        create_trial(
            state=TrialState.COMPLETE,
            value=v,
            params={"learning_rate": lr, "batch_size": 64},
            distributions=distributions,
            intermediate_values={1: v * 2, 2: v},
        )  # fmt: skip
        for v, lr in ((0.03, 1e-3), (0.02, 1e-2))
    ]
    tune.append(create_trial(state=TrialState.PRUNED, value=0.2, params={"learning_rate": 1e-4, "batch_size": 32},
                             distributions=distributions, intermediate_values={1: 0.2}))  # fmt: skip
    history = study_history_figure(tune)
    assert list(history.data[0].y) == [0.03, 0.02] and history.layout.yaxis.title.text == "validation MSE"
    lines = study_intermediate_figure(tune)
    assert sorted(len(t.x) for t in lines.data) == [1, 2, 2], "the pruned trial stopped after one epoch"

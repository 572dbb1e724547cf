"""Shipped studies and the tune form: a fresh clone's Studies page lists the studies behind the shipped recipes
(their trials' runs are not shipped, and the page says so), and a tuning study starts from the page as the job,
with helper worker processes beside the job's own."""

from __future__ import annotations

import hashlib
import time

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import create_trial
from streamlit.testing.v1 import AppTest

from aecore.job_messages import FINISHED, StudyRequest
from aecore.studies import (
    NOT_SHIPPED,
    SHIPPED_STORAGE_FILE,
    SPEC_ATTR,
    STORAGE_FILE,
    SweepSpec,
    default_storage,
    list_studies,
    run_presence,
    trials_frame,
)
from tests.browser_support import REPO, copy_checkpoints
from tests.test_jobs import JOB_TIMEOUT
from ui import cache

SHIPPED_STUDY = "tune-mlp-shipped"
MISSING_RUN = "mlp-mnist-0000000000"  # a trial run that was not shipped
APP_TIMEOUT = 240


def make_shipped_storage(root, present_run: str | None = None) -> None:
    """A small Optuna storage as the lead ships it: one tune study, a trial whose run is missing here and, when
    given, one whose run is in the folder."""
    url = f"sqlite:///{root / SHIPPED_STORAGE_FILE}"
    study = optuna.create_study(study_name=SHIPPED_STUDY, storage=url, direction="minimize")
    study.set_user_attr(SPEC_ATTR, {"kind": "tune", "model": "mlp"})
    rate = FloatDistribution(1e-4, 1e-1, log=True)
    for number, (run_id, value) in enumerate([(MISSING_RUN, 0.0061), (present_run, 0.0052)]):
        if run_id is None:
            continue
        study.add_trial(create_trial(params={"learning_rate": 1e-3 * (number + 1)},
                                     distributions={"learning_rate": rate}, value=value,
                                     user_attrs={"run_id": run_id}))  # fmt: skip


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_missing_studies_db_starts_as_a_copy_of_the_shipped_one_which_stays_untouched(checkpoint_root):
    make_shipped_storage(checkpoint_root)
    shipped = checkpoint_root / SHIPPED_STORAGE_FILE
    before = digest(shipped)
    assert not (checkpoint_root / STORAGE_FILE).exists()
    url = default_storage(checkpoint_root)
    assert (checkpoint_root / STORAGE_FILE).is_file(), "the default storage was made from the shipped one"
    assert list(list_studies(url)["study"]) == [SHIPPED_STUDY]
    optuna.create_study(study_name="mine", storage=url)  # new studies go into the copy
    assert set(list_studies(url)["study"]) == {SHIPPED_STUDY, "mine"}
    assert digest(shipped) == before, "the tracked file never changes"
    default_storage(checkpoint_root)
    assert set(list_studies(url)["study"]) == {SHIPPED_STUDY, "mine"}, "an existing studies.db is never replaced"


def test_without_a_shipped_storage_nothing_is_created(checkpoint_root):
    default_storage(checkpoint_root)
    assert not (checkpoint_root / STORAGE_FILE).exists()


def test_trials_whose_runs_are_not_here_say_run_not_shipped(checkpoint_root):
    (checkpoint_root / "here-run").mkdir()
    (checkpoint_root / "here-run" / "run.json").write_text("{}")
    make_shipped_storage(checkpoint_root, present_run="here-run")
    trials = trials_frame(SHIPPED_STUDY, root=checkpoint_root)
    presence = [run_presence(r, checkpoint_root) for r in trials["run_id"]]
    assert presence == [NOT_SHIPPED, "on disk"]
    assert run_presence(None, checkpoint_root) == ""


@pytest.fixture
def shipped_app(tmp_path, monkeypatch):
    root = copy_checkpoints(tmp_path / "checkpoints")
    (root / STORAGE_FILE).unlink(missing_ok=True)
    (root / SHIPPED_STORAGE_FILE).unlink(missing_ok=True)  # the test's own shipped storage replaces the real one
    make_shipped_storage(root)
    monkeypatch.setenv("AECORE_CHECKPOINTS", str(root))
    at = AppTest.from_file(str(REPO / "dashboard.py"), default_timeout=APP_TIMEOUT).run()
    assert not at.exception, at.exception[0].value
    yield at.switch_page("pages/studies.py").run(), root
    jobs = cache.training_jobs()
    if jobs.cancel():
        jobs.wait(JOB_TIMEOUT)


def test_a_fresh_clone_lists_the_shipped_study_and_says_its_trial_runs_are_not_shipped(shipped_app):
    at, _ = shipped_app
    assert not at.exception, at.exception
    studies = next(d.value for d in at.dataframe if "best validation MSE" in d.value.columns)
    assert list(studies["study"]) == [SHIPPED_STUDY]
    assert list(studies["best run"]) == [f"{MISSING_RUN} (not shipped)"]
    trials = next(d.value for d in at.dataframe if "run" in d.value.columns)
    assert list(trials["run"]) == [NOT_SHIPPED]
    assert any("are not shipped" in str(i.value) for i in at.info), "no trial run to put into a slot, and why"


def test_the_tune_form_starts_a_tuning_study_as_the_job(shipped_app):
    at, root = shipped_app
    at.selectbox(key="tune_model").set_value("mlp")
    at.number_input(key="tune_trials").set_value(1)
    at.text_input(key="tune_train_limit").set_value("100")
    at.button(key="tune_submit").click().run()
    assert not at.exception, at.exception
    jobs = cache.training_jobs()
    started = jobs.snapshot()
    assert started.study_kind == "tune" and started.study.startswith("tune-mlp") and started.trials == 1
    done = jobs.wait(JOB_TIMEOUT)
    assert done.state == FINISHED, done.message
    assert list(trials_frame(started.study, root=root)["state"]) == ["COMPLETE"]
    at.run()
    assert any("is done" in str(s.value) for s in at.success)


def test_helper_workers_work_on_the_jobs_study(checkpoint_root):
    from aecore.worker import _finish_helpers, _start_helpers

    grid = SweepSpec(models=("mlp",), bottlenecks=(1, 2), seeds=(0,), epochs=1, train_limit=100)
    request = StudyRequest(grid, grid.default_name(), checkpoint_root, None, workers=3)
    helpers = _start_helpers(request, None, "cpu")
    assert len(helpers) == 2, "workers − 1 helpers beside the job's own worker"
    deadline = time.monotonic() + JOB_TIMEOUT
    _finish_helpers(helpers, lambda: time.monotonic() > deadline)
    assert [h.returncode for h in helpers] == [0, 0]
    trials = trials_frame(grid.default_name(), root=checkpoint_root)
    assert sorted(trials.loc[trials["state"] == "COMPLETE", "bottleneck"]) == [1, 2], "the helpers did the grid"

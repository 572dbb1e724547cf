"""Adding an architecture, proved for the dashboard: an architecture from a plugin module ($AECORE_PLUGINS) is
trained by the real training worker (a spawned process that reads the registry itself) and every page renders
with its run in slot A."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from aecore import architectures
from aecore.compare import distinguishing_labels, picker_label
from aecore.config import RunConfig
from aecore.job_messages import FINISHED
from aecore.jobs import TrainingJobs
from aecore.runstore import find_run
from tests.browser_support import REPO
from ui.navigation import PAGES

APP_TIMEOUT = 120  # seconds per script run: the first imports torch and reads the data
JOB_TIMEOUT = 300
SHOWS_NO_RUN = {
    "pages/own_digit.py",  # the runs' answers appear once a digit is drawn
    "pages/bottleneck_sweep.py",  # one run is no sweep: the page says so
}


@pytest.fixture
def plugin(monkeypatch):
    """The registry as a process started with AECORE_PLUGINS=tests.tiny_architecture reads it."""
    monkeypatch.setenv(architectures.PLUGINS_ENV, "tests.tiny_architecture")
    monkeypatch.delattr(architectures, "ARCHITECTURES", raising=False)  # the next read loads the plugin
    assert "tiny" in architectures.names()
    return architectures.get("tiny")


def shown(at: AppTest) -> str:
    """Everything the main area says, figures included."""
    parts = [str(e.value) for kind in ("markdown", "caption", "info", "warning", "text") for e in at.main.get(kind)]
    parts += [c.proto.spec for c in at.main.get("plotly_chart")]
    parts += [d.value.to_string() for d in at.main.dataframe]
    return json.dumps(parts, ensure_ascii=False)


def test_a_plugin_architecture_trains_in_the_worker_and_every_page_shows_its_run(plugin, tmp_path, monkeypatch):
    root = tmp_path / "checkpoints"
    config = RunConfig.for_recipe("tiny", dataset="mnist-sample", train_limit=200, seed=5)
    jobs = TrainingJobs(threads=1)
    try:
        jobs.start([config], root=root)
        done = jobs.wait(JOB_TIMEOUT)
    finally:
        jobs.close()
    assert done.state == FINISHED, f"the worker could not train the plugin's architecture: {done.message}"
    assert done.run_ids == (config.run_id,) and not done.reused

    monkeypatch.setenv("AECORE_CHECKPOINTS", str(root))
    at = AppTest.from_file(str(REPO / "dashboard.py"), default_timeout=APP_TIMEOUT).run()
    assert not at.exception, at.exception[0].value
    assert at.selectbox(key="slot_A").value == config.run_id
    label = picker_label(find_run(config.run_id, root))
    [slot_label] = distinguishing_labels([config])  # what the pages call the run: "Tiny"
    for entry in PAGES:
        at.switch_page(entry.path).run()
        assert not at.exception, f"{entry.path}: {at.exception[0].value}"
        picker = at.selectbox(key="slot_A")
        assert picker.value == config.run_id and label in picker.options, f"{entry.path}: slot A lost the run"
        if entry.path not in SHOWS_NO_RUN:
            assert slot_label in shown(at), f"{entry.path} does not show the run"

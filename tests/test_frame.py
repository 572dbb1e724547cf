"""The frame reads the registry once per rerun, fills the slots once and hands one Comparison to the page; the
registry's signature changes with what defines a run, not with what its readers write beside it.

The rerun tests run the dashboard (AppTest) on a private copy of the shipped runs ($AECORE_CHECKPOINTS).
"""

from __future__ import annotations

import json
from collections import Counter

import pytest
from streamlit.testing.v1 import AppTest

from tests.browser_support import REPO, copy_checkpoints
from ui import cache, session

APP_TIMEOUT = 240  # the first run imports torch and reads the data
JOB_TIMEOUT = 300
PAGES_THAT_READ_RUNS = ("pages/training.py", "pages/bottleneck_sweep.py", "pages/runs.py", "pages/studies.py")


@pytest.fixture
def calls(tmp_path, monkeypatch) -> Counter:
    """Counts, per rerun, of the registry's reads (list_runs), the ui's registry look-ups, the folder scans and
    the slot fills, on a private copy of the shipped runs."""
    monkeypatch.setenv("AECORE_CHECKPOINTS", str(copy_checkpoints(tmp_path / "checkpoints")))
    cache.forget_registry()
    counted = Counter()

    def spy(module, name: str) -> None:
        real = getattr(module, name)

        def counting(*args, **kwargs):
            counted[name] += 1
            return real(*args, **kwargs)

        if hasattr(real, "clear"):  # a cached function: forgetting it still works through the spy
            counting.clear = real.clear
        monkeypatch.setattr(module, name, counting)

    for module, name in ((cache, "list_runs"), (cache, "registry"), (cache, "folder_signature"),
                         (session, "ensure_slots"), (session, "comparison")):  # fmt: skip
        spy(module, name)
    return counted


def rerun(at: AppTest, calls: Counter, page: str | None = None) -> Counter:
    """What one rerun (of `page`, when given) counted."""
    calls.clear()
    (at.switch_page(page) if page else at).run()
    assert not at.exception, at.exception[0].value
    return Counter(calls)


def test_a_rerun_reads_the_registry_once_and_builds_one_comparison(calls):
    at = AppTest.from_file(str(REPO / "dashboard.py"), default_timeout=APP_TIMEOUT)
    first = rerun(at, calls)
    assert first["list_runs"] == 1, f"the first run reads the folder once, read {first['list_runs']} times"
    for seen in (first, rerun(at, calls)):
        assert seen["registry"] == 1, f"the registry was looked up {seen['registry']} times in one rerun"
        assert seen["folder_signature"] == 1, f"the folder was scanned {seen['folder_signature']} times"
        assert seen["ensure_slots"] == 1, f"the slots were filled {seen['ensure_slots']} times"
        assert seen["comparison"] == 1, f"{seen['comparison']} comparisons were built in one rerun"
    assert calls["list_runs"] == 0, "a rerun with nothing changed reads no run folder"


def test_a_finished_job_is_put_into_its_slot_without_reading_the_folder_again(calls):
    from aecore.config import RunConfig

    reused = RunConfig.for_recipe("mlp", bottleneck=8).run_id  # a shipped run: the job loads it, trains nothing
    at = AppTest.from_file(str(REPO / "dashboard.py"), default_timeout=APP_TIMEOUT)
    rerun(at, calls)
    at.selectbox(key="train_model").set_value("mlp")
    at.text_input(key="train_bottleneck").set_value("8")
    at.radio(key="train_slot").set_value("B")
    at.button(key="train_submit").click().run()
    jobs = cache.training_jobs()
    try:
        assert jobs.wait(JOB_TIMEOUT).reused == (reused,)
    finally:
        jobs.cancel()
    seen = rerun(at, calls)
    assert at.selectbox(key="slot_B").value == reused, "the job's run went into the slot it asked for"
    assert seen["registry"] == 1 and seen["list_runs"] == 0, f"nothing changed on disk, yet: {dict(seen)}"


@pytest.mark.parametrize("page", PAGES_THAT_READ_RUNS)
def test_pages_that_list_runs_take_the_frames_reading(calls, page):
    at = AppTest.from_file(str(REPO / "dashboard.py"), default_timeout=APP_TIMEOUT)
    at.session_state["latent_method"] = "pca"
    rerun(at, calls)
    seen = rerun(at, calls, page)
    assert (seen["registry"], seen["ensure_slots"], seen["comparison"]) == (1, 1, 1), f"{page}: {dict(seen)}"
    assert seen["list_runs"] == 0, f"{page} read the run folders again"


# --- the registry's signature ------------------------------------------------------------------------------


@pytest.fixture
def run_folder(tmp_path):
    folder = tmp_path / "checkpoints" / "mlp-mnist-0123456789"
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps({"format": 2}))
    (folder / "weights-0123456789ab.safetensors").write_bytes(b"w" * 64)
    return folder


def test_a_map_or_derived_file_written_beside_a_run_leaves_the_signature_alone(run_folder):
    root = str(run_folder.parent)
    before = cache.folder_signature(root)
    (run_folder / "projections").mkdir()
    (run_folder / "projections" / "umap-n10000-0123456789ab.npz").write_bytes(b"map")
    (run_folder / "projections" / "umap-n10000-0123456789ab.json").write_text("{}")
    (run_folder / "derived").mkdir()
    (run_folder / "derived" / "intervals.json").write_text("{}")
    assert cache.folder_signature(root) == before, "a projection cache re-validated every run"


@pytest.mark.parametrize(
    "change",
    [
        lambda folder: (folder / "run.json").write_text(json.dumps({"format": 2, "note": "replaced"})),
        lambda folder: (folder / "weights-0123456789ab.safetensors").write_bytes(b"v" * 65),
        lambda folder: (folder / "evaluation-0123456789ab.npz").write_bytes(b"e"),
        lambda folder: (folder / "run.json").unlink(),
        lambda folder: (folder.parent / "conv-mnist-0123456789").mkdir(),
    ],
    ids=["run.json replaced", "weights replaced", "artefact added", "run.json deleted", "new run folder"],
)
def test_what_defines_a_run_changes_the_signature(run_folder, change):
    root = str(run_folder.parent)
    before = cache.folder_signature(root)
    change(run_folder)
    assert cache.folder_signature(root) != before

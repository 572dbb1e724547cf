"""The background warm-up fills exactly the cache entries the pages ask for, so they render without recomputing.

The warm-up runs inside an app-test script (the caches need Streamlit's runtime), then the pages run with the
expensive computations replaced by functions that fail: a page that still computes one shows an exception.
"""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.browser_support import REPO, copy_checkpoints
from ui.session import SLOT_KEYS

TIMEOUT = 300
WARM_SCRIPT = """
from ui import warmup
warmup.warm(wait=lambda: None)
"""
# What the warm-up computes for each page, and must never be computed again while the page renders.
EXPENSIVE = {
    "pages/per_digit.py": [("aecore.stats", "interval_table"), ("aecore.stats", "paired_difference")],
    "pages/latent_space.py": [("aecore.latent", "neighbourhood_agreement"),
                              ("aecore.latent_quality", "per_point_trustworthiness"), ("aecore.inference", "encode"),
                              ("aecore.projection", "compute_projection")],
    "pages/latent_quality.py": [("aecore.latent_quality", "latent_quality_table")],
    "pages/robustness.py": [("aecore.robustness", "robustness_curves"), ("aecore.robustness", "growth_per_image")],
}  # fmt: skip


@pytest.fixture(scope="module")
def warmed(tmp_path_factory):
    root = copy_checkpoints(tmp_path_factory.mktemp("warmup") / "checkpoints")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AECORE_CHECKPOINTS", str(root))
        at = AppTest.from_string(WARM_SCRIPT, default_timeout=TIMEOUT).run()
        assert not at.exception, at.exception[0].value
        yield root


@pytest.mark.slow
@pytest.mark.parametrize("swapped", [False, True], ids=["default order", "after Swap A and B"])
@pytest.mark.parametrize("page", list(EXPENSIVE))
def test_a_page_renders_from_what_the_warm_up_computed(warmed, page, swapped, monkeypatch):
    """The warm-up computes for the default order; after "Swap A and B" the slots find the same runs' results too
    (the paired difference read reversed, the statistics of the same set of runs renamed)."""
    import importlib

    monkeypatch.setenv("AECORE_CHECKPOINTS", str(warmed))

    def recomputed(*args, **kwargs):
        raise AssertionError("computed again although the warm-up had computed it")

    for module, name in EXPENSIVE[page]:
        monkeypatch.setattr(importlib.import_module(module), name, recomputed)
    at = AppTest.from_file(str(REPO / "dashboard.py"), default_timeout=TIMEOUT).run()
    if swapped:
        before = {slot: at.session_state[key] for slot, key in SLOT_KEYS.items()}
        at.button(key="slot_swap").click().run()
        assert {slot: at.session_state[key] for slot, key in SLOT_KEYS.items()} == {"A": before["B"], "B": before["A"]}
    at.switch_page(page).run()
    assert not at.exception, f"{page}: {at.exception[0].value}"


def test_the_server_uses_one_torch_and_blas_thread_and_app_tests_start_no_warm_up_thread(tmp_path, monkeypatch):
    import threading

    import torch
    from threadpoolctl import threadpool_info

    from ui.warmup import SERVER_BLAS_THREADS, SERVER_TORCH_THREADS, THREAD_NAME

    monkeypatch.setenv("AECORE_CHECKPOINTS", str(copy_checkpoints(tmp_path / "checkpoints")))
    at = AppTest.from_file(str(REPO / "dashboard.py"), default_timeout=TIMEOUT).run()
    assert not at.exception
    assert torch.get_num_threads() == SERVER_TORCH_THREADS
    assert {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"} == {SERVER_BLAS_THREADS}
    assert THREAD_NAME not in {t.name for t in threading.enumerate()}


def test_the_warm_up_has_nothing_to_do_without_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("AECORE_CHECKPOINTS", str(tmp_path))
    at = AppTest.from_string(WARM_SCRIPT, default_timeout=TIMEOUT).run()
    assert not at.exception


def test_the_warm_up_goes_on_at_once_when_idle_and_waits_out_a_running_script(monkeypatch):
    from ui import warmup

    monkeypatch.setattr(warmup, "IDLE_CHECK_SECONDS", 0.0)
    seen: list[bool] = []

    def answers(*states: bool):
        queue = list(states)

        def running() -> bool:
            seen.append(queue[0] if len(queue) == 1 else queue.pop(0))
            return seen[-1]

        return running

    warmup._wait_until_scripts_idle(answers(False))
    assert seen == [False], "idle: the next step starts without sleeping"
    seen.clear()
    # running, running, idle, running again (a rerun right after the run), then idle twice in a row
    warmup._wait_until_scripts_idle(answers(True, True, False, True, False, False))
    assert seen == [True, True, False, True, False, False]

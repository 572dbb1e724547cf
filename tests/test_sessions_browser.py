"""The dashboard in real Chromium: text from run files never fetches anything, two browser sessions stay apart
while one trains, and SIGTERM to the server during a job ends it cleanly.

Each server runs on a private copy of a few shipped runs ($AECORE_CHECKPOINTS); the repository is never touched.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

from aecore.config import RunConfig
from tests.browser_support import (
    APP_TIMEOUT_MS,
    ARTIFACTS,
    REPO,
    assert_no_exception,
    go_to,
    open_dashboard,
    screenshot,
    start_dashboard,
    stop_dashboard,
)
from ui.navigation import PAGES

pytestmark = [pytest.mark.browser, pytest.mark.slow]

MLP, CONV = RunConfig.for_recipe("mlp").run_id, RunConfig.for_recipe("conv").run_id
NARROW_MLP = RunConfig.for_recipe("mlp", bottleneck=8).run_id
LEAK_HOST = "leak.invalid"
DESCRIPTION = f"![i](http://{LEAK_HOST}/description.png)"
BROKEN_NAME = f"![i](http://{LEAK_HOST}/reason.png)"
JOB_TIMEOUT_S = 400


def edit_run(folder: Path, edit) -> None:
    record = json.loads((folder / "run.json").read_text())
    edit(record)
    (folder / "run.json").write_text(json.dumps(record))


def copy_runs(root: Path, *names: str) -> Path:
    root.mkdir(parents=True)
    for name in names:
        shutil.copytree(REPO / "checkpoints" / name, root / name)
    return root


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The default MLP (described by a markdown image) and conv runs, and a run unreadable because of a markdown
    image in its dataset name (the reason quotes it)."""
    root = copy_runs(tmp_path_factory.mktemp("sessions") / "checkpoints", MLP, CONV, NARROW_MLP)
    edit_run(root / MLP, lambda r: r["dataset"].update(description=DESCRIPTION))
    edit_run(root / NARROW_MLP, lambda r: r["dataset"].update(name=BROKEN_NAME))
    dashboard = start_dashboard(root, ARTIFACTS / "test_sessions_browser-server.log")
    yield dashboard
    stop_dashboard(dashboard)


def new_tab(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    return context, context.new_page()


def sidebar(page):
    return page.locator('[data-testid="stSidebar"]')


def main_text(page) -> str:
    return page.locator('[data-testid="stMain"]').inner_text()


# --- text from run files is text -----------------------------------------------------------------------------


def test_markdown_in_run_files_is_shown_as_text_and_never_fetched(server, browser):
    context, page = new_tab(browser)
    fetched = []

    def watch(route) -> None:
        if urlparse(route.request.url).hostname == LEAK_HOST:
            fetched.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    context.route("**/*", watch)
    try:
        open_dashboard(page, server, "Test MSE")
        assert not fetched, f"the browser fetched {fetched}"
        assert DESCRIPTION in main_text(page), "the description is shown, as its own characters"
        unreadable = sidebar(page).get_by_text("unreadable run folder", exact=False)
        unreadable.click()
        reason = sidebar(page).locator('[data-testid="stText"]').filter(has_text=NARROW_MLP).first
        assert BROKEN_NAME in reason.inner_text(timeout=APP_TIMEOUT_MS), "the reason is shown as plain text"
        for entry in PAGES:
            go_to(page, entry.title)
            assert_no_exception(page, entry.title)
            # Anything that loads by itself (an image, a frame, a stylesheet). A bare URL in text does become a
            # link (GitHub-flavoured markdown autolinks it even when escaped), which loads nothing until clicked.
            loading = page.locator(f'[src*="{LEAK_HOST}"], [srcset*="{LEAK_HOST}"], link[href*="{LEAK_HOST}"]')
            assert loading.count() == 0, f"{entry.title}: text from a run file became an image"
        assert not fetched, f"the browser fetched {fetched}"
    finally:
        context.close()


# --- sessions stay apart -------------------------------------------------------------------------------------

TINY = {
    "Epochs": "30",
    "Batch size": "16",
    "Seeds": "11",  # ~30-90 s on 2 busy cores: long enough to be watched
    "Train on the first N images only": "4500",
}
TINY_CONFIG = RunConfig.for_recipe("mlp", epochs=30, batch_size=16, seed=11, train_limit=4500)


def picker(page, slot: str) -> str:
    return sidebar(page).get_by_role("combobox", name=f"Run {slot}").input_value()


def start_training(page, fields: dict[str, str], slot: str) -> None:
    form = sidebar(page)
    for label, value in fields.items():
        field = form.get_by_label(label, exact=True)
        field.fill(value)
        field.press("Tab")
    form.locator('[data-testid="stRadio"]').filter(has_text="Into slot").get_by_text(slot, exact=True).click()
    form.get_by_role("button", name="Train", exact=True).click()


def test_a_job_from_one_session_is_seen_but_not_adopted_by_another(server, browser):
    starter_context, starter = new_tab(browser)
    watcher_context, watcher = new_tab(browser)
    try:
        open_dashboard(starter, server, "Test MSE")
        open_dashboard(watcher, server, "Test MSE")
        before = {slot: picker(watcher, slot) for slot in "AB"}
        assert {slot: picker(starter, slot) for slot in "AB"} == before and "seed 11" not in before["B"]

        start_training(starter, TINY, "B")
        panel = starter.locator(".st-key-job_panel")
        panel.get_by_text(TINY_CONFIG.run_id, exact=False).wait_for(timeout=APP_TIMEOUT_MS)
        job = re.search(r"Job (\d+): training", panel.inner_text()).group(1)
        assert "started here, into slot B" in panel.inner_text()

        go_to_while_training(watcher, "Training curves")  # the watcher's next rerun shows every running job
        seen = watcher.locator(".st-key-job_panel")
        seen.get_by_text(f"Job {job}: training {TINY_CONFIG.run_id}", exact=False).wait_for(timeout=APP_TIMEOUT_MS)
        assert "started in another browser tab or session" in seen.inner_text()
        assert seen.get_by_role("button", name=f"Cancel job {job}").is_visible(), "no Cancel button naming the job"
        screenshot(watcher, "sessions-watcher-sees-the-job")

        done = starter.locator(".st-key-job_result").get_by_text("Trained and saved", exact=False)
        done.wait_for(timeout=JOB_TIMEOUT_S * 1000)
        assert TINY_CONFIG.run_id in done.inner_text() and "now in slot B" in done.inner_text()
        assert "seed 11" in picker(starter, "B") and picker(starter, "A") == before["A"], "only slot B takes the run"

        seen.wait_for(state="detached", timeout=APP_TIMEOUT_MS)  # the watcher's panel reran once the job ended
        assert {slot: picker(watcher, slot) for slot in "AB"} == before, "a job started elsewhere changed the slots"
        assert watcher.locator(".st-key-job_result").count() == 0, "the result belongs to the session that started it"
        assert_no_exception(watcher, "watcher after the job")
        assert_no_exception(starter, "starter after the job")
    finally:
        starter_context.close()
        watcher_context.close()


def go_to_while_training(page, title: str) -> None:
    """Click a page link while a job runs (the panel reruns twice a second, so wait for the title, not idleness)."""
    page.locator('[data-testid="stSidebarNav"]').get_by_text(title, exact=True).first.click()
    page.locator('[data-testid="stMain"] h1').filter(has_text=title.split()[0]).first.wait_for(timeout=APP_TIMEOUT_MS)


# --- SIGTERM during a job ------------------------------------------------------------------------------------

# Minutes of training: still running when the signal comes.
LONG = {"Epochs": "300", "Seeds": "12", "Train on the first N images only": "4500"}


def entries(root: Path) -> dict[str, list[str]]:
    """Every entry under the root (hidden ones included), as {folder: sorted file names}."""
    return {p.name: sorted(q.name for q in p.iterdir()) if p.is_dir() else [] for p in sorted(root.iterdir())}


def process_group_ends(group: int, timeout_s: float) -> bool:
    """Whether every process in `group` (the server and the worker it started) is gone within `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)  # polling a condition, not waiting a fixed time
    return False


def test_sigterm_during_a_job_ends_the_server_cleanly_and_leaves_no_partial_run(browser, tmp_path):
    root = copy_runs(tmp_path / "checkpoints", MLP, CONV)
    log = ARTIFACTS / "test_sessions_browser-sigterm-server.log"
    dashboard = start_dashboard(root, log)
    context, page = new_tab(browser)
    try:
        open_dashboard(page, dashboard, "Test MSE")
        before = entries(root)
        start_training(page, LONG, "A")
        page.locator(".st-key-job_panel").get_by_text("Batch ", exact=False).wait_for(timeout=APP_TIMEOUT_MS)
        os.kill(dashboard.process.pid, signal.SIGTERM)
        code = dashboard.process.wait(timeout=60)
        assert process_group_ends(dashboard.process.pid, timeout_s=60), "a worker process outlived the server"
    finally:
        context.close()
        stop_dashboard(dashboard)
    output = log.read_text(errors="replace")
    assert code == 0, f"exit code {code}:\n{output[-3000:]}"
    for sign in ("Traceback", "Fatal Python error", "Aborted", "core dumped"):
        assert sign not in output, f"{sign!r} in the server log:\n{output[-3000:]}"
    after = entries(root)
    visible = {name for name in after if not name.startswith(".")}
    assert visible == {name for name in before if not name.startswith(".")}, "a new run folder appeared"
    leftovers = [name for name in after if name.startswith((".tmp-", ".trash-"))]
    leftovers += [f"{folder}/{name}" for folder, names in after.items() for name in names if name.startswith(".tmp-")]
    assert not leftovers, f"partial files left: {leftovers}"

"""Reusable pieces for browser tests: run the dashboard on a free port, drive it in Debian's Chromium.

Any test file can use the fixtures (`dashboard`, `browser`, `page`; registered for the whole suite
through `pytest_plugins` in conftest.py) or the plain functions below. Chromium missing means a
skip on a developer machine and a failure under CI=true, where the browser tests must run.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "test-artifacts"  # screenshots and server logs; gitignored
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
EXCEPTION_BOX = '[data-testid="stException"]'
APP_TIMEOUT_MS = 90_000  # first render imports torch and reads the data on 2 busy cores


def chromium_path() -> str:
    """Path of Chromium, or skip (locally) / fail (CI=true) the calling test when it is missing."""
    path = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if path:
        return path
    message = f"Chromium not found at {CHROMIUM} or on PATH (Debian: apt-get install chromium)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}; browser tests are required in CI")
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def copy_checkpoints(target: Path) -> Path:
    """A private copy of the shipped runs, so a test can train or break runs without touching the repo."""
    shutil.copytree(REPO / "checkpoints", target, ignore=shutil.ignore_patterns(".*"))
    return target


@dataclass
class DashboardServer:
    url: str
    process: subprocess.Popen
    checkpoints: Path
    log_path: Path

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def start_dashboard(checkpoints: Path, log_path: Path, timeout: float = 120.0) -> DashboardServer:
    """`python -m ui.serve` (what `make run` starts: `streamlit run dashboard.py` with the Host check on every
    endpoint) headless on a free port with AECORE_CHECKPOINTS=`checkpoints`.

    Returns once /_stcore/health answers "ok"; raises RuntimeError with the server log otherwise.
    """
    port = free_port()
    env = {**os.environ, "AECORE_CHECKPOINTS": str(checkpoints), "PYTHONUNBUFFERED": "1"}
    command = [
        sys.executable, "-m", "ui.serve",
        "--server.headless", "true", "--server.port", str(port), "--server.address", "127.0.0.1",
        "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
    ]  # fmt: skip
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = DashboardServer(f"http://127.0.0.1:{port}", process, checkpoints, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"dashboard exited with code {process.returncode}:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(f"{server.url}/_stcore/health", timeout=2) as response:
                if response.read().decode().strip() == "ok":
                    return server
        except OSError:
            pass
        time.sleep(0.3)
    stop_dashboard(server)
    raise RuntimeError(f"dashboard did not become healthy in {timeout:.0f} s:\n{server.log_tail()}")


def stop_dashboard(server: DashboardServer) -> None:
    """Stop the server's whole process group (it was started in a session of its own)."""
    if server.process.poll() is None:
        os.killpg(server.process.pid, signal.SIGTERM)
        try:
            server.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait(timeout=15)


def launch_chromium(playwright):
    return playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True)


# --- driving a page ----------------------------------------------------------------------------------


def wait_for_app(page, text: str | None = None, timeout_ms: int = APP_TIMEOUT_MS) -> None:
    """Wait until the app has drawn its frame and, when given, `text` is visible in the main area."""
    page.wait_for_selector('[data-testid="stSidebar"]', timeout=timeout_ms)
    if text is not None:
        page.locator('[data-testid="stMain"]').get_by_text(text, exact=False).first.wait_for(timeout=timeout_ms)
    wait_until_idle(page, timeout_ms)


def wait_until_idle(page, timeout_ms: int = APP_TIMEOUT_MS) -> None:
    """Wait until the script has finished: no script running, "running" widget, spinner, element left from the
    previous run, element whose code is loading, loading image or undrawn chart for 1 s in a row.

    (While a training job runs, its panel reruns every half second; wait for text instead then.)
    """
    # The idle time counts from this call: a window left from an earlier wait would let a wait right after a click
    # return before the rerun the click started has shown in the page.
    page.evaluate("() => { window.__idleSince = undefined; }")
    page.wait_for_function(
        """() => {
            // stSkeleton: an element whose code is still loading (the first chart of a session waits for plotly).
            // The status widget and spinners show only after a delay, so a short rerun is also told by the app's
            // script state and by the previous run's elements still on screen (data-stale).
            const app = document.querySelector('[data-testid="stApp"]');
            const busy = (app && app.dataset.testScriptState === 'running') || document.querySelector(
                '[data-testid="stStatusWidget"], [data-testid="stSpinner"], [data-testid="stSkeleton"], '
                + '[data-stale="true"]');
            const charts = [...document.querySelectorAll('[data-testid="stPlotlyChart"]')];
            const loading = [...document.images].some((img) => !img.complete)
                || charts.some((chart) => !chart.querySelector('.main-svg'));
            if (busy || loading) { window.__idleSince = undefined; return false; }
            window.__idleSince = window.__idleSince || Date.now();
            return Date.now() - window.__idleSince > 1000;
        }""",
        timeout=timeout_ms,
        polling=200,
    )


def open_dashboard(page, server: DashboardServer, text: str | None = None) -> None:
    page.goto(server.url, timeout=APP_TIMEOUT_MS)
    wait_for_app(page, text)


def go_to(page, title: str, text: str | None = None) -> None:
    """Click the sidebar navigation link `title` (same session, like a user), wait for its URL, then `text`."""
    link = page.locator('[data-testid="stSidebarNavLink"]').filter(has_text=title).first
    target = link.get_attribute("href")
    link.click()
    if target:  # the old page stays on screen (and idle) until the new one's run starts
        page.wait_for_url(target, timeout=APP_TIMEOUT_MS)
    wait_for_app(page, text)


def choose(page, combobox, option: str) -> None:
    """Pick `option` in a select box. A rerun that redraws the sidebar can close the list that a click opened, so
    open it again until the choice shows (a condition, not a sleep)."""
    for _ in range(5):
        combobox.click()
        item = page.get_by_role("option", name=option, exact=True)
        try:
            item.click(timeout=5_000)
        except Exception:  # the list closed before it could be clicked: open it again
            continue
        if combobox.input_value() == option:
            return
    assert combobox.input_value() == option, f"could not choose {option}"


def exception_messages(page) -> list[str]:
    """The text of every exception box on the page (empty when the page rendered cleanly)."""
    return [box.inner_text() for box in page.locator(EXCEPTION_BOX).all()]


def assert_no_exception(page, where: str) -> None:
    messages = exception_messages(page)
    assert not messages, f"{where} shows an exception: {messages[0][:500]}"


def screenshot(page, name: str) -> Path:
    """Save a full-page screenshot to test-artifacts/<name>.png and return its path."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


# --- fixtures ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory, request) -> Iterator[DashboardServer]:
    """A dashboard server per test module, on a private copy of the shipped runs."""
    chromium_path()  # no server without a browser to drive it
    base = tmp_path_factory.mktemp("dashboard")
    name = Path(request.module.__file__).stem
    server = start_dashboard(copy_checkpoints(base / "checkpoints"), ARTIFACTS / f"{name}-server.log")
    yield server
    stop_dashboard(server)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    chromium_path()
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    """A fresh browser tab (1400×1000) per test."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = context.new_page()
    yield tab
    context.close()

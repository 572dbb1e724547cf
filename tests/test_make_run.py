"""SIGTERM and SIGINT to `make run` (issue 19, item 14): the server stops cleanly, with the warm-up thread still busy
in torch: "Stopping...", no "terminate called", no "Aborted", no traceback, and make reports no failed recipe (it
does when its child dies of a signal)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.request

import pytest

from tests.browser_support import REPO, free_port, wait_for_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]
START_TIMEOUT_S = 180


@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_14_a_signal_to_make_run_stops_the_server_cleanly(number, tmp_path, browser):
    # `browser` is the session's Chromium (tests/browser_support.py): a second sync_playwright() in the same
    # process fails while the first is open.
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "AECORE_CHECKPOINTS": str(REPO / "checkpoints")}
    # -o: never rebuild the virtual environment from here, only run the server as `make run` does.
    make = subprocess.Popen(["make", "-o", ".venv/bin/activate", "run", f"PORT={port}"], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert make.poll() is None and time.monotonic() < deadline, "the server did not start"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as response:
                    if response.read() == b"ok":
                        break
            except OSError:
                time.sleep(0.3)
        context = browser.new_context()
        try:
            page = context.new_page()
            page.goto(f"http://127.0.0.1:{port}", timeout=START_TIMEOUT_S * 1000)
            wait_for_app(page, "Test MSE")  # the session's first run has started the warm-up thread
            os.killpg(make.pid, number)  # what a terminal's Ctrl+C, a service manager or `kill -- -PGID` does
            output, _ = make.communicate(timeout=120)
        finally:
            context.close()
    finally:
        if make.poll() is None:
            os.killpg(make.pid, signal.SIGKILL)
            make.wait()
    text = output.decode(errors="replace")
    assert "Stopping..." in text, text[-2000:]
    for bad in ("terminate called", "Aborted", "Traceback", "make: ***", "core dumped"):
        assert bad not in text, f"{bad!r} in the output of make run:\n{text[-2000:]}"

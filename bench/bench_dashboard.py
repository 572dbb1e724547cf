"""The dashboard in Chromium: home, a page switch and the latent page, against a bare Streamlit app.

Both servers start the same way (tests/browser_support.py: `streamlit run` headless on a free port)
and are timed from "server healthy" to "page rendered": the expected text is on screen, no script
is running, every image has loaded and every chart is drawn. The bare app's first render is the
reference for the home page; its button rerun (the cheapest possible round trip) for page switches.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import REPO, Row, markdown_table

from tests import browser_support as bs

BARE_APP = Path(__file__).resolve().parent / "bare_app.py"
HOME_TEXT = "MLP vs convolutional autoencoder on MNIST"
SWITCH_TO, SWITCH_TEXT = "Per-digit error", "Per-digit error"
LATENT_TITLE, LATENT_TEXT = "Latent space", "Latent space"

# Argument `text` or [text, heading]. True once `text` is in the main area (in an h1 when `heading`:
# a page's title, which the previous page cannot already show) and the script has settled: nothing
# running, images loaded, charts drawn. Same conditions as browser_support.wait_until_idle, without
# its 1 s quiet period.
RENDERED_JS = """(arg) => {
    const [text, heading] = Array.isArray(arg) ? arg : [arg, false];
    const main = document.querySelector('[data-testid="stMain"]');
    if (!main) return false;
    const places = heading ? [...main.querySelectorAll('h1')] : [main];
    if (!places.some((place) => place.innerText.includes(text))) return false;
    if (document.querySelector('[data-testid="stStatusWidget"], [data-testid="stSpinner"]')) return false;
    const charts = [...document.querySelectorAll('[data-testid="stPlotlyChart"]')];
    if (charts.some((chart) => !chart.querySelector('.main-svg'))) return false;
    return ![...document.images].some((img) => !img.complete);
}"""


def rendered_after(page, action, text: str, heading: bool = True) -> float:
    """Seconds from `action()` until `text` is rendered (as a page title, when `heading`) and settled."""
    started = time.perf_counter()
    action()
    page.wait_for_function(RENDERED_JS, arg=[text, heading], polling=25, timeout=bs.APP_TIMEOUT_MS)
    return time.perf_counter() - started


def start_bare_app(log_path: Path) -> bs.DashboardServer:
    """The bare app, started exactly as browser_support starts the dashboard."""
    port = bs.free_port()
    command = [
        sys.executable, "-m", "streamlit", "run", str(BARE_APP),
        "--server.headless", "true", "--server.port", str(port), "--server.address", "127.0.0.1",
        "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
    ]  # fmt: skip
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    server = bs.DashboardServer(f"http://127.0.0.1:{port}", process, Path(), log_path)
    _wait_healthy(server)
    return server


def _wait_healthy(server: bs.DashboardServer, timeout: float = 120.0) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{server.url}/_stcore/health", timeout=2) as response:
                if response.read().decode().strip() == "ok":
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the bare app did not become healthy:\n{server.log_tail()}")


def measure_bare(browser, work: Path) -> dict:
    server = start_bare_app(work / "bare.log")
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        home = rendered_after(page, lambda: page.goto(server.url), "script runs: 1", heading=False)
        again = page.get_by_role("button", name="Again")
        rerun = rendered_after(page, again.click, "script runs: 2", heading=False)
        page.close()
        return {"home": home, "rerun": rerun}
    finally:
        bs.stop_dashboard(server)


def measure_dashboard(browser, work: Path) -> dict:
    server = bs.start_dashboard(bs.copy_checkpoints(work / "checkpoints"), work / "dashboard.log")
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        home = rendered_after(page, lambda: page.goto(server.url), HOME_TEXT)
        nav = page.locator('[data-testid="stSidebarNav"]')
        switch = rendered_after(page, lambda: nav.get_by_text(SWITCH_TO, exact=True).first.click(), SWITCH_TEXT)
        latent = rendered_after(page, lambda: nav.get_by_text(LATENT_TITLE, exact=True).first.click(), LATENT_TEXT)
        errors = bs.exception_messages(page)
        page.close()
        return {"home": home, "switch": switch, "latent": latent, "exceptions": errors}
    finally:
        bs.stop_dashboard(server)


def rows(bare: dict, dash: dict) -> list[Row]:
    def timed(name: str, seconds: float, reference: float, ref_name: str, limit: float) -> Row:
        ratio = seconds / reference
        return Row(
            bench=f"dashboard: {name}",
            reference=f"bare app {ref_name} {reference:.2f} s",
            measured=f"{seconds:.2f} s",
            ratio=f"{ratio:.2f}x",
            target=f"<= {limit:g} s and <= 1.5x",
            met=seconds <= limit and ratio <= 1.5,
        )

    note = f"exceptions on screen: {dash['exceptions'][0][:200]}" if dash["exceptions"] else ""
    return [
        timed("server ready -> home rendered", dash["home"], bare["home"], "first render", 3),
        timed("page switch (Overview -> Per-digit error)", dash["switch"], bare["rerun"], "button rerun", 1),
        timed("latent page, cached projections", dash["latent"], bare["rerun"], "button rerun", 2)
        if not note
        else Row("dashboard: latent page", "-", "exception", "", "renders", False, note=note),
    ]


def main(smoke: bool = False) -> dict:
    """`smoke` is accepted for symmetry; the bench is the same, a few seconds of browser time."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="bench-dashboard-") as tmp, sync_playwright() as playwright:
        browser = bs.launch_chromium(playwright)
        try:
            bare = measure_bare(browser, Path(tmp))
            dash = measure_dashboard(browser, Path(tmp))
        finally:
            browser.close()
    return {"rows": rows(bare, dash), "raw": {"bare": bare, "dashboard": dash}}


if __name__ == "__main__":
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    out = main()
    print(markdown_table(out["rows"]))
    print(json.dumps(out["raw"], indent=1))

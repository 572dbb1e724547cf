"""The dashboard in Chromium: home, page switches, the latent page and switches during training, against
a bare Streamlit app.

Both servers start the same way (tests/browser_support.py: `streamlit run` headless on a free port)
and are timed from "server healthy" to "page rendered": the expected text is on screen, no script
is running, every image has loaded and every chart is drawn. The bare app's first render is the
reference for the home page; its button rerun (the cheapest possible round trip) for page switches.

After the home page the bench waits until the server is idle (its background warm-up of the default
runs' caches has finished; the time it took is a row of its own), then times the first visits of the
Per-digit error and Latent space pages. Then, on the same server, the page switches Overview <->
Per-digit error are timed idle and again while a training job (an MLP for 500 epochs, started from the
sidebar and cancelled at the end) runs in the worker process: the idle switches are the reference for
the busy ones. Each is the median of SWITCHES switches; every page has been visited once before, so
both sets hit the same caches.

Last, a pair other than the shipped defaults (PAIR: MLP b=8 in slot A, the conv net of seed 1 in slot B), on a
server of its own, twice: with run folders that lack what aecore.precompute stores (the reference: what a visitor
met before it existed) and with it stored (what `migrate` and the job worker write). Each server has finished its
warm-up and rendered the Overview of the pair before the first visits of Per-digit error and Latent space are timed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import REPO, Row, markdown_table

from tests import browser_support as bs

BARE_APP = Path(__file__).resolve().parent / "bare_app.py"
HOME_TEXT = "Autoencoders side by side"
SWITCH_TO, SWITCH_TEXT = "Per-digit error", "Per-digit error"
LATENT_TITLE, LATENT_TEXT = "Latent space", "Latent space"
SWITCHES = 4  # page switches timed idle, and again during training (medians)
HOME_RATIO, SWITCH_RATIO, LATENT_RATIO, BUSY_RATIO, WORST_RATIO = 2.0, 1.5, 3.0, 1.5, 3.0
LATENT_SECONDS = 1.0
JOB_FIELDS = {"train_epochs": "500", "train_seeds": "7"}  # an MLP run long enough to outlast the switches
# The non-default pair, by config fields (any run folder with them): slot A, slot B
PAIR = ({"model": "mlp", "bottleneck": 8, "seed": 0, "recipe": "onecycle", "dataset": "mnist"},
        {"model": "conv", "bottleneck": 2, "seed": 1, "recipe": "onecycle", "dataset": "mnist"})  # fmt: skip
PAIR_SECONDS = {SWITCH_TO: 3.0, LATENT_TITLE: 5.0}  # the targets for a non-default pair's first visits

# Argument `text` or [text, heading]. True once `text` is in the main area (in an h1 when `heading`:
# a page's title, which the previous page cannot already show) and the script has settled: the app
# says its script is not running, no spinner, every element's code loaded, images loaded, charts drawn. Until
# 2026-12-05 it did not wait for element code: the home page counted as rendered while its three charts were still
# grey placeholders waiting for plotly's 4.7 MB chunk, ~1.4 s too early. The running-man status
# widget is not enough: Streamlit shows it only after a delay, so a page that draws its title first
# looked finished while its script was still running.
RENDERED_JS = """(arg) => {
    const [text, heading] = Array.isArray(arg) ? arg : [arg, false];
    const main = document.querySelector('[data-testid="stMain"]');
    if (!main) return false;
    const app = document.querySelector('[data-testid="stApp"]');
    if (!app || app.dataset.testScriptState !== 'notRunning') return false;
    const places = heading ? [...main.querySelectorAll('h1')] : [main];
    if (!places.some((place) => place.innerText.includes(text))) return false;
    // stSkeleton: an element whose code the browser is still loading (the first chart of a session waits for plotly)
    const busy = '[data-testid="stStatusWidget"], [data-testid="stSpinner"], [data-testid="stSkeleton"]';
    if (document.querySelector(busy)) return false;
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
        warm = wait_until_idle(server.process.pid)
        switch = go(page, SWITCH_TO, SWITCH_TEXT)
        latent = go(page, LATENT_TITLE, LATENT_TEXT)
        errors = bs.exception_messages(page)
        go(page, "Overview", HOME_TEXT)
        idle = switches(page)
        tour(page)  # first visits of the other pages: some compute what the warm-up left out
        every_page = tour(page)
        start_training(page)
        busy = switches(page)
        job = page.evaluate("() => document.querySelector('.st-key-job_panel')?.innerText ?? ''")
        page.locator(".st-key-job_cancel button").click()
        page.close()
        return {"home": home, "warm_up": warm, "switch": switch, "latent": latent, "idle_switches": idle,
                "every_page": every_page, "busy_switches": busy, "job_still_running": "Batch" in job,
                "exceptions": errors}  # fmt: skip
    finally:
        bs.stop_dashboard(server)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all its threads (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_until_idle(pid: int, share: float = 0.05, window: float = 1.0, timeout: float = 600.0) -> float:
    """Seconds until the server uses under `share` of a core over `window` seconds: its warm-up is done."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        before = cpu_seconds(pid)
        time.sleep(window)
        if cpu_seconds(pid) - before < share * window:
            break
    return time.perf_counter() - started - window


def go(page, title: str, text: str) -> float:
    """Seconds from a click on the sidebar link `title` until the page's title `text` is rendered and settled."""
    nav = page.locator('[data-testid="stSidebarNav"]')
    return rendered_after(page, lambda: nav.get_by_text(title, exact=True).first.click(), text)


def switches(page) -> list[float]:
    """SWITCHES page switches, alternating Per-digit error and Overview (starting on the Overview)."""
    targets = [(SWITCH_TO, SWITCH_TEXT), ("Overview", HOME_TEXT)]
    return [go(page, *targets[i % 2]) for i in range(SWITCHES)]


def tour(page) -> dict[str, float]:
    """{page: seconds} for a switch to every page in menu order from the Overview, and back to the Overview last."""
    from ui.navigation import PAGES

    titles = [entry.title for entry in PAGES if entry.title != "Overview"] + ["Overview"]
    return {title: go(page, title, HOME_TEXT if title == "Overview" else title) for title in titles}


def start_training(page) -> None:
    """Start the train form's job (blank fields but JOB_FIELDS) and wait until its batches are running."""
    for key, value in JOB_FIELDS.items():
        page.locator(f".st-key-{key} input").fill(value)
    page.locator(".st-key-train_submit button").click()
    confirm = page.locator(".st-key-train_confirm button")
    panel = page.locator(".st-key-job_panel")
    panel.or_(confirm).first.wait_for(timeout=bs.APP_TIMEOUT_MS)
    if confirm.count():
        confirm.click()
    page.wait_for_function(
        "() => (document.querySelector('.st-key-job_panel')?.innerText ?? '').includes('Batch')",
        polling=100, timeout=bs.APP_TIMEOUT_MS,
    )  # fmt: skip


def pair_runs(root: Path) -> list:
    """The runs of PAIR under `root` (RunInfo, slot A first); raises LookupError when one is missing."""
    from aecore.runstore import list_runs

    runs = list_runs(root)[0]
    found = []
    for fields in PAIR:
        match = [r for r in runs if all(getattr(r.config, k) == v for k, v in fields.items())]
        if not match:
            raise LookupError(f"no run with {fields} in {root}")
        found.append(match[0])
    return found


def measure_pair(browser, work: Path, precomputed: bool) -> dict:
    """First visits of Per-digit error and Latent space for PAIR on a fresh server whose run folders lack (or hold)
    what aecore.precompute stores for the pair's runs."""
    import shutil

    from aecore import precompute
    from aecore.compare import picker_label
    from aecore.data import load_dataset
    from aecore.projection import CACHE_FOLDER

    root = bs.copy_checkpoints(work / f"pair-{precomputed}" / "checkpoints")
    runs = pair_runs(root)
    for info in runs:
        shutil.rmtree(info.path / precompute.FOLDER, ignore_errors=True)
        if precomputed:
            precompute.precompute_run(info, load_dataset(info.config.dataset))
        else:
            shutil.rmtree(info.path / CACHE_FOLDER, ignore_errors=True)
    server = bs.start_dashboard(root, work / f"pair-{precomputed}.log")
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        rendered_after(page, lambda: page.goto(server.url), HOME_TEXT)
        wait_until_idle(server.process.pid)
        for slot, info in zip("AB", runs, strict=True):
            choose(page, page.get_by_role("combobox", name=f"Run {slot}"), picker_label(info))
        page.wait_for_function(RENDERED_JS, arg=[HOME_TEXT, True], polling=25, timeout=bs.APP_TIMEOUT_MS)
        wait_until_idle(server.process.pid)
        result = {title: go(page, title, title) for title in (SWITCH_TO, LATENT_TITLE)}
        result["exceptions"] = bs.exception_messages(page)
        page.close()
        return result
    finally:
        bs.stop_dashboard(server)


def choose(page, combobox, option: str) -> None:
    """Pick `option` in a select box (opened again when a rerun closed the list before the click)."""
    for _ in range(5):
        combobox.click()
        try:
            page.get_by_role("option", name=option, exact=True).click(timeout=5_000)
        except Exception:  # the list closed before it could be clicked: open it again
            continue
        if combobox.input_value() == option:
            return
    raise RuntimeError(f"could not choose {option}")


def pair_rows(before: dict, after: dict) -> list[Row]:
    """The non-default pair's first visits with the precomputed values against without them (same bench run)."""
    errors = before.get("exceptions") or after.get("exceptions")
    if errors:
        return [Row("dashboard: non-default pair", "-", "exception", "", "renders", False, note=errors[0][:200])]
    out = []
    for title, limit in PAIR_SECONDS.items():
        seconds, reference = after[title], before[title]
        out.append(Row(
            f"dashboard: first visit of {title}, non-default pair (MLP b=8 / conv seed 1), precomputed run values",
            f"same, without them {reference:.2f} s", f"{seconds:.2f} s", f"{seconds / reference:.2f}x",
            f"<= {limit:g} s", seconds <= limit,
        ))  # fmt: skip
    return out


def rows(bare: dict, dash: dict) -> list[Row]:
    def row(name: str, seconds: float, reference: float, ref_name: str, ratio_limit: float,
            seconds_limit: float | None = None, note: str = "") -> Row:  # fmt: skip
        ratio = seconds / reference
        target = f"<= {ratio_limit:g}x" + (f" and <= {seconds_limit:g} s" if seconds_limit else "")
        met = ratio <= ratio_limit and (seconds_limit is None or seconds <= seconds_limit)
        return Row(f"dashboard: {name}", f"{ref_name} {reference:.2f} s", f"{seconds:.2f} s", f"{ratio:.2f}x",
                   target, met, note=note)  # fmt: skip

    if dash["exceptions"]:
        note = f"exceptions on screen: {dash['exceptions'][0][:200]}"
        return [Row("dashboard: home, page switch, latent page", "-", "exception", "", "renders", False, note=note)]
    idle, busy = statistics.median(dash["idle_switches"]), statistics.median(dash["busy_switches"])
    slowest = max(dash["every_page"], key=dash["every_page"].get)
    running = "" if dash["job_still_running"] else "the job had ended before the last switch: rerun on a slower job"
    warm_up = Row(
        "dashboard: home rendered -> server idle (background warm-up of the default runs' caches)",
        "-",
        f"{dash['warm_up']:.1f} s",
        "",
        "-",
        None,
        note="pages visited before it ends compute what they need themselves (or wait for the step running)",
    )
    return [
        row("server ready -> home rendered", dash["home"], bare["home"], "bare app first render", HOME_RATIO),
        warm_up,
        row(
            f"first visit of {SWITCH_TO} (from the Overview, after the warm-up)",
            dash["switch"],
            bare["rerun"],
            "bare app button rerun",
            SWITCH_RATIO,
        ),
        row(
            "first visit of the latent page, cached maps (after the warm-up)",
            dash["latent"],
            bare["rerun"],
            "bare app button rerun",
            LATENT_RATIO,
            LATENT_SECONDS,
        ),
        row(
            f"page switch, idle (median of {SWITCHES}: {SWITCH_TO} and the Overview)",
            idle,
            bare["rerun"],
            "bare app button rerun",
            SWITCH_RATIO,
        ),
        row(
            f"page switch, idle, every page (median of {len(dash['every_page'])})",
            statistics.median(dash["every_page"].values()),
            bare["rerun"],
            "bare app button rerun",
            SWITCH_RATIO,
        ),
        row(
            f"page switch, idle, slowest page ({slowest})",
            dash["every_page"][slowest],
            bare["rerun"],
            "bare app button rerun",
            WORST_RATIO,
        ),
        row(
            f"page switch while a training job runs (median of {SWITCHES})",
            busy,
            idle,
            "idle page switch",
            BUSY_RATIO,
            note=running,
        ),
    ]


def main(smoke: bool = False, parts: tuple[str, ...] = ("pages", "pair")) -> dict:
    """`smoke` is accepted for symmetry; the bench is the same, a few minutes of browser time. `parts`: "pages"
    (home, switches, latent page, against the bare app) and "pair" (the non-default pair, before and after)."""
    from playwright.sync_api import sync_playwright

    out, raw = [], {}
    with tempfile.TemporaryDirectory(prefix="bench-dashboard-") as tmp, sync_playwright() as playwright:
        browser = bs.launch_chromium(playwright)
        try:
            if "pages" in parts:
                raw["bare"] = measure_bare(browser, Path(tmp))
                raw["dashboard"] = measure_dashboard(browser, Path(tmp))
                out += rows(raw["bare"], raw["dashboard"])
            if "pair" in parts:
                raw["pair_before"] = measure_pair(browser, Path(tmp), precomputed=False)
                raw["pair_after"] = measure_pair(browser, Path(tmp), precomputed=True)
                out += pair_rows(raw["pair_before"], raw["pair_after"])
        finally:
            browser.close()
    return {"rows": out, "raw": raw}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", choices=("pages", "pair"), default=["pages", "pair"])
    out = main(parts=tuple(parser.parse_args().parts))
    print(markdown_table(out["rows"]))
    print(json.dumps(out["raw"], indent=1))

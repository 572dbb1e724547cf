"""The dashboard in real Chromium: every page renders without an exception box; error maps draw zero error in the
documented colour; a drawn digit lands on both maps as a star on top; the timeline plays; the Runs page exports
every run; a retrain started from the sidebar shows live progress, survives page switches and ends in its slot.

Screenshots go to test-artifacts/ (a tall window: the main area scrolls inside the page, so a full-page shot of a
short window would cut it); AECORE_UPDATE_SCREENSHOT=1 also refreshes docs/screenshot.png from the Overview.
"""

from __future__ import annotations

import csv
import io
import os
import time

import pytest
from PIL import Image
from playwright.sync_api import expect

from aecore.config import RunConfig
from aecore.runstore import find_run
from tests.browser_support import (
    APP_TIMEOUT_MS,
    REPO,
    assert_no_exception,
    choose,
    go_to,
    open_dashboard,
    screenshot,
    wait_until_idle,
)
from ui.theme import DIGIT_COLOURS, ERROR_ZERO_COLOUR

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# Text near the end of each page: once it is there (and the app is idle), the page has drawn.
LAST_TEXT = {
    "Overview": "Numbers under the reconstructions",
    "Training curves": "Wall time is training plus",
    "Training timeline": "validation MSE",
    "Reconstructions": "mean MSE of these",
    "Per-digit error": "rebuilds better (win rate)",  # not "paired difference": the caption above says that too
    "Latent space": "each row decodes",
    "Error gallery": "Download CSV",
    "Robustness": "the error grows least for",
    "Draw a digit": "Nothing to reconstruct yet",
    "Bottleneck sweep": "Download CSV",
    "Studies": "Every grid point is a run",
    "Latent quality": "Most linearly separable code",
    "Runs": "runs shown",
}
# Long enough (400 small batches) that the panel is seen mid-way, short enough for CI.
# 6 epochs: with 2 the job could end before the progress panel was read twice (seen as ["Batch 200 of 200"]).
RETRAIN = {"Bottleneck": "3", "Epochs": "6", "Batch size": "8", "Train on the first N images only": "1600",
           "Seeds": "31"}  # fmt: skip
RETRAIN_CONFIG = RunConfig.for_recipe("conv", bottleneck=3, epochs=6, batch_size=8, train_limit=1600, seed=31)
JOB_TIMEOUT_S = 300
MAPS_JS = "[...document.querySelectorAll('[data-testid=\"stPlotlyChart\"] .js-plotly-plot')]"


@pytest.fixture
def tall(browser):
    """A 1400×2600 tab, so that a full-page screenshot holds the whole main area."""
    context = browser.new_context(viewport={"width": 1400, "height": 2600}, accept_downloads=True)
    yield context.new_page()
    context.close()


def main(page):
    return page.locator('[data-testid="stMain"]')


def navigation_titles(page) -> list[str]:
    # A link's text is its icon's ligature name, then its title on the last line.
    links = page.locator('[data-testid="stSidebarNavLink"]').all()
    return [link.inner_text().strip().splitlines()[-1] for link in links]


def visit(page, title: str) -> None:
    go_to(page, title)
    main(page).get_by_text(LAST_TEXT[title], exact=False).first.wait_for(timeout=APP_TIMEOUT_MS)
    wait_until_idle(page)


def test_every_page_renders_without_an_exception(dashboard, tall):
    open_dashboard(tall, dashboard, "Test MSE")
    titles = navigation_titles(tall)
    assert titles == list(LAST_TEXT), "the menu lists every page in order"
    banner = tall.locator('[data-testid="stAlertContentInfo"]').first.inner_text().strip()
    for title in titles:
        visit(tall, title)
        assert_no_exception(tall, title)
        assert banner in main(tall).inner_text(), f"{title}: no dataset banner"
        screenshot(tall, "page-" + title.lower().replace(" ", "-"))
        if title == "Overview" and os.environ.get("AECORE_UPDATE_SCREENSHOT") == "1":
            readme_picture(tall)
    # The Overview's page list links to every page.
    go_to(tall, "Overview")
    main(tall).get_by_role("link", name="Latent quality", exact=False).first.click()
    main(tall).get_by_text(LAST_TEXT["Latent quality"], exact=False).first.wait_for(timeout=APP_TIMEOUT_MS)


def readme_picture(page) -> None:
    """docs/screenshot.png (opt-in, so that a test run does not rewrite a tracked file): the Overview down to its
    gallery, without the tall window's empty space."""
    page.set_viewport_size({"width": 1400, "height": 1500})
    wait_until_idle(page)
    page.screenshot(path=str(REPO / "docs" / "screenshot.png"))
    page.set_viewport_size({"width": 1400, "height": 2600})
    wait_until_idle(page)


# Page position of the centre of picture pixel (row, column) of the gallery in chart `n`, and the row titles.
PIXEL_JS = """([n, title, row, column]) => {
    const gd = [...document.querySelectorAll('.st-key-recon_images .js-plotly-plot')][n];
    // Until plotly has drawn the figure (or while a rerun swaps it) there is no layout yet: not ready, try again.
    if (!gd || !gd._fullLayout || !gd._fullLayout.annotations || !gd._fullLayout.xaxis.l2p) return null;
    const L = gd._fullLayout, box = gd.getBoundingClientRect();
    const titled = L.annotations.find((a) => a.text === `<b>${title}</b>`);
    if (!titled) return null;
    const y = titled.y - 16 + row;  // a row title sits at the middle of its 32-pixel tiles
    return {x: box.left + L.xaxis._offset + L.xaxis.l2p(column), y: box.top + L.yaxis._offset + L.yaxis.l2p(y)};
}"""


def pixel(page, where: dict) -> tuple[int, int, int]:
    png = page.screenshot(clip={"x": where["x"] - 1, "y": where["y"] - 1, "width": 3, "height": 3})
    return Image.open(io.BytesIO(png)).convert("RGB").getpixel((1, 1))


def test_error_maps_draw_zero_error_in_the_documented_colour(dashboard, tall):
    open_dashboard(tall, dashboard, "Test MSE")
    visit(tall, "Reconstructions")
    main(tall).get_by_text("Error maps", exact=True).click()
    tall.wait_for_function(PIXEL_JS, arg=[0, "B |x − x̂|", 0, 0], timeout=APP_TIMEOUT_MS)
    wait_until_idle(tall)
    screenshot(tall, "reconstructions-error-maps")
    zero = tuple(int(ERROR_ZERO_COLOUR[i : i + 2], 16) for i in (1, 3, 5))
    # An image corner is background in the digit and in any reconstruction: |x − x̂| there is (near) zero: the
    # conv net's corners are below 1e-5, so they must be drawn within rounding of the zero colour.
    corners = [pixel(tall, tall.evaluate(PIXEL_JS, [0, "B |x − x̂|", 1, 1 + 36 * tile])) for tile in range(10)]
    for colour in corners:
        assert max(abs(a - b) for a, b in zip(colour, zero, strict=True)) <= 8, f"{colour} is not {zero}"
    digit = pixel(tall, tall.evaluate(PIXEL_JS, [0, "original", 16, 16]))
    assert digit != corners[0], "the probe read the page background instead of the picture"


# The canvas element is drawn before its free-drawing tool is switched on (that waits for the initial drawing to load),
# and a stroke made in between is lost. Fabric shows its crosshair on a mouse move only in drawing mode, so nudge the
# canvas with a synthetic move until it does.
FREEDRAW_READY_JS = """(upper) => {
    const box = upper.getBoundingClientRect();
    upper.dispatchEvent(new MouseEvent('mousemove', {clientX: box.x + 5, clientY: box.y + 5, bubbles: true}));
    return upper.style.cursor === 'crosshair';
}"""


def test_a_drawn_digit_lands_on_both_maps_as_a_star_on_top(dashboard, tall):
    open_dashboard(tall, dashboard, "Test MSE")
    visit(tall, "Draw a digit")
    component = tall.locator('[data-testid="stBidiComponentIsolated"]').first
    canvas = component.locator("canvas.upper-canvas")
    canvas.wait_for(timeout=APP_TIMEOUT_MS)
    wait_until_idle(tall)
    tall.wait_for_function(FREEDRAW_READY_JS, arg=canvas.element_handle(), timeout=APP_TIMEOUT_MS)
    box = canvas.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + 40
    tall.mouse.move(x - 40, y)  # a 7: a bar across, then a stroke down to the left
    tall.mouse.down()
    tall.mouse.move(x + 40, y, steps=12)
    tall.mouse.move(x - 10, y + 190, steps=20)
    tall.mouse.up()
    # the canvas kept the stroke (its history has a step to undo) before the app is asked to have seen it
    expect(component.locator('button[aria-label="Undo"]')).to_be_enabled(timeout=APP_TIMEOUT_MS)
    main(tall).get_by_text("Where your digit lands").wait_for(timeout=APP_TIMEOUT_MS)
    tall.wait_for_function(f"() => {MAPS_JS}.filter((gd) => gd._fullData && gd._fullData.length > 10).length == 2",
                           timeout=APP_TIMEOUT_MS)  # fmt: skip
    wait_until_idle(tall)
    assert_no_exception(tall, "Draw a digit after drawing")
    screenshot(tall, "draw-a-digit-drawn")
    maps = tall.evaluate(f"""() => {MAPS_JS}.filter((gd) => gd._fullData.length > 10).map((gd) =>
        gd._fullData.map((t) => ({{name: t.name, colour: t.marker.color, symbol: t.marker.symbol,
                                   size: t.marker.size, outline: t.marker.line.width}})))""")
    for traces in maps:
        assert [t["colour"] for t in traces[:10]] == list(DIGIT_COLOURS), "the Latent page's digit palette"
        star = traces[-1]
        assert star["name"] == "your digit" and star["symbol"] == "star", "the star is drawn last, on top"
        assert star["size"] >= 20 and star["outline"] >= 2


def test_the_timeline_plays(dashboard, tall):
    open_dashboard(tall, dashboard, "Test MSE")
    visit(tall, "Training timeline")
    expect(main(tall).get_by_text("After epoch 60 of 60")).to_have_count(1, timeout=APP_TIMEOUT_MS)
    main(tall).get_by_role("button", name="Play").click()
    main(tall).get_by_text("After epoch 3 of 60").wait_for(timeout=60_000)  # it starts again from epoch 1
    main(tall).get_by_role("button", name="Pause").click()
    main(tall).get_by_role("button", name="Play").wait_for(timeout=60_000)
    assert_no_exception(tall, "timeline after playing")


def test_per_digit_tables_show_the_all_row_without_scrolling(dashboard, tall):
    open_dashboard(tall, dashboard, "Test MSE")
    visit(tall, "Per-digit error")
    tables = main(tall).locator('[data-testid="stDataFrame"]')
    expect(tables.nth(2)).to_be_visible(timeout=APP_TIMEOUT_MS)  # tables draw after the idle check's charts
    for n in range(3):  # MSE, intervals, paired difference: a header and 11 rows of 35 px, or an inner scroll
        assert tables.nth(n).bounding_box()["height"] >= 35 * 12, f"table {n} hides its 'all' row"


def test_the_runs_page_exports_a_row_per_run(dashboard, tall):
    open_dashboard(tall, dashboard, "Test MSE")
    visit(tall, "Runs")
    with tall.expect_download(timeout=APP_TIMEOUT_MS) as download:
        main(tall).get_by_role("button", name="Download CSV").click()
    rows = list(csv.DictReader(io.StringIO(download.value.path().read_text())))
    on_disk = {p.name for p in dashboard.checkpoints.iterdir() if (p / "run.json").is_file()}
    assert {row["run"] for row in rows} == on_disk and len(rows) == len(on_disk)


def test_a_retrain_shows_progress_survives_page_switches_and_lands_in_its_slot(dashboard, page):
    open_dashboard(page, dashboard, "Test MSE")
    form = page.locator('[data-testid="stSidebar"]')
    choose(page, form.get_by_role("combobox", name="Architecture"), "Conv")
    for label, value in RETRAIN.items():
        field = form.get_by_label(label, exact=True)
        field.fill(value)
        field.press("Tab")
    form.locator(".st-key-train_slot").get_by_text("B", exact=True).click()
    form.locator(".st-key-train_submit button").click()

    panel = page.locator(".st-key-job_panel")
    panel.get_by_text(RETRAIN_CONFIG.run_id, exact=False).wait_for(timeout=APP_TIMEOUT_MS)
    readings = watch_progress(page, until=lambda seen: len(seen) >= 2)
    assert len(readings) >= 2, f"the progress panel did not advance: {readings}"

    go_to_while_training(page, "Training curves")
    go_to_while_training(page, "Per-digit error")
    done = main(page).get_by_text("Trained and saved", exact=False)
    done.wait_for(timeout=JOB_TIMEOUT_S * 1000)
    wait_until_idle(page)

    assert_no_exception(page, "per-digit page after training")
    screenshot(page, "retrain-finished")
    assert RETRAIN_CONFIG.run_id in done.inner_text() and "now in slot B" in done.inner_text()
    chosen = form.get_by_role("combobox", name="Run B").input_value()
    assert chosen.startswith("Conv b=3") and "seed 31" in chosen, f"the new run is not in slot B: {chosen}"
    assert form.get_by_role("combobox", name="Run A").input_value().startswith("MLP b=32"), "slot A untouched"
    assert find_run(RETRAIN_CONFIG.run_id, dashboard.checkpoints).config == RETRAIN_CONFIG


def watch_progress(page, until, timeout_s: float = JOB_TIMEOUT_S) -> list[str]:
    """Distinct texts of the job's batch progress bar, read until `until(readings)` or the job ends."""
    readings: list[str] = []
    bar = page.locator('.st-key-job_panel [data-testid="stProgress"]')
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not until(readings):
        try:
            text = bar.first.inner_text(timeout=2000).strip()
        except Exception:  # the panel is redrawn twice a second; it may vanish when the job ends
            if not page.locator(".st-key-job_panel").count():
                break
            continue
        if text.startswith("Batch") and (not readings or readings[-1] != text):
            readings.append(text)
        page.wait_for_timeout(100)
    return readings


def go_to_while_training(page, title: str) -> None:
    """Switch page like a user; the job panel (or, if the job just ended, its result) must follow."""
    page.locator('[data-testid="stSidebarNav"]').get_by_text(title, exact=True).first.click()
    main(page).locator("h1").filter(has_text=title.split()[0]).first.wait_for(timeout=APP_TIMEOUT_MS)
    page.locator(".st-key-job_panel, .st-key-job_result").first.wait_for(timeout=APP_TIMEOUT_MS)
    assert_no_exception(page, f"{title} during training")

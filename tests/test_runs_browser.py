"""The Runs page in real Chromium at 1400 px: every column of the table is in view without a horizontal scroll
(test MSE, PCA MSE and "vs PCA" were behind one), and a clicked row is named with the rest of its record."""

from __future__ import annotations

import pytest

from aecore.compare import picker_label
from aecore.config import RunConfig
from aecore.runstore import find_run
from tests.browser_support import (
    APP_TIMEOUT_MS,
    assert_no_exception,
    choose,
    go_to,
    open_dashboard,
    screenshot,
    wait_until_idle,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCROLL_JS = """() => {
    const scroller = document.querySelector('[data-testid="stDataFrame"] .dvn-scroller');
    return {scroll: scroller.scrollWidth, client: scroller.clientWidth};
}"""


def test_the_runs_table_fits_1400_px_and_a_clicked_row_is_named(dashboard, page):
    open_dashboard(page, dashboard, "Test MSE")
    go_to(page, "Runs", "runs shown")
    table = page.locator('[data-testid="stDataFrame"]').first
    table.wait_for(timeout=APP_TIMEOUT_MS)
    wait_until_idle(page)
    widths = page.evaluate(SCROLL_JS)
    assert widths["scroll"] <= widths["client"], f"the Runs table scrolls sideways at 1400 px: {widths}"
    box = table.bounding_box()
    page.mouse.click(box["x"] + 15, box["y"] + 35 + 17)  # the first row's selection box
    main = page.locator('[data-testid="stMain"]')
    main.get_by_text("Selected:", exact=False).first.wait_for(timeout=APP_TIMEOUT_MS)
    main.get_by_text("training images", exact=False).first.wait_for(timeout=APP_TIMEOUT_MS)
    wait_until_idle(page)
    assert_no_exception(page, "Runs")
    screenshot(page, "runs-selected-1400")


GRIDS_JS = """() => [...document.querySelectorAll('[data-testid="stDataFrame"] .dvn-scroller')]
    .map((e) => ({scroll: e.scrollWidth, client: e.clientWidth}))"""


def test_two_runs_of_one_architecture_fit_the_per_digit_tables_in_1400_px(dashboard, page):
    """Two MLPs of different seeds bring a PCA baseline each: four methods, whose columns scrolled sideways."""
    open_dashboard(page, dashboard, "Numbers under the reconstructions")
    second = find_run(RunConfig.for_recipe("mlp", seed=1).run_id, dashboard.checkpoints)
    choose(page, page.get_by_role("combobox", name="Run B"), picker_label(second))
    go_to(page, "Per-digit error", "How sure is this?")
    page.locator('[data-testid="stDataFrame"]').nth(1).wait_for(timeout=APP_TIMEOUT_MS)
    wait_until_idle(page)
    assert_no_exception(page, "Per-digit error, two MLPs")
    grids = page.evaluate(GRIDS_JS)
    screenshot(page, "per-digit-two-mlps-1400")
    assert len(grids) >= 2, grids
    assert all(g["scroll"] <= g["client"] for g in grids), f"a Per-digit table scrolls sideways at 1400 px: {grids}"

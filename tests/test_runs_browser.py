"""The Runs page in real Chromium at 1400 px: every column of the table is in view without a horizontal scroll
(test MSE, PCA MSE and "vs PCA" were behind one), and a clicked row is named with the rest of its record."""

from __future__ import annotations

import pytest

from tests.browser_support import (
    APP_TIMEOUT_MS,
    assert_no_exception,
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

"""The latent page in real Chromium: click a digit on one map and see its details, linked on the other map;
click empty space and see that spot decoded."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser_support import assert_no_exception, go_to, open_dashboard, screenshot, wait_until_idle

pytestmark = pytest.mark.browser

MAPS = '[class*="st-key-latent_map_"] .js-plotly-plot'  # the two maps, not the galleries (also plotly)

# Page coordinates of a plotted item on map `n`: the left-most digit (nothing lies beyond it, so the click
# cannot land on a neighbour), or the top-right-most spot of the invisible decode layer.
POINT_JS = """([selector, n, what]) => {
    const gd = document.querySelectorAll(selector)[n];
    const L = gd._fullLayout, box = gd.getBoundingClientRect();
    let x, y, index = null;
    if (what === 'digit') {
        for (const t of gd._fullData.slice(1)) {  // trace 0 is the invisible spot layer
            if (t.type !== 'scattergl' || !t.customdata) continue;  // marks and the spot carry no test index
            for (let i = 0; i < t.x.length; i++) {
                if (index === null || t.x[i] < x) [x, y, index] = [t.x[i], t.y[i], t.customdata[i][0]];
            }
        }
    } else {
        const spots = gd._fullData[0];  // the empty spot furthest up and right: in a corner, away from digits
        let best = 0;
        for (let i = 1; i < spots.x.length; i++) if (spots.x[i] + spots.y[i] > spots.x[best] + spots.y[best]) best = i;
        [x, y] = [spots.x[best], spots.y[best]];
    }
    return {index: index, x: x, y: y,
            px: box.left + L.xaxis._offset + L.xaxis.l2p(x), py: box.top + L.yaxis._offset + L.yaxis.l2p(y)};
}"""

HAS_TRACE_JS = """([selector, n, name]) => {
    const gd = document.querySelectorAll(selector)[n];
    return Boolean(gd && gd._fullData && gd._fullData.some((t) => t.name === name));
}"""


def wait_for_trace(page, n: int, name: str) -> None:
    """Wait until map `n` has drawn a trace called `name` (plotly redraws after Streamlit's rerun)."""
    page.wait_for_function(HAS_TRACE_JS, arg=[MAPS, n, name], timeout=60_000)


def locate(page, n: int, what: str) -> dict:
    page.locator(MAPS).nth(n).scroll_into_view_if_needed()
    return page.evaluate(POINT_JS, [MAPS, n, what])


def click(page, target: dict) -> None:
    page.mouse.move(target["px"], target["py"])  # hover first: plotly picks the point under the cursor
    page.locator(f"{MAPS} .hoverlayer .hovertext").first.wait_for(timeout=60_000)  # it has picked one
    page.mouse.click(target["px"], target["py"])


def test_clicking_a_digit_shows_its_details_and_highlights_it_on_both_maps(dashboard, page):
    open_dashboard(page, dashboard)
    go_to(page, "Latent space", "Click a digit on either map")
    expect(page.locator(MAPS)).to_have_count(2, timeout=60_000)  # the maps draw after the caption above them

    digit = locate(page, 0, "digit")
    index = int(digit["index"])
    click(page, digit)
    page.get_by_text(f"Test image #{index}").first.wait_for(timeout=60_000)
    wait_until_idle(page)
    assert_no_exception(page, "latent page after a click")
    details = page.locator(".st-key-latent_details")
    # The panel is drawn part by part: wait for each part to arrive rather than reading it at once.
    expect(details.get_by_text("original").first).to_be_visible(timeout=60_000)
    expect(details.get_by_text("A · MSE")).to_have_count(1, timeout=60_000)
    expect(details.get_by_text("B · MSE")).to_have_count(1, timeout=60_000)
    expect(details.get_by_text("nearest in its latent space")).to_have_count(2, timeout=60_000)
    for n in (0, 1):  # linked: the digit is ringed on the map it was clicked on and on the other
        wait_for_trace(page, n, f"selected #{index}")
    screenshot(page, "latent_space_selected")


def test_clicking_empty_space_decodes_that_spot(dashboard, page):
    open_dashboard(page, dashboard)
    go_to(page, "Latent space", "Click a digit on either map")
    corner = locate(page, 1, "spot")
    click(page, corner)
    spot_x = page.locator(".st-key-latent_spot_x input")
    page.wait_for_function(
        "([selector, x]) => Math.abs(parseFloat(document.querySelector(selector).value) - x) < 1e-2",
        arg=[".st-key-latent_spot_x input", corner["x"]],
        timeout=60_000,
    )
    wait_until_idle(page)
    assert_no_exception(page, "latent page after decoding a spot")
    assert abs(float(spot_x.input_value()) - corner["x"]) < 1e-2
    expect(page.get_by_text("neighbours' average")).to_have_count(2, timeout=60_000)
    wait_for_trace(page, 1, "decoded spot")

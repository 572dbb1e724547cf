"""The latent page in real Chromium: click a digit on one map and see its details, linked on the other map;
click empty space and see that spot decoded."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import numpy as np
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


def click(page, target: dict) -> str:
    """Hover, then click: returns the hover label's text (plotly picks the point under the cursor)."""
    page.mouse.move(target["px"], target["py"])
    label = page.locator(f"{MAPS} .hoverlayer .hovertext").first
    label.wait_for(timeout=60_000)  # it has picked one
    text = label.text_content()
    page.mouse.click(target["px"], target["py"])
    return text


def test_clicking_a_digit_shows_its_details_and_highlights_it_on_both_maps(dashboard, page):
    open_dashboard(page, dashboard)
    go_to(page, "Latent space", "Click a digit on either map")
    expect(page.locator(MAPS)).to_have_count(2, timeout=60_000)  # the maps draw after the caption above them

    digit = locate(page, 0, "digit")
    hovered = click(page, digit)
    # The hover names the class, the test index and both runs' MSE. It names the point plotly picked: another
    # digit may lie under the same pixel as the left-most one.
    index = int(re.search(r"test #(\d+)", hovered).group(1))
    assert hovered.count("MSE") == 2, hovered
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


# The hover image (ui.hover_tiles): shown for which test index, and its pixels read back at each tile pixel's centre.
TILE_JS = """(id) => {
    const c = document.getElementById(id);
    if (!c || c.style.display !== 'block') return null;
    const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data, step = c.width / 32, grey = [];
    for (let y = 0; y < 32; y++) {
        const row = Math.floor((y + 0.5) * step) * c.width;
        for (let x = 0; x < 32; x++) grey.push(data[(row + Math.floor((x + 0.5) * step)) * 4]);
    }
    return {index: Number(c.dataset.index), grey: grey, box: c.getBoundingClientRect().toJSON()};
}"""


def test_hovering_a_digit_shows_its_image_beside_the_label_on_both_maps(dashboard, page):
    from aecore.data import default_data_root, load_dataset
    from ui.hover_tiles import ELEMENT_ID

    open_dashboard(page, dashboard)
    go_to(page, "Latent space", "Click a digit on either map")
    expect(page.locator(MAPS)).to_have_count(2, timeout=60_000)
    images = load_dataset("mnist", str(default_data_root())).test.images[:, 0].numpy()
    for n in (0, 1):
        digit = locate(page, n, "digit")
        page.mouse.move(digit["px"], digit["py"])
        label = page.locator(MAPS).nth(n).locator(".hoverlayer .hovertext").first
        label.wait_for(timeout=60_000)
        index = int(re.search(r"test #(\d+)", label.text_content()).group(1))  # the point plotly picked
        page.wait_for_function(f"() => {{ const t = ({TILE_JS})('{ELEMENT_ID}'); return t && t.index === {index}; }}",
                               timeout=60_000)  # fmt: skip
        tile = page.evaluate(TILE_JS, ELEMENT_ID)
        np.testing.assert_array_equal(np.reshape(tile["grey"], (32, 32)), np.round(images[index] * 255))
        shown, text = tile["box"], label.bounding_box()
        assert shown["width"] >= 96, "the digit is drawn scaled up"
        assert shown["left"] < text["x"] + text["width"] and shown["left"] + shown["width"] > text["x"], (
            "the image sits under or over its label"
        )
        if n == 0:
            screenshot(page, "latent_space_hover")
    page.mouse.move(5, 5)  # off the maps: the image goes with the label
    page.wait_for_function(f"() => ({TILE_JS})('{ELEMENT_ID}') === null", timeout=60_000)
    assert_no_exception(page, "latent page after hovering")


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


# Test indices of the digits inside a rectangle of the plot area given as fractions of it, read from the map's
# own data (what plotly's box selection picks), and the rectangle's page coordinates.
BOX_JS = """([selector, n, f]) => {
    const gd = document.querySelectorAll(selector)[n];
    const L = gd._fullLayout, box = gd.getBoundingClientRect();
    const xa = L.xaxis, ya = L.yaxis;
    const px = (fx) => box.left + xa._offset + fx * xa._length, py = (fy) => box.top + ya._offset + fy * ya._length;
    const x0 = xa.p2l(f[0] * xa._length), x1 = xa.p2l(f[2] * xa._length);
    const y0 = ya.p2l(f[3] * ya._length), y1 = ya.p2l(f[1] * ya._length);
    const inside = [];
    for (const t of gd._fullData) {
        if (t.type !== 'scattergl' || !t.customdata || t.visible !== true) continue;
        for (let i = 0; i < t.x.length; i++) {
            const c = t.customdata[i], index = Array.isArray(c) || ArrayBuffer.isView(c) ? c[0] : c;
            if (index >= 0 && t.x[i] >= x0 && t.x[i] <= x1 && t.y[i] >= y0 && t.y[i] <= y1) inside.push(index);
        }
    }
    return {indices: inside, from: [px(f[0]), py(f[1])], to: [px(f[2]), py(f[3])]};
}"""

# Test indices ringed as selected on map `n`: the ring trace's points matched back to the digits' coordinates.
RINGED_JS = """([selector, n]) => {
    const gd = document.querySelectorAll(selector)[n];
    const ring = gd._fullData.find((t) => t.name && t.name.startsWith('selected ('));
    if (!ring) return null;
    const at = new Map();
    for (const t of gd._fullData) {
        if (t.type !== 'scattergl' || !t.customdata || t === ring) continue;
        for (let i = 0; i < t.x.length; i++) {
            const c = t.customdata[i];
            at.set(t.x[i] + ',' + t.y[i], Array.isArray(c) || ArrayBuffer.isView(c) ? c[0] : c);
        }
    }
    return Array.from(ring.x, (x, i) => at.get(x + ',' + ring.y[i]));
}"""


def drag(page, start, end, steps: int = 12) -> None:
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(*end, steps=steps)
    page.mouse.up()


def ringed(page, n: int) -> list | None:
    return page.evaluate(RINGED_JS, [MAPS, n])


def test_a_box_on_a_selects_the_same_digits_on_b_with_a_panel_and_a_csv_of_them(dashboard, page):
    open_dashboard(page, dashboard)
    go_to(page, "Latent space", "Click a digit on either map")
    expect(page.locator(MAPS)).to_have_count(2, timeout=60_000)
    page.locator(MAPS).nth(0).scroll_into_view_if_needed()
    page.locator(MAPS).nth(0).hover()
    page.locator(MAPS).nth(0).locator('[data-val="select"]').click()  # the toolbar's box select
    target = page.evaluate(BOX_JS, [MAPS, 0, [0.35, 0.35, 0.65, 0.65]])
    boxed = {int(i) for i in target["indices"]}
    assert len(boxed) > 10, "the box should hold digits"
    drag(page, target["from"], target["to"])
    page.wait_for_function("([s]) => { const g = document.querySelectorAll(s); return g.length === 2 && [0, 1].every("
                           "(n) => g[n]._fullData && g[n]._fullData.some((t) => t.name && t.name.startsWith("
                           "'selected ('))); }", arg=[MAPS], timeout=60_000)  # fmt: skip
    wait_until_idle(page)
    assert_no_exception(page, "latent page after a box selection")
    expected = sorted(int(i) for i in ringed(page, 0))
    # Plotly picks by pixels, the estimate by data bounds: they differ only along the box's edges.
    assert len(boxed & set(expected)) >= 0.9 * max(len(boxed), len(expected)), "A's map rings what the box held"
    assert sorted(int(i) for i in ringed(page, 1)) == expected, "B's map rings the same test digits"
    panel = page.locator(".st-key-latent_selection_panel")
    expect(panel.get_by_text(f"{len(expected):,} selected digits")).to_be_visible(timeout=60_000)
    with page.expect_download(timeout=60_000) as download:
        panel.get_by_role("button", name="Selection as CSV").click()
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert sorted(int(r["test index"]) for r in rows) == expected, "one CSV row per selected digit"
    assert all(r["A MSE"] and r["B MSE"] and r["A map x"] for r in rows)
    screenshot(page, "latent_space_box_selection")
    panel.get_by_role("button", name="Clear selection").click()
    page.wait_for_function("([s]) => [...document.querySelectorAll(s)].every((g) => g._fullData && "
                           "!g._fullData.some((t) => t.name && t.name.startsWith('selected (')))", arg=[MAPS],
                           timeout=60_000)  # fmt: skip

"""The latent maps' builders (ui.latent_figures) on tiny synthetic arrays, without Streamlit."""

from __future__ import annotations

import json

import numpy as np
import pytest

from aecore.datasets import FASHION_CLASSES, MNIST_CLASSES
from tests.figure_support import picture_pixels
from ui.figures import MethodStyle
from ui.latent_figures import (
    TIE_COLOUR,
    DigitLayer,
    MapMark,
    digit_tile,
    event_indices,
    map_groups,
    map_layers,
    map_points,
)
from ui.theme import DIGIT_COLOURS, SLOT_COLOURS

RNG = np.random.default_rng(0)
DRAWN = {"A": MethodStyle("A", "A · MLP", SLOT_COLOURS["A"]), "B": MethodStyle("B", "B · Conv", SLOT_COLOURS["B"])}


def legend_entries(fig) -> list[str]:
    """What a reader sees in the legend: traces shown in it (plotly shows a trace unless showlegend is False)."""
    return [t.name for t in fig.data if t.showlegend is not False]


def a_map(colouring: str, n: int = 100, classes=MNIST_CLASSES, errors=None):
    labels = np.arange(n) % 10
    indices = np.arange(0, n, 2)  # the map shows the even test images
    errors = errors or {"A": RNG.uniform(size=n), "B": RNG.uniform(size=n)}
    coords = RNG.normal(size=(len(indices), 2))
    fig = map_points(coords, indices, labels, classes, errors, "A", colouring, DRAWN, spots=np.zeros((3, 2)))
    return fig, coords, indices


def test_which_run_is_better_keeps_both_runs_points_interleaved_and_names_both_in_the_legend():
    n = 2000
    mine, other = RNG.uniform(size=n), RNG.uniform(size=n)
    other[:5] = mine[:5]  # five ties
    groups, entries, title = map_groups("better", np.arange(n) % 10, MNIST_CLASSES, mine, other, DRAWN["A"],
                                        DRAWN["B"])  # fmt: skip
    assert len(groups) == 1, "one trace: a trace per run would paint one run's points over the other's"
    _, order, style, _ = groups[0]
    assert sorted(order) == list(range(n))
    code = np.asarray(style["color"])
    expected = np.where(mine[order] < other[order], 0, np.where(other[order] < mine[order], 1, 2))
    assert (code == expected).all(), "each point in the colour of the run that rebuilds it better"
    for part in np.array_split(code, 4):  # both runs all through the drawing order
        assert {0, 1} <= set(part.tolist())
    assert entries == [("A · MLP lower", SLOT_COLOURS["A"]), ("B · Conv lower", SLOT_COLOURS["B"]),
                       ("tie (5)", TIE_COLOUR)]  # fmt: skip
    assert "lower" in title
    with pytest.raises(ValueError, match="other run"):
        map_groups("better", np.arange(3), MNIST_CLASSES, mine[:3], None, DRAWN["A"], None)


def test_the_better_map_legend_names_a_and_b_not_one_better_entry():
    fig, _, _ = a_map("better")
    shown = legend_entries(fig)
    assert shown == ["A · MLP lower", "B · Conv lower"], shown
    assert fig.layout.showlegend is not False


def test_the_mse_map_has_a_colour_bar_and_no_legend_entry_over_its_title():
    fig, coords, indices = a_map("mse")
    shown = map_layers(fig, coords, indices, selection=(0, 2))
    again = next(t for t in shown.data if t.name == "per-image MSE (selected)")
    points = next(t for t in fig.data if t.name == "per-image MSE")
    assert list(again.marker.color) == list(points.marker.color[:2]), "the same values"
    assert (again.marker.cmin, again.marker.cmax) == (points.marker.cmin, points.marker.cmax), "so the same colours"
    assert legend_entries(fig) == [], "a legend entry would sit over the colour bar's title"
    points = next(t for t in fig.data if t.name == "per-image MSE")
    assert points.marker.colorbar.title.text == "MSE" and points.marker.showscale


def test_the_legend_sits_below_the_plot_away_from_the_toolbar():
    fig, _, _ = a_map("digit")
    assert fig.layout.legend.orientation == "h" and fig.layout.legend.yanchor == "bottom"
    assert fig.layout.legend.y == 0 and fig.layout.legend.yref == "container"


def test_hover_names_the_class_the_test_index_and_both_runs_mse():
    fig, _, _ = a_map("digit", classes=FASHION_CLASSES)
    bags = next(t for t in fig.data if t.name == "Bag")
    assert "<b>Bag</b>" in bags.hovertemplate and "test #%{customdata[0]}" in bags.hovertemplate
    for part in ("A · MLP: MSE %{customdata[1]", "B · Conv: MSE %{customdata[2]"):
        assert part in bags.hovertemplate
    mixed, _, _ = a_map("mse", classes=FASHION_CLASSES)
    points = next(t for t in mixed.data if t.name == "per-image MSE")
    assert "%{text}" in points.hovertemplate and list(points.text[:3]) == ["T-shirt/top", "Pullover", "Coat"]


def test_point_arrays_travel_as_binary_not_lists():
    fig, _, _ = a_map("better")
    spec = json.loads(fig.to_json())
    points = next(t for t in spec["data"] if t["name"] == "rebuilt better by")
    for value in (points["x"], points["customdata"], points["marker"]["color"]):
        assert isinstance(value, dict) and "bdata" in value, "a JSON list is several times larger and slower"


def test_layers_ring_the_selection_and_shown_marks_and_leave_the_cached_points_untouched():
    fig, coords, indices = a_map("digit")
    before = fig.to_json()
    marks = [MapMark("selected", 4, "circle-open", 18, "black"), MapMark("interpolation end", 5, "square-open", 14,
                                                                       "#444444")]  # fmt: skip
    shown = map_layers(fig, coords, indices, selection=(2, 4, 5, 98), marks=marks, decoded_spot=(0.5, -0.5))
    names = [t.name for t in shown.data]
    assert "selected #4" in names and "interpolation end #5" not in names, "#5 is not on this map"
    ring = shown.data[names.index("selected #4")]
    assert (ring.x[0], ring.y[0]) == (pytest.approx(coords[2, 0]), pytest.approx(coords[2, 1]))
    chosen = shown.data[names.index("selected (3)")]  # 5 is not shown on this map
    assert np.asarray(chosen.x) == pytest.approx(coords[[1, 2, 49], 0])
    assert (shown.data[names.index("decoded spot")].x[0], shown.data[names.index("decoded spot")].y[0]) == (0.5, -0.5)
    veil = shown.data[names.index("not selected")]
    assert len(veil.x) == len(indices) - 3, "every digit but the selected ones fades"
    again = [t for t in shown.data if t.name.endswith(" (selected)")]
    assert names.index("not selected") < names.index(again[0].name), "the selected digits are drawn above the veil"
    assert sorted(t.name for t in again) == ["2 (selected)", "4 (selected)", "8 (selected)"]  # labels of #2, #4, #98
    assert {t.marker.color for t in again} == {DIGIT_COLOURS[2], DIGIT_COLOURS[4], DIGIT_COLOURS[8]}, "own colours"
    assert legend_entries(shown) == legend_entries(fig), "rings and marks stay out of the legend"
    assert fig.to_json() == before, "the cached points figure was changed"


def test_the_digit_layer_draws_each_image_at_its_place_in_its_class_colour():
    fig, coords, indices = a_map("digit")
    images = RNG.uniform(size=(2, 32, 32))
    layer = DigitLayer(coords[:2], images, np.array([3, 7]), cell=(0.5, 0.25))
    shown = map_layers(fig, coords, indices, digits=layer)
    assert len(shown.layout.images) == 2
    first = shown.layout.images[0]
    assert (first.x, first.y, first.xref, first.yref) == (pytest.approx(coords[0, 0]), pytest.approx(coords[0, 1]),
                                                          "x", "y")  # fmt: skip
    assert first.sizex == pytest.approx(0.45) and first.sizey == pytest.approx(0.225), "90% of a cell: no overlap"
    png = picture_pixels(first)
    assert png.shape[:2] == (36, 36)
    colour = DIGIT_COLOURS[3]
    assert tuple(png[0, 0]) == tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5)), "framed in its class colour"


def test_a_digit_tile_keeps_the_image_inside_its_frame():
    image = np.zeros((32, 32))
    image[10, 12] = 1.0
    tile = digit_tile(image, "#FF0000")
    assert tile.shape == (36, 36, 3) and tuple(tile[12, 14]) == (255, 255, 255) and tuple(tile[0, 5]) == (255, 0, 0)


def test_event_indices_read_digits_and_skip_rings_and_empty_spots():
    points = [{"customdata": [7.0, 0.1]}, {"customdata": {"0": 3, "1": 0.2}}, {"customdata": [-1]}, {"x": 1},
              {"customdata": 7}, {"customdata": [12.0]}]  # fmt: skip
    assert event_indices(points) == (3, 7, 12)

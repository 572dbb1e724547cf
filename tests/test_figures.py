"""The figure builders on tiny synthetic arrays, without Streamlit: what each picture promises its reader."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from tests.figure_support import picture_pixels
from ui import figures
from ui.figures import (
    Curve,
    ImageRow,
    MethodStyle,
    compose_rows,
    error_rgb,
    image_rows_figure,
    log_ticks,
    loss_curves,
    own_digit_figure,
    probe_rows,
    wrap_title,
)
from ui.theme import DIGIT_COLOURS, ERROR_RANGE, ERROR_STOPS, ERROR_ZERO_COLOUR, SLOT_COLOURS, column_width

RNG = np.random.default_rng(0)


def rgb(colour: str) -> tuple[int, int, int]:
    return tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))


def images(n: int, high: float = 1.0) -> np.ndarray:
    return RNG.uniform(0, high, size=(n, 32, 32))


def picture(fig) -> np.ndarray:
    return picture_pixels(next(t for t in fig.data if t.type == "image"))


def gallery(n: int = 6, captions: bool = True, error: bool = True, title: str = "A · MLP") -> list[ImageRow]:
    caption = tuple(f"{v:.4f}" for v in RNG.uniform(0, 0.1, n)) if captions else ()
    rows = [ImageRow("original", images(n)), ImageRow(title, images(n), captions=caption)]
    if error:
        rows.append(ImageRow("A |x − x̂|", images(n, 0.3), error=True))
    return rows


# --- the error scale ----------------------------------------------------------------------------------------


def test_the_error_scale_starts_at_zero_with_the_documented_zero_colour():
    assert ERROR_RANGE[0] == 0.0
    assert tuple(error_rgb(np.array([0.0]))[0]) == rgb(ERROR_ZERO_COLOUR) == rgb(ERROR_STOPS[0])
    assert tuple(error_rgb(np.array([ERROR_RANGE[1]]))[0]) == rgb(ERROR_STOPS[-1])
    brightness = error_rgb(np.linspace(0, 1, 50)).astype(int).sum(axis=1)
    assert (np.diff(brightness) >= 0).all(), "a sequential scale: more error is never darker"
    below, above = error_rgb(np.array([-0.5, 3.0]))
    assert tuple(below) == rgb(ERROR_ZERO_COLOUR) and tuple(above) == rgb(ERROR_STOPS[-1]), "clipped to the range"


def test_the_colourbar_states_the_zero_colour_and_sits_where_the_tile_colours_are():
    fig = image_rows_figure(gallery())
    bars = [t for t in fig.data if t.type == "heatmap"]
    assert len(bars) == 1, "one colourbar per gallery"
    bar = bars[0]
    assert "0 = black" in bar.colorbar.title.text
    assert bar.colorscale[0][1] == "rgb({}, {}, {})".format(*rgb(ERROR_ZERO_COLOUR))
    assert (bar.zmin, bar.zmax) == (0.0, 1.0)
    ticks = dict(zip(bar.colorbar.ticktext, bar.colorbar.tickvals, strict=True))
    assert ticks["0"] == 0.0 and ticks["1"] == 1.0
    # The bar runs in √error like the tiles: the colour at a tick's position is the tile colour of its value.
    stops = np.linspace(0, 1, len(ERROR_STOPS))
    for text, position in ticks.items():
        colour = [np.interp(position, stops, [rgb(c)[ch] for c in ERROR_STOPS]) for ch in range(3)]
        assert np.allclose(colour, error_rgb(np.array([float(text)]))[0], atol=1), text
    assert fig.layout.showlegend is False, "the colourbar never lands on a legend"


def test_every_tile_of_a_gallery_shares_one_error_range():
    # Two error rows with very different largest errors: one value must get one colour in both.
    quiet, loud = np.full((3, 32, 32), 0.02), np.full((3, 32, 32), 0.02)
    loud[:, :, 16:] = 0.9
    rows = [ImageRow("quiet", quiet, error=True), ImageRow("loud", loud, error=True)]
    composed = compose_rows(rows, gap=4, row_gap=4)
    assert (composed[0, 0] == composed[36, 0]).all(), "0.02 drawn in two colours: rows are scaled separately"
    assert tuple(composed[0, 0]) == tuple(error_rgb(np.array([0.02]))[0])
    assert (picture(image_rows_figure(rows))[:32, :32] == composed[:32, :32]).all()


def test_no_figure_uses_the_colours_streamlit_repaints():
    # Streamlit's chart theme replaces the strings "#000001"-"#000040" in a figure with its own palette (its
    # template uses them on purpose; the figure's own colours must not).
    placeholder = re.compile(r"#0000(0[1-9]|[1-3]\d|40)\b", re.IGNORECASE)
    fig = image_rows_figure(gallery())
    curves = loss_curves([Curve("A", SLOT_COLOURS["A"], [1, 2], [0.1, 0.05], [0.2, 0.06], 2)], [("PCA", 0.07, "#777")])
    for figure in (fig, curves, own_digit_figure(RNG.normal(size=(50, 2)), np.arange(50) % 10, "map", np.zeros(2))):
        own = figure.to_plotly_json()
        own["layout"].pop("template", None)
        found = placeholder.search(json.dumps(own, default=str))
        assert not found, found.group(0)


# --- galleries ---------------------------------------------------------------------------------------------


def test_compose_rows_refuses_rows_of_different_lengths():
    with pytest.raises(ValueError, match="same number of images"):
        compose_rows([ImageRow("a", images(3)), ImageRow("b", images(4))])


@pytest.mark.parametrize("tile_px", [48, 64, 96])
def test_gallery_tiles_are_square_of_one_size_in_aligned_rows(tile_px):
    rows = gallery(n=7)
    fig = image_rows_figure(rows, tile_px=tile_px)
    z = picture(fig)
    tops = figures.row_tops(rows, row_gap=(z.shape[0] - 3 * 32) // 3)
    for top, row in zip(tops, rows, strict=True):
        for c in range(7):
            left = c * (32 + figures.GAP)
            tile = z[top : top + 32, left : left + 32]
            expected = figures.error_rgb(row.images[c]) if row.error else figures.grey_rgb(row.images[c])
            assert (tile == expected).all(), f"row {row.title!r}, tile {c} is not where its column is"
    layout = fig.layout
    x_scale = (layout.width - layout.margin.l - layout.margin.r) / z.shape[1]
    y_scale = (layout.height - layout.margin.t - layout.margin.b) / z.shape[0]
    assert x_scale == pytest.approx(y_scale, abs=0.02), "tiles would be stretched"
    assert x_scale * 32 == pytest.approx(tile_px, abs=1)


def test_a_gallery_shrinks_its_tiles_to_fit_its_column_and_keeps_captions_off_the_next_row():
    captions = tuple(f"{v:.4f}" for v in RNG.uniform(0, 0.1, 10))
    rows = [
        ImageRow(title, images(10), captions=captions)  # the Overview's gallery
        for title in ("original", "A · MLP b=8 · seed recipe · 30 ep", "B · MLP b=8 · onecycle · 60 ep")
    ]
    width = column_width((1, 2), 1)
    fig = image_rows_figure(rows, tile_px=64, max_width=width)
    assert fig.layout.width <= width + 1
    z = picture(fig)
    scale = (fig.layout.width - fig.layout.margin.l - fig.layout.margin.r) / z.shape[1]
    captions = sorted((a for a in fig.layout.annotations if a.yanchor == "top"), key=lambda a: a.y)
    assert len(captions) == 30
    caption_top = captions[0].y  # every caption of the row hangs from the bottom of its tiles
    next_row = min(top for top in _row_tops(fig) if top > caption_top)
    assert caption_top + captions[0].font.size * 1.3 / scale <= next_row, "a caption runs into the next row"
    pitch = (32 + figures.GAP) * scale
    assert len(captions[0].text) * captions[0].font.size * 0.56 <= pitch, "captions would overlap side by side"


def test_long_captions_wrap_under_their_tile_instead_of_running_into_the_next_one():
    # The Robustness page's rebuilt row with a PCA per run (A and B on different datasets).
    captions = ("A: 0.0623", "B: 0.0576", "PCA-32 (mnist): 0.0156", "PCA-32 (mnist-sample): 0.0129")
    rows = [ImageRow("rebuilt", images(4), captions=captions), ImageRow("again", images(4), captions=captions)]
    fig = image_rows_figure(rows, tile_px=64)
    z = picture(fig)
    scale = (fig.layout.width - fig.layout.margin.l - fig.layout.margin.r) / z.shape[1]
    pitch = (32 + figures.GAP) * scale
    hanging = sorted((a for a in fig.layout.annotations if a.yanchor == "top"), key=lambda a: (a.y, a.x))
    assert [a.text.replace("<br>", " ") for a in hanging[:4]] == list(captions), "a caption lost words"
    for caption in hanging:
        lines = caption.text.split("<br>")
        assert max(len(line) for line in lines) * caption.font.size * 0.56 <= pitch, caption.text
    tallest = max(len(a.text.split("<br>")) for a in hanging[:4])
    assert tallest > 1, "the long captions were not wrapped"
    next_row = _row_tops(fig)[1]
    assert hanging[0].y + tallest * hanging[0].font.size * 1.3 / scale <= next_row, "captions run into the next row"


def _row_tops(fig) -> list[float]:
    """Where each row's tiles start (its title sits at the middle of its tiles)."""
    return sorted(a.y - 16 for a in fig.layout.annotations if a.xref == "paper")


def test_row_titles_fit_their_margin_and_long_ones_wrap():
    assert wrap_title("A · MLP") == ["A · MLP"]
    lines = wrap_title("B · MLP b=8 · seed recipe · 30 ep · seed 2")
    assert len(lines) == 2 and all(len(line) <= 26 for line in lines[:1])
    rows = gallery(title="B · MLP b=8 · seed recipe · 30 ep")
    fig = image_rows_figure(rows)
    longest = max(len(line) for row in rows for line in wrap_title(row.title))
    assert fig.layout.margin.l >= longest * 13 * 0.6, "the longest title line would be clipped"


# --- curves ------------------------------------------------------------------------------------------------


def curves() -> list[Curve]:
    epochs = list(range(1, 21))
    return [
        Curve(label, colour, epochs, list(0.2 * np.exp(-np.arange(20) / k) + 0.012),
              list(0.25 * np.exp(-np.arange(20) / k) + 0.011), best_epoch=19)
        for label, colour, k in (("A · MLP", SLOT_COLOURS["A"], 4), ("B · Conv", SLOT_COLOURS["B"], 6))
    ]  # fmt: skip


def test_the_loss_chart_names_pca_baselines_in_its_legend_and_nowhere_on_the_plot():
    baselines = [("PCA-32 (validation)", 0.0118, "#6E6E6E"), ("PCA-8 (validation)", 0.028, "#A8A8A8")]
    fig = loss_curves(curves(), baselines)
    for label, value, _ in baselines:
        line = [t for t in fig.data if t.name == label]
        assert len(line) == 1 and line[0].showlegend is not False, f"{label} is not a legend entry"
        assert set(line[0].y) == {value}
    assert not [a for a in fig.layout.annotations if "PCA" in str(a.text)], "PCA labels drawn on the plot"
    named = [t.name for t in fig.data if t.showlegend is not False]
    assert len(named) == len(set(named)), "duplicate legend entries"
    assert {"A · MLP", "B · Conv"} <= set(named)


def test_log_axis_ticks_read_as_whole_values():
    fig = loss_curves(curves())
    axis = fig.layout.yaxis
    assert axis.type == "log"
    assert list(axis.ticktext) == [f"{v:g}" for v in axis.tickvals]
    assert all(float(text) >= 0.01 for text in axis.ticktext), "a minor tick labelled by its mantissa alone"
    assert log_ticks(0.009, 0.25) == [0.01, 0.02, 0.05, 0.1, 0.2]
    assert len(log_ticks(0.011, 0.017)) >= 3, "a narrow range still gets ticks"
    with pytest.raises(ValueError, match="low"):
        log_ticks(0.0, 1.0)


def test_each_curve_keeps_its_colour_and_the_epoch_marker_is_drawn():
    fig = loss_curves(curves(), marker_epoch=7)
    colours = {t.name: t.line.color for t in fig.data if t.name in ("A · MLP", "B · Conv")}
    assert colours == {"A · MLP": SLOT_COLOURS["A"], "B · Conv": SLOT_COLOURS["B"]}
    assert [s.x0 for s in fig.layout.shapes] == [7]


# --- maps ----------------------------------------------------------------------------------------------------


def test_the_own_digit_figure_uses_the_digit_palette_and_draws_the_star_last():
    labels = np.arange(200) % 10
    fig = own_digit_figure(RNG.normal(size=(200, 2)), labels, "A · MLP", spot=np.array([0.1, 0.2]))
    star = fig.data[-1]
    assert star.name == "your digit" and star.marker.symbol == "star"
    assert star.marker.size >= 20 and star.marker.line.width >= 2, "the star must be large and outlined"
    assert [t.marker.color for t in fig.data[:10]] == list(DIGIT_COLOURS)


def test_probe_digits_are_laid_out_one_class_per_column():
    labels = np.repeat(np.arange(10), 2)  # stored order: 0 0 1 1 2 2 ...
    rows = probe_rows(labels)
    assert [list(labels[r]) for r in rows] == [list(range(10)), list(range(10))]
    uneven = probe_rows(np.array([0, 0, 1]))
    assert len(uneven) == 1 and list(uneven[0]) == [0, 1, 2]


def test_per_digit_charts_label_every_digit_and_all():
    table = pd.DataFrame({"digit": [str(d) for d in range(10)] + ["all"], "A MSE": 0.01, "A CI low": 0.009,
                          "A CI high": 0.011})  # fmt: skip
    fig = figures.interval_chart(table, [MethodStyle("A", "A · MLP", SLOT_COLOURS["A"])])
    assert list(fig.layout.xaxis.tickvals) == [str(d) for d in range(10)] + ["all"]


def test_the_live_job_chart_and_the_training_page_draw_validation_solid_and_training_dotted_on_whole_epochs():
    from ui.figures import Curve, job_curve, loss_curves

    live = job_curve([1, 2, 3], [0.03, 0.02, 0.01], [0.031, 0.021, 0.012], "#0072B2")
    page = loss_curves([Curve("A", "#0072B2", [1, 2, 3], [0.031, 0.021, 0.012], [0.03, 0.02, 0.01], 3)])
    assert {t.name: t.line.dash for t in live.data} == {"validation MSE (solid)": "solid",
                                                        "training objective (dotted)": "dot"}  # fmt: skip
    styles = {t.name: t.line.dash for t in page.data if t.mode == "lines"}
    assert styles["A"] == "solid" and styles["A · training objective"] == "dot", styles
    for fig in (live, page):
        assert fig.layout.xaxis.tickformat == "d" and fig.layout.xaxis.dtick == 1, "whole epochs only"


def test_long_run_labels_wrap_on_the_overview_bar_chart():
    from ui.figures import mse_bars

    rows = pd.DataFrame([{"label": "A · MLP b=32 · onecycle · MNIST, 60k · seed 0", "colour": "#0072B2",
                          "test_mse": 0.005, "pca_mse": 0.011, "pca_label": "PCA-32"}])  # fmt: skip
    label = mse_bars(rows, "#6E6E6E").data[0].x[0]
    assert all(len(line) <= 18 for line in label.split("<br>")), label
    assert label.replace("<br>", " · ") == "A · MLP b=32 · onecycle · MNIST, 60k · seed 0"


def test_class_axes_name_the_classes():
    from ui.figures import MethodStyle, per_digit_bars

    table = pd.DataFrame({"method": ["A"] * 10, "digit": [str(d) for d in range(10)],
                          "mse": np.linspace(0.01, 0.02, 10)})  # fmt: skip
    fashion = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
    fig = per_digit_bars(table, [MethodStyle("A", "A · MLP", "#0072B2")], classes=fashion, item="class")
    assert list(fig.layout.xaxis.ticktext) == list(fashion) and fig.layout.xaxis.title.text == "class"

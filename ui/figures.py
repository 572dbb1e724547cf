"""Pure plotly figure builders: arrays and frames in, go.Figure out. No Streamlit, no caches, no models: unit
tests call every builder directly.

Methods (a slot's run, a PCA baseline) arrive as `MethodStyle` (id, label, colour): builders never look up names or
colours themselves.
"""

from __future__ import annotations

import base64
import io
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from ui.theme import (
    BASELINE_DASHES,
    DIGIT_COLOURS,
    ERROR_RANGE,
    ERROR_STOPS,
    ERROR_TICKS,
    IMAGE_TILE_PX,
    TEXT_GREY,
    TRAINING_DASH,
    VALIDATION_DASH,
)

# Legends sit at the bottom of the figure (not at a fraction of the plot below it, which lands on the x-axis title
# in a short figure); the plot shrinks to make room.
LEGEND_BELOW = {"orientation": "h", "yref": "container", "yanchor": "bottom", "y": 0, "xanchor": "left", "x": 0}


@dataclass(frozen=True)
class MethodStyle:
    """One method drawn in a figure: its id (as in the frames), what people read, its colour, line dash, and a
    short name for tight places such as captions under tiles ("A", "PCA-32")."""

    id: str
    label: str
    colour: str
    dash: str = "solid"
    short: str = ""


# --- image grids -------------------------------------------------------------------------------------------

TILE = 32  # picture pixels per tile side
GAP = 4  # picture pixels between tiles (drawn in the page's white)
TITLE_FONT_PX, CAPTION_FONT_PX = 13, 11
BAR_LABEL_CHARS = 18  # a bar's category label wraps at " · " beyond this: two bars share ~240 px
TITLE_LINE_CHARS = 24  # a longer row title wraps at " · " onto a second line
COLOURBAR_PX = 96  # room on the right for the error scale's colourbar and its ticks


@dataclass(frozen=True)
class ImageRow:
    """A row of a gallery: a title, (n, 32, 32) images in [0, 1], whether they are |x − x̂| maps, an optional
    caption under each tile (e.g. its MSE), and extra blank picture pixels above it (to group rows)."""

    title: str
    images: np.ndarray
    error: bool = False
    captions: tuple[str, ...] = ()
    colour: str = TEXT_GREY
    space_above: int = 0


def error_rgb(values: np.ndarray) -> np.ndarray:
    """|x − x̂| values -> (…, 3) uint8 colours on the shared error scale: ERROR_STOPS evenly spaced in
    √((value − low) / (high − low)), so 0 is ERROR_ZERO_COLOUR (black) and 1 the last stop (pale yellow)."""
    low, high = ERROR_RANGE
    t = np.sqrt(np.clip((np.asarray(values, dtype=np.float64) - low) / (high - low), 0.0, 1.0))
    stops = np.linspace(0.0, 1.0, len(ERROR_STOPS))
    colours = np.array([_rgb(c) for c in ERROR_STOPS], dtype=np.float64)
    rgb = np.stack([np.interp(t, stops, colours[:, channel]) for channel in range(3)], axis=-1)
    return np.round(rgb).astype(np.uint8)


def _rgb(colour: str) -> tuple[int, int, int]:
    return tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))


def grey_rgb(values: np.ndarray) -> np.ndarray:
    """Images in [0, 1] -> (…, 3) uint8 grey."""
    grey = np.round(np.clip(np.asarray(values, dtype=np.float64), 0.0, 1.0) * 255).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=-1)


def row_tops(rows: Sequence[ImageRow], row_gap: int) -> list[int]:
    """The picture row (y) at which each gallery row's tiles start."""
    tops, y = [], 0
    for row in rows:
        y += row.space_above
        tops.append(y)
        y += TILE + row_gap
    return tops


def compose_rows(
    rows: Sequence[ImageRow], gap: int = GAP, row_gap: int = 4, background: int = 255, tail: int = 0
) -> np.ndarray:
    """The gallery as one (H, W, 3) uint8 picture: every tile 32×32, rows aligned column for column, `gap`
    page-coloured pixels between tiles, `row_gap` between rows and `tail` below the last. Every row must hold
    the same number of images."""
    counts = {len(row.images) for row in rows}
    if len(counts) != 1:
        raise ValueError(f"every row needs the same number of images; got {sorted(counts)}")
    n = counts.pop()
    tops = row_tops(rows, row_gap)
    height = tops[-1] + TILE + tail
    canvas = np.full((height, n * (TILE + gap) - gap, 3), background, dtype=np.uint8)
    for top, row in zip(tops, rows, strict=True):
        tiles = error_rgb(row.images) if row.error else grey_rgb(row.images)
        for c in range(n):
            left = c * (TILE + gap)
            canvas[top : top + TILE, left : left + TILE] = tiles[c]
    return canvas


def probe_rows(labels: np.ndarray, per_row: int = 10) -> list[np.ndarray]:
    """Positions of probe digits arranged in rows so that each column holds one class: the first of each digit in
    row one, the second in row two, ... (one row of all of them when the classes are not evenly represented).

    labels : (P,) digit of each probe, in stored order
    """
    labels = np.asarray(labels)
    counts = np.bincount(labels, minlength=per_row)
    if len(labels) % per_row or len(set(counts.tolist())) != 1:
        return [np.arange(len(labels))]
    rank = np.array([np.sum(labels[:i] == label) for i, label in enumerate(labels)])
    order = np.lexsort((labels, rank))  # by rank within its digit, then by digit
    return [order[r * per_row : (r + 1) * per_row] for r in range(len(labels) // per_row)]


def wrap_caption(caption: str, pitch_px: float, smallest_font_px: float = 8.0) -> list[str]:
    """A caption under a tile as lines that fit the tile's pitch at the smallest caption font, broken at spaces
    ("PCA-32 (mnist-sample): 0.0129" under a 64-px tile ran into its neighbour's caption on one line)."""
    fits = max(1, int((pitch_px - 3) / (0.56 * smallest_font_px)))
    wrapped = textwrap.wrap(caption, fits, break_long_words=False, break_on_hyphens=False)
    return wrapped if len(caption) > fits and wrapped else [caption]


def wrap_title(title: str, width: int = TITLE_LINE_CHARS) -> list[str]:
    """A row title as at most two lines, broken at " · " when it is longer than `width` characters."""
    parts = str(title).split(" · ")
    if len(title) <= width or len(parts) == 1:
        return [str(title)]
    first = parts[0]
    for i, part in enumerate(parts[1:], start=1):
        if len(first) + 3 + len(part) > width:
            return [first, " · ".join(parts[i:])]
        first = f"{first} · {part}"
    return [first]


def wrap_lines(text: str, width: int) -> list[str]:
    """`text` broken at " · " into lines of at most `width` characters (a single longer part keeps its line)."""
    lines: list[str] = []
    for part in str(text).split(" · "):
        if lines and len(lines[-1]) + 3 + len(part) <= width:
            lines[-1] = f"{lines[-1]} · {part}"
        else:
            lines.append(part)
    return lines


def _text_px(characters: int, font_px: float, bold: bool = False) -> float:
    """Rough width of a line of text in the dashboard's sans-serif font (enough to reserve room)."""
    return characters * font_px * (0.6 if bold else 0.56)


def png_uri(image: np.ndarray) -> str:
    """An (h, w) or (h, w, 3) uint8 array as a data: URI of a PNG."""
    return "data:image/png;base64," + base64.b64encode(png_bytes(image)).decode()


def png_bytes(image: np.ndarray) -> bytes:
    """An (h, w) or (h, w, 3) uint8 array as PNG file bytes."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def image_rows_figure(
    rows: Sequence[ImageRow], tile_px: int = IMAGE_TILE_PX, max_width: int | None = None
) -> go.Figure:
    """A gallery: row titles on the left (wrapped to two lines when long), square tiles of one size in aligned
    columns, captions under the tiles, and the error scale's colourbar on the right when a row shows |x − x̂|.

    The figure's size is fixed so that tiles stay square; with `max_width` the tiles shrink (never grow) until
    the whole figure fits, because a browser that shrinks a wider figure would keep its text at full size and let
    captions run into the next row. Draw it with width="content".
    """
    n = len(rows[0].images) if rows else 0
    titles = [wrap_title(row.title) for row in rows]
    longest = max((len(line) for lines in titles for line in lines), default=0)
    title_width = int(_text_px(longest, TITLE_FONT_PX, bold=True)) + 16 if longest else 8
    has_errors = any(row.error for row in rows)
    right = COLOURBAR_PX if has_errors else 6
    picture_width = n * (TILE + GAP) - GAP
    scale = tile_px / TILE
    if max_width is not None:
        scale = min(scale, max(0.75, (max_width - title_width - right) / picture_width))
    pitch = (TILE + GAP) * scale
    captions = [[wrap_caption(str(c), pitch) for c in row.captions] for row in rows]
    caption_chars = max((len(line) for row in captions for c in row for line in c), default=0)
    caption_lines = max((len(c) for row in captions for c in row), default=1)
    caption_font = max(8.0, min(CAPTION_FONT_PX, (pitch - 3) / (0.56 * caption_chars))) if caption_chars else 0
    lines = max((len(t) for t in titles), default=1)
    # Room under the tiles for the captions' lines, and a row tall enough for a two-line title.
    row_gap = int(np.ceil((caption_font * 1.3 * caption_lines + 4) / scale)) if caption_chars else GAP
    row_gap = max(row_gap, int(np.ceil((lines * TITLE_FONT_PX * 1.25 - TILE * scale) / scale)))
    picture = compose_rows(rows, GAP, row_gap, tail=row_gap if caption_chars else 0)
    # One PNG rather than a z array: plotly.js paints a z array pixel by pixel with fillRect on every render (~40 ms
    # of the browser's time for the Overview's gallery on each visit), a PNG source is one <image>, drawn pixelated.
    fig = go.Figure(go.Image(source=png_uri(picture), hoverinfo="skip"))
    fig.update_xaxes(visible=False, range=[-0.5, picture.shape[1] - 0.5], fixedrange=True)
    fig.update_yaxes(visible=False, range=[picture.shape[0] - 0.5, -0.5], fixedrange=True)
    # Annotations are set in one go: plotly's add_annotation copies the whole list each call (quadratic; 0.3 s for
    # the Overview's gallery against 0.01 s).
    annotations = []
    for top, row, title, row_captions in zip(row_tops(rows, row_gap), rows, titles, captions, strict=True):
        annotations.append(dict(
            x=0, y=top + TILE / 2, xref="paper", yref="y", xanchor="right", xshift=-8, showarrow=False,
            align="right", text="<br>".join(f"<b>{_html(line)}</b>" for line in title),
            font={"size": TITLE_FONT_PX, "color": row.colour},
        ))  # fmt: skip
        annotations += [
            dict(x=c * (TILE + GAP) + TILE / 2, y=top + TILE, yanchor="top", yshift=-1, showarrow=False,
                 text="<br>".join(map(_html, caption)), font={"size": caption_font, "color": row.colour})
            for c, caption in enumerate(row_captions)
        ]  # fmt: skip
    fig.update_layout(annotations=annotations)
    if has_errors:
        _error_colourbar(fig, picture.shape[0] * scale)
    fig.update_layout(
        width=int(np.ceil(title_width + picture.shape[1] * scale + right)),
        height=int(np.ceil(picture.shape[0] * scale + 8)),
        margin={"l": title_width, "r": right, "t": 4, "b": 4}, plot_bgcolor="white", paper_bgcolor="white",
        showlegend=False,
    )  # fmt: skip
    return fig


def _error_colourbar(fig: go.Figure, bar_px: float) -> None:
    """A colourbar for the shared error scale, from an invisible one-cell heatmap on its own hidden axes. Like the
    tiles, it runs evenly in √error, so each tick sits at the colour its error gets; a short bar gets fewer ticks."""
    low, high = ERROR_RANGE
    # rgb() rather than hex: Streamlit's chart theme rewrites the strings "#000001"-"#000040" in a figure (they are
    # its placeholder colours), and Inferno's first stop is "#000004".
    stops = [[i / (len(ERROR_STOPS) - 1), "rgb({}, {}, {})".format(*_rgb(c))] for i, c in enumerate(ERROR_STOPS)]
    ticks = ERROR_TICKS if bar_px >= 220 else tuple(t for t in ERROR_TICKS if t in (0.0, 0.05, 0.25, 1.0))
    fig.add_trace(
        go.Heatmap(
            z=[[0.0, 1.0]], colorscale=stops, zmin=0.0, zmax=1.0, opacity=0, hoverinfo="skip", xaxis="x2",
            yaxis="y2", showscale=True, showlegend=False,
            colorbar={"title": {"text": "|x − x̂|<br>0 = black", "side": "top", "font": {"size": 12}},
                      "tickvals": [float(np.sqrt((t - low) / (high - low))) for t in ticks],
                      "ticktext": [f"{t:g}" for t in ticks], "len": 1.0, "lenmode": "fraction", "thickness": 14,
                      "x": 1.0, "xanchor": "left", "xpad": 8},
        )
    )  # fmt: skip
    fig.update_layout(
        xaxis2={"visible": False, "overlaying": "x", "range": [10, 11]},
        yaxis2={"visible": False, "overlaying": "y", "range": [10, 11]},
    )


def _html(text: str) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# --- bars and curves ---------------------------------------------------------------------------------------


def mse_bars(rows: pd.DataFrame, baseline_colour: str) -> go.Figure:
    """Test MSE of each slot's run beside its PCA baseline. rows: label, colour, test_mse, pca_mse, pca_label."""
    fig = go.Figure()
    # Long run labels are broken at " · " onto as many lines as they need: on one line they squashed the plot.
    rows = rows.assign(label=["<br>".join(_html(line) for line in wrap_lines(label, BAR_LABEL_CHARS))
                              for label in rows["label"]])  # fmt: skip
    fig.add_bar(x=rows["label"], y=rows["test_mse"], name="autoencoder", marker_color=list(rows["colour"]),
                text=[f"{v:.4f}" for v in rows["test_mse"]], textposition="outside")  # fmt: skip
    fig.add_bar(x=rows["label"], y=rows["pca_mse"], name="PCA, same dims",
                marker_color=baseline_colour, text=list(rows["pca_label"]), textposition="inside",
                insidetextanchor="end")  # fmt: skip
    top = float(max(rows["test_mse"].max(), rows["pca_mse"].max()))
    fig.update_layout(barmode="group", height=340, yaxis={"title": "test MSE", "range": [0, top * 1.18]},
                      margin={"t": 10, "b": 10}, legend=LEGEND_BELOW, uniformtext_minsize=9)  # fmt: skip
    return fig


def log_ticks(low: float, high: float, most: int = 8) -> list[float]:
    """Tick values for a log axis from `low` to `high`, every one labelled with its whole value (0.02, not "2"):
    1, 2 and 5 times each power of ten (only the powers when that gives more than `most`); when that gives fewer
    than three, 1, 2, 3 and 5 times, then every integer multiple, then halves, then two significant digits."""
    if not (0 < low <= high and np.isfinite(high)):
        raise ValueError(f"log ticks need 0 < low <= high; got {low}, {high}")
    decades = range(int(np.floor(np.log10(low))), int(np.ceil(np.log10(high))) + 1)

    def inside(steps) -> list[float]:
        values = sorted(float(f"{m * 10.0**e:.12g}") for e in decades for m in steps)
        return [t for t in values if low <= t <= high]

    ticks = inside((1, 2, 5))
    if len(ticks) > most:
        return inside((1,))
    for steps in ((1, 2, 3, 5), range(1, 10), np.arange(2, 20) / 2, np.arange(10, 100) / 10):
        if len(ticks) >= 3:
            break
        ticks = inside(steps)
    return ticks[:: int(np.ceil(len(ticks) / most))] if ticks else ticks


def _log_axis(values: Sequence[float], title: str) -> dict:
    """A log y axis whose ticks read as plain numbers, chosen for `values` (every value drawn on it) with a little
    room; plotly's autorange still frames the data, so a tick outside it is simply not shown."""
    finite = np.asarray([v for v in values if v is not None and np.isfinite(v) and v > 0], dtype=np.float64)
    low, high = (float(finite.min()), float(finite.max())) if len(finite) else (1e-3, 1.0)
    low, high = low / 1.15, high * 1.15
    axis = {"type": "log", "title": title}
    ticks = log_ticks(low, high)
    if len(ticks) >= 2:  # otherwise plotly's own ticks (a range this narrow has no minor-tick clutter)
        axis.update(tickvals=ticks, ticktext=[f"{t:g}" for t in ticks])
    return axis


@dataclass(frozen=True)
class Curve:
    """One run's loss history for the training chart."""

    label: str
    colour: str
    epochs: Sequence[int]
    val: Sequence[float]
    train: Sequence[float]
    best_epoch: int
    emphasis: bool = True  # slot runs drawn bold, overlays thinner


def loss_curves(
    curves: Sequence[Curve],
    baselines: Sequence[tuple[str, float, str]] = (),
    log_scale: bool = True,
    show_train: bool = True,
    marker_epoch: int | None = None,
    height: int = 480,
) -> go.Figure:
    """Validation (solid) and training (dotted) loss per epoch, the kept epoch starred, PCA baselines as dashed
    horizontal lines named in the legend (never as labels on the plot that could pile up), an optional epoch
    marker. One legend entry per run (clicking it hides both its lines) plus two grey entries that say which
    line style is which."""
    fig = go.Figure()
    last_epoch = max((max(c.epochs) for c in curves if len(c.epochs)), default=1)
    for curve in curves:
        width = 2.5 if curve.emphasis else 1.4
        group = curve.label
        fig.add_scatter(
            x=list(curve.epochs),
            y=list(curve.val),
            name=curve.label,
            mode="lines",
            line={"color": curve.colour, "width": width, "dash": VALIDATION_DASH},
            legendgroup=group,
            hovertemplate=f"{_html(curve.label)}<br>epoch %{{x}}: validation %{{y:.5f}}<extra></extra>",
        )
        if show_train:
            fig.add_scatter(x=list(curve.epochs), y=list(curve.train), name=f"{curve.label} · training objective",
                            mode="lines", line={"color": curve.colour, "width": width, "dash": TRAINING_DASH},
                            legendgroup=group, showlegend=False,
                            hovertemplate=f"{_html(curve.label)}<br>epoch %{{x}}: training objective %{{y:.5f}}"
                                          "<extra></extra>")  # fmt: skip
        if 1 <= curve.best_epoch <= len(curve.val):
            best = curve.val[curve.best_epoch - 1]
            fig.add_scatter(x=[curve.best_epoch], y=[best], mode="markers", showlegend=False, legendgroup=group,
                            name=f"{curve.label} · kept epoch",
                            marker={"symbol": "star", "size": 13, "color": curve.colour,
                                    "line": {"color": "white", "width": 1}},
                            hovertemplate=f"{_html(curve.label)}: kept epoch {curve.best_epoch}<br>"
                                          f"validation {best:.5f}<extra></extra>")  # fmt: skip
    for index, (label, value, colour) in enumerate(baselines):
        fig.add_scatter(x=[1, last_epoch], y=[value, value], mode="lines", name=label,
                        line={"color": colour, "dash": BASELINE_DASHES[index % len(BASELINE_DASHES)], "width": 1.5},
                        hovertemplate=f"{_html(label)}: {value:.5f}<extra></extra>")  # fmt: skip
    styles = [(VALIDATION_DASH, "validation (solid)")] + ([(TRAINING_DASH, "training objective (dotted)")]
                                                         if show_train else [])  # fmt: skip
    for dash, name in styles:  # a titled group, so that the key is not read as one more run
        fig.add_scatter(
            x=[None],
            y=[None],
            mode="lines",
            name=name,
            line={"color": TEXT_GREY, "dash": dash},
            legendgroup="line styles",
            legendgrouptitle_text="line styles:",
            hoverinfo="skip",
        )
    if marker_epoch is not None:
        fig.add_vline(x=marker_epoch, line={"color": TEXT_GREY, "width": 1.5, "dash": "dot"},
                      annotation_text=f"epoch {marker_epoch}", annotation_position="top")  # fmt: skip
    values = [v for c in curves for v in (*c.val, *(c.train if show_train else ()))] + [b[1] for b in baselines]
    yaxis = _log_axis(values, "loss (MSE per pixel)") if log_scale else {"title": "loss (MSE per pixel)"}
    # The legend sits below the plot and grows with every run and baseline: grow the figure with it (about three
    # entries a row), so that the plot keeps its height.
    legend_rows = int(np.ceil((len(curves) + len(baselines) + len(styles)) / 3))
    height += 22 * max(0, legend_rows - 2)
    fig.update_layout(height=height, xaxis=epoch_axis(last_epoch), yaxis=yaxis, hovermode="closest",
                      margin={"t": 24 if marker_epoch is not None else 10}, legend=LEGEND_BELOW)  # fmt: skip
    return fig


def _digit_axis(digits: Sequence, classes: Sequence[str] = (), item: str = "digit") -> dict:
    """A category axis that labels every class (and "all") by its name, never thinning its ticks.

    classes : the dataset's class names in label order (empty: the labels themselves)
    """
    shown = [str(d) for d in digits]
    names = dict(zip(map(str, range(len(classes))), classes, strict=True))
    return {
        "title": item,
        "type": "category",
        "categoryorder": "array",
        "categoryarray": shown,
        "tickmode": "array",
        "tickvals": shown,
        "ticktext": [names.get(d, d) for d in shown],
    }


def per_digit_bars(
    table: pd.DataFrame, series: Sequence[MethodStyle], *, classes: Sequence[str] = (), item: str = "digit"
) -> go.Figure:
    """Grouped bars of test MSE per class. table: method, digit ("0".."9", "all"), mse."""
    fig = go.Figure()
    digits = [str(d) for d in range(10)]
    for s in series:
        rows = table[(table["method"] == s.id) & table["digit"].isin(digits)]
        fig.add_bar(x=rows["digit"], y=rows["mse"], name=s.label, marker_color=s.colour)
    fig.update_layout(barmode="group", height=420, xaxis=_digit_axis(digits, classes, item), yaxis_title="test MSE",
                      margin={"t": 10}, legend=LEGEND_BELOW)  # fmt: skip
    return fig


def interval_chart(
    intervals: pd.DataFrame, series: Sequence[MethodStyle], *, classes: Sequence[str] = (), item: str = "digit"
) -> go.Figure:
    """Mean test MSE with its 95% interval per digit and overall. intervals: digit, `<id> MSE`, `<id> CI low`,
    `<id> CI high` (as aecore.stats.interval_table returns)."""
    fig = go.Figure()
    for s in series:
        mean = intervals[f"{s.id} MSE"]
        fig.add_scatter(x=intervals["digit"], y=mean, mode="markers", name=s.label,
                        marker={"color": s.colour, "size": 9, "symbol": "diamond" if s.dash != "solid" else "circle"},
                        error_y={"type": "data", "array": intervals[f"{s.id} CI high"] - mean,
                                 "arrayminus": mean - intervals[f"{s.id} CI low"]})  # fmt: skip
    fig.update_layout(height=360, scattermode="group", xaxis=_digit_axis(intervals["digit"], classes, item),
                      yaxis_title="test MSE (95% CI)", margin={"t": 10}, legend=LEGEND_BELOW)  # fmt: skip
    return fig


def difference_chart(
    difference: pd.DataFrame,
    first: MethodStyle,
    second: MethodStyle,
    *,
    classes: Sequence[str] = (),
    item: str = "digit",
) -> go.Figure:
    """The paired difference first − second per digit with its interval, coloured by who is better."""
    colours = [first.colour if d < 0 else second.colour for d in difference["diff"]]
    fig = go.Figure()
    fig.add_scatter(x=difference["digit"], y=difference["diff"], mode="markers", marker={"size": 10, "color": colours},
                    error_y={"type": "data", "array": difference["ci_high"] - difference["diff"],
                             "arrayminus": difference["diff"] - difference["ci_low"]}, showlegend=False,
                    hovertemplate=f"{item} %{{x}}: %{{y:.5f}}<extra></extra>")  # fmt: skip
    fig.add_hline(y=0, line_dash="dot", line_color="grey")
    # Short names on the axis: two full run labels ran off the top of a 300-px axis ("A · MLP b=").
    fig.update_layout(height=300, xaxis=_digit_axis(difference["digit"], classes, item),
                      yaxis_title=f"{first.short} − {second.short} (test MSE)", margin={"t": 10})  # fmt: skip
    return fig


def robustness_figure(curves: pd.DataFrame, series: Sequence[MethodStyle], units: dict[str, str]) -> go.Figure:
    """MSE against corruption strength, one panel per corruption, bands for the 95% intervals.
    curves: corruption, strength, method, mse, ci_low, ci_high."""
    from plotly.subplots import make_subplots

    kinds = list(dict.fromkeys(curves["corruption"]))
    fig = make_subplots(rows=1, cols=len(kinds), subplot_titles=[units[k] for k in kinds], shared_yaxes=True,
                        horizontal_spacing=0.05)  # fmt: skip
    for column, kind in enumerate(kinds, start=1):
        part = curves[curves["corruption"] == kind]
        for s in series:
            rows = part[part["method"] == s.id]
            x = list(rows["strength"])
            fig.add_scatter(x=x + x[::-1], y=list(rows["ci_high"]) + list(rows["ci_low"])[::-1], fill="toself",
                            fillcolor=s.colour, opacity=0.18, line={"width": 0}, hoverinfo="skip", showlegend=False,
                            row=1, col=column)  # fmt: skip
            fig.add_scatter(
                x=x,
                y=rows["mse"],
                mode="lines+markers",
                name=s.label,
                legendgroup=s.id,
                line={"color": s.colour, "dash": s.dash},
                showlegend=column == 1,
                row=1,
                col=column,
            )
    fig.update_yaxes(title_text="test MSE vs clean", row=1, col=1)
    fig.update_layout(height=380, margin={"t": 40}, legend=LEGEND_BELOW)
    return fig


def accuracy_bars(table: pd.DataFrame, series: Sequence[MethodStyle], chance: float = 0.1) -> go.Figure:
    """k-NN and linear-probe test accuracy per method, whiskers at the 95% bootstrap interval over test images.

    table : method, latent_dims, and for "knn" and "probe" `<c>_accuracy`, `<c>_low`, `<c>_high`
    chance : the accuracy of guessing (1 / number of classes), drawn as a dotted line
    """
    by_id = {s.id: s for s in series}
    # Long labels ("A · Conv · seed recipe · MNIST, 60k") wrap at " · " rather than tilt: tilted they ran under the
    # legend and were hard to read.
    names = ["<br>".join(map(_html, wrap_lines(f"{by_id[m].label} ({d}-d)", BAR_LABEL_CHARS)))
             for m, d in zip(table["method"], table["latent_dims"], strict=True)]  # fmt: skip
    colours = [by_id[m].colour for m in table["method"]]
    fig = go.Figure()
    # Values sit inside the bars (above them they collided with the whiskers): white on the solid bars, dark on
    # the hatched ones, where white vanished into the hatching.
    styles = (("knn", "5-NN accuracy", "", "white"), ("probe", "linear probe", "/", TEXT_GREY))
    for column, name, pattern, ink in styles:
        value = table[f"{column}_accuracy"]
        whiskers = {"type": "data", "symmetric": False, "array": table[f"{column}_high"] - value,
                    "arrayminus": value - table[f"{column}_low"], "color": TEXT_GREY}  # fmt: skip
        fig.add_bar(x=names, y=value, name=name, marker_color=colours,
                    marker_pattern={"shape": pattern, "solidity": 0.15},  # thin hatching: its value stays legible
                    error_y=whiskers, text=[f"<b>{v:.1%}</b>" for v in value], textposition="inside",
                    insidetextanchor="end", insidetextfont={"color": ink})  # fmt: skip
    fig.add_hline(y=chance, line_dash="dot", line_color="grey", annotation_text=f"chance ({chance:.0%})",
                  annotation_position="top left")  # fmt: skip
    fig.update_layout(barmode="group", height=380, yaxis={"title": "test accuracy", "tickformat": ".0%",
                      "range": [0, 1.05]}, xaxis={"tickangle": 0}, margin={"t": 10}, legend=LEGEND_BELOW)  # fmt: skip
    return fig


def sweep_figure(
    table: pd.DataFrame,
    series: Sequence[MethodStyle],
    baseline_colour: str,
    marks: Sequence[tuple[float, float, str, str]] = (),
) -> go.Figure:
    """Test MSE against latent dims per architecture, PCA at the same dims dotted, and the slots' runs ringed.
    table: model, latent_dims, bottleneck, parameters, test_mse, pca_mse; series ids are architecture names;
    marks: (latent dims, test MSE, label, colour) of runs to ring."""
    fig = go.Figure()
    for s in series:
        rows = table[table["model"] == s.id].sort_values("latent_dims")
        fig.add_scatter(x=rows["latent_dims"], y=rows["test_mse"], mode="lines+markers", name=s.label,
                        line={"color": s.colour}, customdata=rows[["bottleneck", "parameters"]],
                        hovertemplate="latent %{x} (bottleneck %{customdata[0]}, %{customdata[1]:,} params)<br>"
                                      "test MSE %{y:.5f}<extra></extra>")  # fmt: skip
    pca = table.drop_duplicates("latent_dims").sort_values("latent_dims")
    fig.add_scatter(x=pca["latent_dims"], y=pca["pca_mse"], mode="lines+markers", name="PCA, same dims",
                    line={"color": baseline_colour, "dash": "dot"},
                    hovertemplate="PCA, %{x} components<br>test MSE %{y:.5f}<extra></extra>")  # fmt: skip
    for x, y, label, colour in marks:
        fig.add_scatter(
            x=[x],
            y=[y],
            mode="markers",
            name=label,
            hovertemplate=f"{_html(label)}<extra></extra>",
            marker={"symbol": "circle-open", "size": 16, "color": colour, "line": {"width": 3}},
        )
    values = [*table["test_mse"], *table["pca_mse"], *(y for _, y, _, _ in marks)]
    fig.update_layout(height=420, margin={"t": 10}, xaxis={"title": "latent dims", "type": "log", "dtick": 0.30103},
                      yaxis=_log_axis(values, "test MSE"), legend=LEGEND_BELOW)  # fmt: skip
    return fig


def epoch_axis(last_epoch: int) -> dict:
    """An epoch axis with whole-number ticks only (never 1.5), about ten of them at most."""
    step = next(s for s in (1, 2, 5, 10, 20, 50, 100, 200, 500, 10**9) if last_epoch / s <= 10)
    return {"title": "epoch", "tickmode": "linear", "tick0": 0 if step > 1 else 1, "dtick": step, "tickformat": "d"}


def job_curve(epochs: Sequence[int], train: Sequence[float], val: Sequence[float], colour: str) -> go.Figure:
    """The live loss curve of a training job, in the Training curves page's line styles."""
    fig = go.Figure()
    fig.add_scatter(x=list(epochs), y=list(val), name="validation MSE (solid)", mode="lines+markers",
                    line={"color": colour, "dash": VALIDATION_DASH})  # fmt: skip
    fig.add_scatter(x=list(epochs), y=list(train), name="training objective (dotted)", mode="lines+markers",
                    line={"color": colour, "dash": TRAINING_DASH})  # fmt: skip
    fig.update_layout(height=220, margin={"l": 10, "r": 10, "t": 10, "b": 10}, xaxis=epoch_axis(max(epochs, default=1)),
                      yaxis=_log_axis([*train, *val], "loss"), legend={"orientation": "h", "y": 1.15})  # fmt: skip
    return fig


# --- maps --------------------------------------------------------------------------------------------------


def own_digit_figure(coords: np.ndarray, labels: np.ndarray, title: str, spot: np.ndarray | None = None) -> go.Figure:
    """A 2-D map of test codes coloured by digit (the Latent page's palette) and, when given, the user's digit
    as a large outlined star drawn on top of every point."""
    fig = go.Figure()
    for digit in range(10):
        mine = labels == digit
        fig.add_scattergl(
            x=coords[mine, 0],
            y=coords[mine, 1],
            mode="markers",
            name=str(digit),
            marker={"size": 3, "opacity": 0.55, "color": DIGIT_COLOURS[digit]},
            hoverinfo="name",
        )
    if spot is not None:
        # A WebGL layer is drawn above SVG traces, so the star is WebGL too and added last: it stays on top.
        fig.add_scattergl(x=[spot[0]], y=[spot[1]], mode="markers", name="your digit",
                          marker={"symbol": "star", "size": 26, "color": "#FFD700",
                                  "line": {"color": "black", "width": 2.5}})  # fmt: skip
    fig.update_layout(height=420, margin={"t": 30, "l": 10, "r": 10, "b": 10}, title={"text": _html(title),
                      "font": {"size": 14}}, xaxis={"showticklabels": False}, yaxis={"showticklabels": False},
                      legend={"itemsizing": "constant", "title": "digit"})  # fmt: skip
    return fig


# --- studies and training seeds ------------------------------------------------------------------------------
# Optuna's own plots of a study, and the spread of results across training seeds beside intervals over test images.

STUDY_TARGET = "validation MSE"  # what every study minimises: a trial's lowest validation loss


def _study_of(trials: Sequence) -> object:
    """An in-memory Optuna study holding the finished trials (FrozenTrial), for Optuna's plot functions."""
    import optuna
    from optuna.trial import TrialState

    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "a new study created in memory" line per figure
    try:
        study = optuna.create_study(direction="minimize")
    finally:
        optuna.logging.set_verbosity(verbosity)
    study.add_trials([t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)])
    return study


LOSS_TICKS = (0.005, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0)  # readable ticks on a log loss axis


def _study_layout(fig: go.Figure, height: int) -> go.Figure:
    fig.update_layout(height=height, margin={"t": 40, "l": 60, "r": 20, "b": 10}, template="plotly_white",
                      title={"font": {"size": 14}})  # fmt: skip
    return fig


def study_history_figure(trials: Sequence) -> go.Figure:
    """Optuna's optimisation history: each finished trial's validation MSE and the best so far."""
    from optuna.visualization import plot_optimization_history

    fig = plot_optimization_history(_study_of(trials), target_name=STUDY_TARGET)
    fig.update_layout(title={"text": "Each complete trial, and the best so far"}, legend=LEGEND_BELOW)
    return _study_layout(fig, 380)


def study_parallel_figure(trials: Sequence) -> go.Figure:
    """Optuna's parallel coordinates: every complete trial's parameters, coloured by its validation MSE."""
    from optuna.visualization import plot_parallel_coordinate

    fig = plot_parallel_coordinate(_study_of(trials), target_name=STUDY_TARGET)
    fig.update_layout(title={"text": "Parameters of the complete trials"})
    return _study_layout(fig, 380)


def study_intermediate_figure(trials: Sequence) -> go.Figure:
    """Optuna's intermediate values: the validation MSE each trial reported after every epoch (pruned trials stop
    early)."""
    from optuna.visualization import plot_intermediate_values

    fig = plot_intermediate_values(_study_of(trials))
    fig.update_layout(
        title={"text": "Validation MSE after each epoch, one line per trial (pruned ones stop early)"},
        xaxis_title="epoch",
        showlegend=False,
        yaxis={"title": STUDY_TARGET, "type": "log", "tickvals": list(LOSS_TICKS), "tickformat": ".2~g"},
    )
    fig.update_traces(hovertemplate="%{fullData.name}: epoch %{x}, validation MSE %{y:.5f}<extra></extra>")
    return _study_layout(fig, 380)


def seed_strip_figure(seeds: pd.DataFrame, runs: pd.DataFrame, series: Sequence[MethodStyle]) -> go.Figure:
    """For each slot, two rows: every training seed of its config (dots, a tick at their mean) and the slot's own run
    with its 95% interval over test images (a diamond with whiskers).

    seeds : slot, seed, test_mse (every seed of each slot's config); runs : slot, seed, test_mse, ci_low, ci_high.
    """
    fig = go.Figure()
    rows: list[str] = []
    for s in series:
        mine = seeds[seeds["slot"] == s.id].sort_values("seed")
        run = runs[runs["slot"] == s.id].iloc[0]
        spread_row = f"<b>{_html(s.label)}</b>: {len(mine)} training seeds"
        run_row = f"<b>{_html(s.label)}</b>: this run (seed {run['seed']}),<br>95% interval over test images"
        rows += [spread_row, run_row]
        fig.add_scatter(
            y=[spread_row] * len(mine),
            x=mine["test_mse"],
            mode="markers",
            showlegend=False,
            marker={"color": s.colour, "size": 11, "opacity": 0.75, "line": {"color": "white", "width": 1}},
            customdata=mine["seed"],
            hovertemplate="seed %{customdata}: test MSE %{x:.5f}<extra></extra>",
        )
        mean = float(mine["test_mse"].mean())
        fig.add_scatter(y=[spread_row], x=[mean], mode="markers", showlegend=False,
                        marker={"symbol": "line-ns-open", "size": 26, "color": s.colour, "line": {"width": 3}},
                        hovertemplate=f"mean of {len(mine)} seeds: {mean:.5f}<extra></extra>")  # fmt: skip
        fig.add_scatter(y=[run_row], x=[run["test_mse"]], mode="markers", showlegend=False,
                        marker={"symbol": "diamond", "size": 12, "color": s.colour},
                        error_x={"type": "data", "array": [run["ci_high"] - run["test_mse"]],
                                 "arrayminus": [run["test_mse"] - run["ci_low"]], "thickness": 2, "width": 8},
                        hovertemplate=f"seed {run['seed']}: {run['test_mse']:.5f}<br>95% interval over test images "
                                      f"{run['ci_low']:.5f}–{run['ci_high']:.5f}<extra></extra>")  # fmt: skip
    fig.update_layout(height=90 + 55 * len(rows), margin={"t": 10, "b": 10, "l": 10}, showlegend=False,
                      xaxis={"title": "test MSE", "tickformat": ".4f"},
                      yaxis={"categoryorder": "array", "categoryarray": rows[::-1]})  # fmt: skip
    return fig


def per_digit_seed_figure(spread: pd.DataFrame, intervals: pd.DataFrame, series: Sequence[MethodStyle]) -> go.Figure:
    """Per digit and overall, for each slot: the mean across training seeds with bars from min to max (filled
    circles), and the slot's own run with its 95% interval over test images (open diamonds).

    spread : slot, digit, n_seeds, mean, min, max; intervals : digit, `<slot> MSE`, `<slot> CI low`, `<slot> CI high`
    (as aecore.stats.interval_table returns).
    """
    fig = go.Figure()
    for s in series:
        rows = spread[spread["slot"] == s.id]
        if len(rows):
            n = int(rows["n_seeds"].iloc[0])
            fig.add_scatter(x=rows["digit"], y=rows["mean"], mode="markers", name=f"{s.label}: across {n} training "
                            "seeds (mean, min–max)", marker={"color": s.colour, "size": 9},
                            error_y={"type": "data", "array": rows["max"] - rows["mean"],
                                     "arrayminus": rows["mean"] - rows["min"], "thickness": 2.5, "width": 0},
                            hovertemplate="digit %{x}: mean %{y:.5f}<extra></extra>")  # fmt: skip
        if f"{s.id} MSE" in intervals:
            mse = intervals[f"{s.id} MSE"]
            fig.add_scatter(x=intervals["digit"], y=mse, mode="markers", name=f"{s.label}: this run, 95% interval "
                            "over test images", marker={"color": s.colour, "size": 9, "symbol": "diamond-open",
                                                        "line": {"width": 2}},
                            error_y={"type": "data", "array": intervals[f"{s.id} CI high"] - mse,
                                     "arrayminus": mse - intervals[f"{s.id} CI low"], "thickness": 1.2, "width": 5},
                            hovertemplate="digit %{x}: %{y:.5f}<extra></extra>")  # fmt: skip
    fig.update_layout(height=400, scattermode="group", xaxis=_digit_axis(intervals["digit"]), yaxis_title="test MSE",
                      margin={"t": 10}, legend=LEGEND_BELOW)  # fmt: skip
    return fig


def sweep_seed_figure(
    points: pd.DataFrame,
    series: Sequence[MethodStyle],
    baseline_colour: str,
    marks: Sequence[tuple[float, float, str, str]] = (),
) -> go.Figure:
    """The sweep chart (see `sweep_figure`) with each point's 95% interval over test images as thin whiskers and,
    where a config has several training seeds, the mean across them with bars from min to max (open diamonds,
    set a little to the right).

    points : as aecore.seeds.sweep_points returns, plus ci_low, ci_high (the interval of test_mse over test images).
    """
    fig = sweep_figure(points, series, baseline_colour, marks)
    for s in series:
        rows = points[points["model"] == s.id].sort_values("latent_dims")
        fig.update_traces(
            selector={"name": s.label},
            error_y={
                "type": "data",
                "array": rows["ci_high"] - rows["test_mse"],
                "arrayminus": rows["test_mse"] - rows["ci_low"],
                "thickness": 1,
                "width": 4,
            },
        )
        seeded = rows[rows["n_seeds"] >= 2]
        if seeded.empty:
            continue
        fig.add_scatter(x=seeded["latent_dims"] * 1.12, y=seeded["mean"], mode="markers", showlegend=False,
                        name=f"{s.label}: across training seeds (mean, min–max)",
                        marker={"symbol": "diamond-open", "size": 10, "color": s.colour, "line": {"width": 2}},
                        error_y={"type": "data", "array": seeded["max"] - seeded["mean"],
                                 "arrayminus": seeded["mean"] - seeded["min"], "thickness": 2.5, "width": 0},
                        customdata=np.column_stack([seeded["latent_dims"], seeded["n_seeds"], seeded["sd"]]),
                        hovertemplate="latent %{customdata[0]}: mean of %{customdata[1]} training seeds %{y:.5f}"
                                      "<br>sd %{customdata[2]:.5f}<extra></extra>")  # fmt: skip
    drawn = [points[c] for c in ("test_mse", "pca_mse", "ci_low", "ci_high", "min", "max") if c in points]
    fig.update_layout(yaxis=_log_axis([v for column in drawn for v in column], "test MSE"))  # whiskers included
    if (points["n_seeds"] >= 2).any():  # one legend entry says what every open diamond is
        fig.add_scatter(
            x=[None],
            y=[None],
            mode="markers",
            name="mean across training seeds (bar: min–max)",
            marker={"symbol": "diamond-open", "size": 10, "color": TEXT_GREY, "line": {"width": 2}},
        )
    return fig

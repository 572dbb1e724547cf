"""Pure plotly builders of the Latent space page's maps: arrays in, go.Figure out; no Streamlit.

A map is built in two parts so that a rerun reuses the expensive one: `map_points` draws the 10,000 test codes
(cached by the page per run, projection and colouring), `map_layers` puts what changes on every click on top of
them (the selection, marks, the decoded spot, digit images) in a new figure that shares the points' traces.

Plotly cannot put an image in a hover label (its labels take a handful of text tags; plotly.js #1323), and
Streamlit passes on selection events only, not hovers. So a hover label names the digit (class, test index, every
run's MSE) and ui.hover_tiles draws its image beside the label in the browser, cut from a sprite sheet of the
test set (`sprite_sheet`); a click shows it in the details panel, and the "show digits" layer draws images on the
map.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from ui.figures import LEGEND_BELOW, MethodStyle, png_uri
from ui.theme import DIGIT_COLOURS

TIE_COLOUR = "#BBBBBB"
SELECTION_COLOUR = "black"
SPOT_LAYER = "decode a spot"  # the invisible trace of empty spots that a click decodes
RING_MAX = 200  # a selection up to this size is ringed as well as left unveiled


@dataclass(frozen=True)
class MapMark:
    """A test digit ringed on a latent map: what it is (the selected digit, an interpolation end) and how it looks."""

    name: str
    index: int  # test index
    symbol: str
    size: int
    colour: str


def _html(text: str) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def class_colour(label: int) -> str:
    return DIGIT_COLOURS[int(label) % len(DIGIT_COLOURS)]


def map_groups(
    colouring: str,
    labels: np.ndarray,
    class_names: Sequence[str],
    errors: np.ndarray,
    other_errors: np.ndarray | None,
    own: MethodStyle,
    other: MethodStyle | None,
    seed: int = 0,
) -> tuple[list[tuple[str, np.ndarray, dict, bool]], list[tuple[str, str]], str]:
    """The point traces of a latent map for a colouring, its legend-only entries and the legend title.

    colouring : "digit" (one trace per class, the shared palette), "mse" (log-scaled colour bar) or "better"
        (each point in the colour of the run that rebuilds it better, grey for ties; one trace in a seeded random
        order, so that neither run's points hide the other's)
    labels, errors, other_errors : per shown point
    Returns (name, rows, marker style, one class only) per trace, (name, colour) per legend-only entry, the title.
    """
    if colouring == "digit":
        groups = [(class_names[c], np.flatnonzero(labels == c), {"color": class_colour(c)}, True)
                  for c in range(len(class_names))]  # fmt: skip
        return groups, [], "class" if any(len(n) > 1 for n in class_names) else "digit"
    if colouring == "mse":
        values = np.log10(np.maximum(errors, 1e-8))
        ticks = np.arange(np.floor(values.min()), np.ceil(values.max()) + 1)
        # Fixed ends: the selected digits, drawn again on top, must get the same colours from a part of the values.
        style = {
            "color": values,
            "colorscale": "Viridis",
            "showscale": True,
            "cmin": float(values.min()),
            "cmax": float(values.max()),
            "colorbar": {"title": {"text": "MSE"}, "tickvals": ticks, "ticktext": [f"{10**t:g}" for t in ticks]},
        }
        return [("per-image MSE", np.arange(len(labels)), style, False)], [], ""
    if other is None or other_errors is None:
        raise ValueError("colouring by the better run needs the other run's errors")
    # 0: this run lower, 1: the other run lower, 2: a tie. Numbers, not colour strings: they travel as a binary array.
    code = np.where(errors < other_errors, 0, np.where(other_errors < errors, 1, 2)).astype(np.int8)
    order = np.random.default_rng(seed).permutation(len(labels))
    scale = [[0.0, own.colour], [1 / 3, own.colour], [1 / 3, other.colour], [2 / 3, other.colour],
             [2 / 3, TIE_COLOUR], [1.0, TIE_COLOUR]]  # fmt: skip
    style = {"color": code[order], "colorscale": scale, "cmin": 0, "cmax": 2, "showscale": False, "opacity": 0.8}
    # The same order on every slot's map (A before B), whichever map this is.
    entries = [(f"{s.label} lower", s.colour) for s in sorted((own, other), key=lambda s: s.id)]
    if (code == 2).any():
        entries.append((f"tie ({int((code == 2).sum()):,})", TIE_COLOUR))
    return [("rebuilt better by", order, style, False)], entries, "which run's MSE is lower"


def map_points(
    coords: np.ndarray,
    indices: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    errors: dict[str, np.ndarray],
    slot: str,
    colouring: str,
    series: dict[str, MethodStyle],
    *,
    spots: np.ndarray | None = None,
    axis_title: str = "",
) -> go.Figure:
    """One slot's latent map, points only: its projected test codes coloured by `colouring`, every run's MSE on hover
    and an invisible layer of empty spots that a click decodes.

    coords : (n, 2) the map; indices : (n,) test index of each point; labels : (n_test,) class of each test image
    errors : {slot name: (n_test,) per-image MSE}, in slot order; spots : (m, 2) empty-cell centres
    """
    other = next((name for name in errors if name != slot), None)
    shown = labels[indices]
    groups, entries, legend = map_groups(colouring, shown, class_names, errors[slot][indices],
                                         errors[other][indices] if other else None, series[slot],
                                         series[other] if other else None)  # fmt: skip
    custom = np.column_stack([indices, *(e[indices] for e in errors.values())]).astype(np.float32)
    scores = "".join(f"<br>{_html(series[name].label)}: MSE %{{customdata[{1 + i}]:.5f}}"
                     for i, name in enumerate(errors))  # fmt: skip
    how = "<br><i>click: see it · box/lasso: select</i><extra></extra>"
    names = np.asarray(class_names, dtype=object)
    fig = go.Figure()
    if spots is not None and len(spots):
        fig.add_trace(go.Scattergl(
            x=spots[:, 0], y=spots[:, 1], mode="markers", name=SPOT_LAYER, showlegend=False,
            customdata=np.full(len(spots), -1, dtype=np.int32), marker={"size": 6, "opacity": 0},
            selected={"marker": {"opacity": 0}}, unselected={"marker": {"opacity": 0}},
            hovertemplate="click to decode this spot<br>(%{x:.2f}, %{y:.2f})<extra></extra>",
        ))  # fmt: skip
    for name, rows, marker, one_class in groups:
        # A one-class trace names its class in the template; a mixed one carries each point's class as text.
        title = f"<b>{_html(name)}</b>" if one_class else "<b>%{text}</b>"
        fig.add_trace(go.Scattergl(
            x=coords[rows, 0], y=coords[rows, 1], mode="markers", name=name, customdata=custom[rows],
            text=None if one_class else names[shown[rows]], showlegend=one_class,
            hovertemplate=f"{title} · test #%{{customdata[0]}}{scores}{how}",
            marker={"size": 4, "opacity": 0.75, **marker},
            selected={"marker": {"opacity": marker.get("opacity", 0.75)}},
            unselected={"marker": {"opacity": marker.get("opacity", 0.75)}},
        ))  # fmt: skip
    for name, colour in entries:  # one point off the axes' range: a legend entry with nothing drawn
        fig.add_trace(go.Scattergl(x=[None], y=[None], mode="markers", name=name, hoverinfo="skip",
                                   marker={"size": 8, "color": colour}))  # fmt: skip
    # The legend sits under the plot: at the top right, plotly's toolbar covered its title.
    # No dragmode: Streamlit's default (pan) keeps a click a click; the toolbar's lasso and box select.
    fig.update_layout(height=560, margin={"l": 10, "r": 10, "t": 36, "b": 10}, clickmode="event+select",
                      hovermode="closest", showlegend=bool(legend),
                      legend={**LEGEND_BELOW, "itemsizing": "constant", "title": {"text": legend}},
                      xaxis={"title": f"{axis_title} 1"}, yaxis={"title": f"{axis_title} 2"})  # fmt: skip
    return fig


def sprite_sheet(images: np.ndarray, columns: int) -> np.ndarray:
    """Images laid out row by row on one sheet, image i at tile (i // columns, i % columns); the last row is padded.

    images : (n, h, w) in [0, 1] -> (ceil(n / columns) * h, columns * w) uint8
    """
    n, h, w = images.shape
    rows = -(-n // columns)
    grey = np.zeros((rows * columns, h, w), dtype=np.uint8)
    grey[:n] = np.round(np.clip(images, 0, 1) * 255)
    return grey.reshape(rows, columns, h, w).transpose(0, 2, 1, 3).reshape(rows * h, columns * w)


def digit_tile(image: np.ndarray, colour: str, border: int = 2) -> np.ndarray:
    """A (32, 32) image in [0, 1] as an RGB tile framed in `colour` (its class's colour on the map)."""
    rgb = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)], dtype=np.uint8)
    grey = np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)
    tile = np.repeat(np.pad(grey, border)[:, :, None], 3, axis=2)
    frame = np.ones(tile.shape[:2], dtype=bool)
    frame[border:-border, border:-border] = False
    tile[frame] = rgb
    return tile


@dataclass(frozen=True)
class DigitLayer:
    """Digit images drawn on a map: their map positions, the images, their classes, and the size of a grid cell."""

    coords: np.ndarray  # (m, 2)
    images: np.ndarray  # (m, 32, 32) in [0, 1]
    labels: np.ndarray  # (m,)
    cell: tuple[float, float]  # a grid cell's width and height in map units


def map_layers(
    points: go.Figure,
    coords: np.ndarray,
    indices: np.ndarray,
    *,
    selection: Sequence[int] = (),
    marks: Sequence[MapMark] = (),
    decoded_spot: tuple[float, float] | None = None,
    digits: DigitLayer | None = None,
) -> go.Figure:
    """The map to show: `points` (left untouched, so a cache may keep it) with the selection ringed, the marks
    whose digits the map shows, the decoded spot and the digit images on top.

    coords, indices : the map's (n, 2) coordinates and (n,) test indices; selection : selected test indices
    """
    # Sharing the cached traces costs ~10 ms; rebuilding 10,000 points costs 60-150 ms per map.
    fig = go.Figure(data=points.data, layout=points.layout)
    on_map = np.isin(indices, np.asarray(selection, dtype=np.int64))
    if on_map.any():
        # The rest fade under a white veil, so the selected digits keep their colours (rings on thousands of digits
        # made black blobs); a small selection is ringed too, to be found at all. WebGL, like the points: a browser
        # draws every WebGL trace above every SVG one.
        fig.add_trace(go.Scattergl(
            x=coords[~on_map, 0], y=coords[~on_map, 1], mode="markers", name="not selected", showlegend=False,
            hoverinfo="skip", marker={"size": 6, "color": "white", "opacity": 0.7},
        ))  # fmt: skip
        chosen = np.asarray(selection, dtype=np.int64)
        for trace in points.data:  # the selected digits again, above the veil, in the colours of their trace
            if trace.customdata is None or trace.name == SPOT_LAYER:
                continue
            keep = np.isin(np.asarray(trace.customdata)[:, 0], chosen)
            if keep.any():
                marker = {**trace.marker.to_plotly_json(), "showscale": False, "colorbar": None}
                if not isinstance(marker.get("color"), str):
                    marker["color"] = np.asarray(marker["color"])[keep]
                fig.add_trace(go.Scattergl(x=np.asarray(trace.x)[keep], y=np.asarray(trace.y)[keep], mode="markers",
                                           name=f"{trace.name} (selected)", showlegend=False, hoverinfo="skip",
                                           marker=marker))  # fmt: skip
        ring = {"symbol": "circle-open", "size": 9, "color": SELECTION_COLOUR, "line": {"width": 1.5}}
        fig.add_trace(go.Scattergl(
            x=coords[on_map, 0], y=coords[on_map, 1], mode="markers", name=f"selected ({int(on_map.sum()):,})",
            showlegend=False, hoverinfo="skip", marker=ring if on_map.sum() <= RING_MAX else {"size": 0, "opacity": 0},
        ))  # fmt: skip
    row_of = {int(i): row for row, i in enumerate(indices)}
    shown = [(float(coords[row_of[m.index], 0]), float(coords[row_of[m.index], 1]), f"{m.name} #{m.index}",
              m.symbol, m.size, m.colour) for m in marks if m.index in row_of]  # fmt: skip
    if decoded_spot is not None:
        shown.append((*decoded_spot, "decoded spot", "x-thin-open", 16, "black"))
    # Each mark gets a wider white halo first, to stand out on a dense cluster.
    for x, y, name, symbol, size, colour in shown:
        for halo in (True, False):
            fig.add_trace(go.Scattergl(
                x=[x], y=[y], mode="markers", name="" if halo else name, showlegend=False,
                hoverinfo="skip" if halo else None,
                hovertemplate=None if halo else f"{_html(name)} (%{{x:.2f}}, %{{y:.2f}})<extra></extra>",
                marker={"symbol": symbol, "size": size + 3 if halo else size, "color": "white" if halo else colour,
                        "line": {"width": 6 if halo else 3, "color": "white" if halo else colour}},
            ))  # fmt: skip
    if digits is not None:
        # Layout images in map units: they follow pan and zoom, and at 90% of a cell they never overlap.
        fig.update_layout(images=[
            {"source": png_uri(digit_tile(image, class_colour(label))), "xref": "x", "yref": "y", "x": float(x),
             "y": float(y), "sizex": 0.9 * digits.cell[0], "sizey": 0.9 * digits.cell[1], "xanchor": "center",
             "yanchor": "middle", "sizing": "contain", "layer": "above"}
            for (x, y), image, label in zip(digits.coords, digits.images, digits.labels, strict=True)
        ])  # fmt: skip
    return fig


def event_indices(points: Sequence[dict]) -> tuple[int, ...]:
    """Test indices of the digits in a plotly selection event's points (sorted, each once): points without a test
    index (marks, the selection's rings) and the empty-spot layer (index -1) are left out."""
    from aecore.selection import as_selection

    found = []
    for point in points:
        data = point.get("customdata")
        if data is None:
            continue
        first = data[0] if isinstance(data, list | tuple) else data.get("0") if isinstance(data, dict) else data
        if first is not None:
            found.append(int(first))
    return as_selection(found)


def summary_title(count: int, shown: int) -> str:
    """The selection panel's heading: how many digits, and how many of them the maps show."""
    hidden = count - shown
    return f"{count:,} selected digit{'s' if count != 1 else ''}" + (
        f" ({hidden:,} not among the digits the maps show)" if hidden else "")  # fmt: skip

"""Latent space: the 2-D maps of both slots' test codes side by side, linked; inspect, decode anywhere, interpolate."""

from __future__ import annotations

import numpy as np
import streamlit as st

from aecore.datasets import get
from aecore.projection import DEFAULT_POINTS, METHOD_TITLES, ProjectionConfig, available_methods
from ui import cache, hover_tiles, latent_view, widgets
from ui.figures import ImageRow
from ui.latent_figures import MapMark, event_indices
from ui.latent_view import SELECTION, SPOT
from ui.theme import SLOT_COLOURS, TEXT_GREY, column_width

SELECTED = "latent_selected"  # test index of the digit clicked on either map (UI state)
ENDS = ("latent_interp_start", "latent_interp_end")
PICKED = "latent_interp_picked"  # the interpolation ends the user chose (marks are drawn only for these)
SIZES = (1_000, 2_000, 5_000, DEFAULT_POINTS)
MAP_SELECTOR = '[class*="st-key-latent_map_"] .js-plotly-plot'  # the maps (the galleries are plotly too)
COLOURINGS = {"digit": "class", "mse": "per-image MSE", "better": "which run rebuilds it better"}

comparison = widgets.page_start(
    "Latent space",
    "Each run squeezes a test digit into a code; these maps lay the codes of the **held-out MNIST test set** "
    "out in 2-D so that digits with similar codes sit close together. **Click a digit** to see both runs' view "
    "of it and its nearest neighbours, **drag a lasso or a box** to select digits on both maps (and export them), "
    "**click empty space** to decode that spot, and pick two digits to interpolate between.",
)
if not widgets.need_same_test_set(comparison):
    st.stop()
slots, keys = comparison.slots, {s.name: s.key for s in comparison.slots}
dataset_name = slots[0].run.config.dataset
labels, class_names = cache.test_labels(dataset_name), get(dataset_name).class_names
drawn = {s.name: series for s, series in zip(slots, widgets.series(comparison), strict=False)}

controls = st.columns([1, 1, 1.7, 0.9, 1.2])
offered = list(dict.fromkeys(m for s in slots for m in available_methods(s.run.latent_dim)))  # "raw": a 2-D code
method = controls[0].selectbox("Projection", offered, format_func=METHOD_TITLES.get,
                               key="latent_method", help="UMAP keeps local neighbourhoods; PCA (a 2-D projection of "
                               "each run's own test codes, not the PCA baseline) is linear and keeps global spread; "
                               "t-SNE (openTSNE) keeps local structure (computed on demand).")  # fmt: skip
sizes = [n for n in SIZES if n < len(labels)] + [len(labels)]
n_points = int(controls[1].selectbox("Test digits shown", sizes, index=len(sizes) - 1, format_func="{:,}".format,
                                     key="latent_points"))  # fmt: skip
colouring = controls[2].radio(
    "Colour by",
    list(COLOURINGS) if len(slots) == 2 else ["digit", "mse"],
    format_func=COLOURINGS.get,
    horizontal=True,
    key="latent_colour",
)
k = int(
    controls[3].number_input(
        "Neighbours (k)",
        1,
        50,
        10,
        key="latent_k",
        help="how many nearest neighbours the panel shows and the agreement score counts",
    )
)
show_digits = controls[4].toggle(
    "Show digits",
    key="latent_show_digits",
    help="draw test images on the maps at "
    f"their places, one per cell of a {latent_view.DIGIT_CELLS} × "
    f"{latent_view.DIGIT_CELLS} grid, so that they never pile up",
)
# A run whose code is not 2-D has no raw map: it falls back to UMAP (and says so).
configs = {s.name: ProjectionConfig(method if method in available_methods(s.run.latent_dim) else "umap",
                                    n_points=n_points) for s in slots}  # fmt: skip
projections = widgets.projections(comparison, configs)
errors = {s.name: cache.test_errors(keys[s.name]) for s in slots}
sprite = cache.hover_sprite(dataset_name)

# A new map (method or size) starts the decode spot on the digit nearest its centre: never on a stale place.
if st.session_state.get(SPOT["for"]) != (method, n_points) or st.session_state.get(SPOT["slot"]) not in keys:
    coords = projections[slots[0].name].coords
    centre = coords[np.argmin(((coords - coords.mean(0)) ** 2).sum(1))]
    st.session_state[SPOT["for"]], st.session_state[SPOT["slot"]] = (method, n_points), slots[0].name
    st.session_state[SPOT["x"]], st.session_state[SPOT["y"]] = float(centre[0]), float(centre[1])


def on_map_select(slot: str) -> None:
    """A box or lasso selects the digits in it (on both maps); a click on a digit shows it in the details panel;
    a click on an empty spot makes it the decode spot."""
    event = st.session_state[f"latent_map_{slot}"]["selection"]
    points = event["points"]
    if event.get("box") or event.get("lasso"):
        chosen = event_indices(points)
        if chosen:  # a box around empty space keeps the selection (clearing it is its own button)
            st.session_state[SELECTION] = chosen
        return
    data = points[0].get("customdata") if points else None
    if data is None:
        return  # a cleared selection (e.g. the figure was redrawn) keeps what was chosen
    first = data[0] if isinstance(data, list) else data["0"] if isinstance(data, dict) else data
    if int(first) >= 0:
        st.session_state[SELECTED] = int(first)
    else:
        st.session_state[SPOT["slot"]] = slot
        st.session_state[SPOT["x"]], st.session_state[SPOT["y"]] = float(points[0]["x"]), float(points[0]["y"])


def pick_end(end: str, index: int | None = None) -> None:
    """An interpolation end chosen by a button (index given) or typed (read from its input)."""
    if index is not None:
        st.session_state[end] = index
    st.session_state[PICKED] = {**st.session_state.get(PICKED, {}), end: st.session_state[end]}


picked = st.session_state.get(PICKED, {})
marks = [MapMark(name, int(value), symbol, size, colour) for name, symbol, size, colour, value in (
    ("selected", "circle-open", 18, "black", st.session_state.get(SELECTED)),
    ("interpolation start", "triangle-up-open", 14, TEXT_GREY, picked.get(ENDS[0])),
    ("interpolation end", "square-open", 14, TEXT_GREY, picked.get(ENDS[1])),
) if value is not None]  # fmt: skip
selection = st.session_state.get(SELECTION, ())
map_area, score_area, selection_area, details_area = st.container(), st.container(), st.container(), st.container()
with selection_area:
    latent_view.selection_panel(comparison, selection, projections, n_points, k)
with details_area:  # drawn first, into its place below the maps: a click's answer shows before the maps resend
    widgets.latent_details(comparison, st.session_state.get(SELECTED), k, projections, on_pick=pick_end, ends=ENDS)
with map_area:
    for column, s in zip(st.columns(len(slots)), slots, strict=True):
        proj = projections[s.name]
        here = st.session_state[SPOT["slot"]] == s.name
        spot = (st.session_state[SPOT["x"]], st.session_state[SPOT["y"]]) if here else None
        with column:
            st.markdown(
                widgets.slot_heading(comparison, s.name, f" · {s.run.latent_dim}-d code"), unsafe_allow_html=True
            )
            if configs[s.name].method != method:
                st.info(
                    f"This run's code has {s.run.latent_dim} dims, so there are no raw 2-D coordinates: "
                    "showing UMAP instead.",
                    icon=":material/info:",
                )
            figure = latent_view.slot_figure(
                comparison,
                s.name,
                proj,
                colouring,
                drawn,
                selection=selection,
                marks=marks,
                decoded_spot=spot,
                digits=latent_view.digit_layer(dataset_name, proj) if show_digits else None,
            )
            st.plotly_chart(
                figure,
                key=f"latent_map_{s.name}",
                on_select=lambda n=s.name: on_map_select(n),
                selection_mode=("points", "box", "lasso"),
                width="stretch",
            )
            st.caption(widgets.escape(proj.caption))
    st.caption(
        "On the maps: digits selected with a box or lasso keep their colours while the others fade (a few "
        "are ringed), ○ the digit clicked, △ and □ the interpolation ends you picked, ✕ the decoded spot. "
        + (
            "Hover a point for its image, class, index and MSEs; click it for its details and neighbours."
            if sprite
            else "Hover a point for its class, index and MSEs; click it to see the image."
        )
    )
    if sprite:  # after the maps: it binds to them once they are drawn
        hover_tiles.show_on_hover(sprite, MAP_SELECTOR)
with score_area:
    widgets.latent_scores(comparison, projections, n_points, k)

latent_view.decode_spot(comparison, projections)

st.subheader("Interpolate between two test digits")
for end, default in zip(ENDS, (0, 1), strict=True):
    st.session_state.setdefault(end, default)
ends = st.columns([1, 1, 2])
start, stop = (
    int(column.number_input(label, 0, len(labels) - 1, key=end, on_change=pick_end, args=(end,)))
    for column, label, end in zip(ends, ("From test image #", "To test image #"), ENDS, strict=False)
)
steps = int(ends[2].slider("Steps", 2, 16, 8, key="latent_interp_steps"))
ends_named = " → ".join(widgets.escape(class_names[labels[i]]) for i in (start, stop))
st.caption(
    f"{ends_named}: each row decodes {steps} evenly spaced points on the "
    "straight line between the two codes in that run's latent space, framed by the two originals."
)
originals = cache.test_images(dataset_name, (start, stop))
rows = [ImageRow(s.name, np.concatenate([originals[:1], cache.interpolation(keys[s.name], start, stop, steps),
                                         originals[1:]]), colour=SLOT_COLOURS[s.name]) for s in slots]  # fmt: skip
widgets.gallery(rows, "latent_interpolation", tile_px=56, max_width=column_width((1,), 0))

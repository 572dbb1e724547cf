"""Latent space: the 2-D maps of both slots' test codes side by side, linked; inspect, decode anywhere, interpolate."""

from __future__ import annotations

import numpy as np
import streamlit as st

from aecore.compare import RunKey
from aecore.latent import empty_spots, latent_at
from aecore.projection import DEFAULT_POINTS, METHOD_TITLES, METHODS, ProjectionConfig
from ui import cache, widgets
from ui.figures import ImageRow, MapLayers, image_rows_figure, latent_map, latent_map_groups
from ui.theme import SLOT_COLOURS, TEXT_GREY

SELECTED = "latent_selected"  # test index of the digit clicked on either map (UI state)
SPOT = {"slot": "latent_spot_map", "x": "latent_spot_x", "y": "latent_spot_y", "for": "latent_spot_for"}
ENDS = ("latent_interp_start", "latent_interp_end")
PICKED = "latent_interp_picked"  # the interpolation ends the user chose (marks are drawn only for these)
SIZES = (1_000, 2_000, 5_000, DEFAULT_POINTS)
COLOURINGS = {"digit": "digit", "mse": "per-image MSE", "better": "which run rebuilds it better"}
GRID = 36

comparison = widgets.page_start(
    "Latent space",
    "Each run squeezes a test digit into a code; these maps lay the codes of the **held-out MNIST test set** "
    "out in 2-D so that digits with similar codes sit close together. **Click a digit** to see both runs' view "
    "of it and its nearest neighbours, **click empty space** to decode that spot, and pick two digits to "
    "interpolate between.",
)
if not widgets.need_same_test_set(comparison):
    st.stop()
slots = comparison.slots
keys = {s.name: RunKey.of(s.run) for s in slots}
dataset_name = slots[0].run.config.dataset
labels = cache.test_labels(dataset_name)
n_test = len(labels)
drawn = {s.name: widgets.series(comparison)[i] for i, s in enumerate(slots)}

controls = st.columns([1, 1, 2, 1])
two_d = any(s.run.latent_dim == 2 for s in slots)
method = controls[0].selectbox("Projection", [m for m in METHODS if m != "raw" or two_d], format_func=METHOD_TITLES.get,
                               key="latent_method", help="UMAP keeps local neighbourhoods; PCA is linear and keeps "
                               "global spread; t-SNE (openTSNE) keeps local structure (computed on demand).")
sizes = [s for s in SIZES if s < n_test] + [n_test]
n_points = controls[1].selectbox("Test digits shown", sizes, index=len(sizes) - 1, format_func="{:,}".format,
                                 key="latent_points")
colouring = controls[2].radio("Colour by", list(COLOURINGS) if len(slots) == 2 else ["digit", "mse"],
                              format_func=COLOURINGS.get, horizontal=True, key="latent_colour")
k = int(controls[3].number_input("Neighbours (k)", 1, 50, 10, key="latent_k",
                                 help="how many nearest neighbours the panel shows and the agreement score counts"))


def config_for(info) -> ProjectionConfig:
    # A run whose code is not 2-D has no raw map: it falls back to UMAP (and says so).
    return ProjectionConfig(method=method if method != "raw" or info.latent_dim == 2 else "umap", n_points=n_points)


# --- projections (disk cache; computed behind a progress bar when missing) ----------------------------------
missing = [s for s in slots if not cache.projection_on_disk(s.run, config_for(s.run))]
bar = st.progress(0.0, text="Computing projections…") if missing else None
projections = {}
for step, s in enumerate(slots):
    if bar is not None and s in missing:
        bar.progress(step / len(slots), text=f"Computing the {METHOD_TITLES[config_for(s.run).method]} map of "
                     f"{s.name} ({n_points:,} test digits; UMAP ~15 s, t-SNE ~20 s the first time)…")
    try:
        projections[s.name] = cache.projection(s.run, keys[s.name], config_for(s.run))
    except (ValueError, ImportError, MemoryError) as error:
        st.error(f"Could not compute the map of {s.name}: {widgets.escape(error)}", icon=":material/error:")
        st.stop()
if bar is not None:
    bar.empty()
errors = {s.name: cache.test_errors(keys[s.name]) for s in slots}
rows_of = {name: {int(i): row for row, i in enumerate(p.indices)} for name, p in projections.items()}

# A new map (method or size) starts the decode spot on the digit nearest its centre: never on a stale place.
map_id = (method, int(n_points))
if st.session_state.get(SPOT["for"]) != map_id or st.session_state.get(SPOT["slot"]) not in comparison.names:
    coords = projections[slots[0].name].coords
    centre = coords[np.argmin(((coords - coords.mean(0)) ** 2).sum(1))]
    st.session_state[SPOT["for"]], st.session_state[SPOT["slot"]] = map_id, slots[0].name
    st.session_state[SPOT["x"]], st.session_state[SPOT["y"]] = float(centre[0]), float(centre[1])


def on_map_select(slot: str) -> None:
    """A click on a map: a digit selects it (on both maps); an empty spot becomes the decode spot."""
    points = st.session_state[f"latent_map_{slot}"]["selection"]["points"]
    data = points[0].get("customdata") if points else None
    if data is None:
        return  # a cleared selection (e.g. the figure was redrawn) keeps what was chosen
    first = data[0] if isinstance(data, list) else data["0"] if isinstance(data, dict) else data
    if int(first) >= 0:
        st.session_state[SELECTED] = int(first)
    else:
        st.session_state[SPOT["slot"]] = slot
        st.session_state[SPOT["x"]], st.session_state[SPOT["y"]] = float(points[0]["x"]), float(points[0]["y"])


def map_figure(slot: str):
    proj, where = projections[slot], rows_of[slot]
    index = proj.indices
    other = next((s.name for s in slots if s.name != slot), None)
    groups, legend = latent_map_groups(colouring, labels[index], errors[slot][index],
                                       errors[other][index] if other else None, drawn[slot],
                                       drawn[other] if other else None)  # fmt: skip
    custom = np.column_stack([index, labels[index], *(errors[s.name][index] for s in slots)]).astype(np.float32)
    hover = "digit %{customdata[1]} · test #%{customdata[0]}" + "".join(
        f"<br>{s.name} MSE %{{customdata[{2 + i}]:.5f}}" for i, s in enumerate(slots)) + "<extra></extra>"
    marks = []
    picked = st.session_state.get(PICKED, {})
    for name, symbol, size, colour, value in (
        ("selected", "circle-open", 18, "black", st.session_state.get(SELECTED)),
        ("interpolation start", "triangle-up-open", 14, TEXT_GREY, picked.get(ENDS[0])),
        ("interpolation end", "square-open", 14, TEXT_GREY, picked.get(ENDS[1])),
    ):
        if value is not None and int(value) in where:
            x, y = proj.coords[where[int(value)]]
            marks.append((float(x), float(y), f"{name} #{int(value)}", symbol, size, colour))
    spot = None
    if st.session_state.get(SPOT["slot"]) == slot:
        spot = (st.session_state[SPOT["x"]], st.session_state[SPOT["y"]])
    layers = MapLayers(spots=empty_spots(proj.coords, GRID), marks=marks, decoded_spot=spot)
    return latent_map(proj.coords, custom, hover, groups, layers, METHOD_TITLES[proj.provenance["method"]], legend)


def draw_details() -> None:
    """The clicked digit: original, each run's reconstruction, and its nearest neighbours in each latent space."""
    st.subheader("Selected digit")
    if st.session_state.get(SELECTED) is None:
        st.info("Click a digit on either map to inspect it here.", icon=":material/touch_app:")
        return
    index = int(st.session_state[SELECTED])
    with st.container(border=True, key="latent_details"):
        shown = "" if index in rows_of[slots[0].name] else " · not among the digits shown on the maps"
        st.markdown(f"**Test image #{index}** · digit **{labels[index]}**{shown}")
        tiles = [cache.test_images(dataset_name, (index,))[0]]
        captions = ["original"]
        for s in slots:
            recon, _, mse = cache.reconstructions(keys[s.name], (index,))
            tiles.append(recon[0])
            captions.append(f"{s.name} · MSE {mse[0]:.5f}")
        st.plotly_chart(image_rows_figure([ImageRow("", np.stack(tiles), captions=tuple(captions))], tile_px=96,
                                          title_width=10), key="latent_details_tiles", width="content",
                        config={"displayModeBar": False})  # fmt: skip
        ends = st.columns(2)
        for column, (label, end, icon) in zip(ends, (("Interpolate from here", ENDS[0], ":material/start:"),
                                                     ("Interpolate to here", ENDS[1], ":material/flag:")), strict=True):
            column.button(label, key=f"{end}_use", on_click=pick_end, args=(end, index), icon=icon)
        for s in slots:
            near = cache.neighbours(keys[s.name], index, k)
            same = int((labels[near] == labels[index]).sum())
            st.markdown(widgets.slot_heading(comparison, s.name, f" · {len(near)} nearest in its latent space "
                        f"(whole test set) · {same} of them are also a {labels[index]}"), unsafe_allow_html=True)
            row = ImageRow(s.name, cache.test_images(dataset_name, tuple(int(i) for i in near)),
                           colour=SLOT_COLOURS[s.name], captions=tuple(f"#{i}" for i in near))
            st.plotly_chart(image_rows_figure([row], tile_px=48, title_width=40), key=f"latent_near_{s.name}",
                            width="content", config={"displayModeBar": False})


def pick_end(end: str, index: int | None = None) -> None:
    """An interpolation end chosen by a button (index given) or typed (read from its input)."""
    if index is not None:
        st.session_state[end] = index
    st.session_state[PICKED] = {**st.session_state.get(PICKED, {}), end: st.session_state[end]}


map_area, score_area, details_area = st.container(), st.container(), st.container()
with details_area:  # drawn first, into its place below the maps: a click's answer shows before the maps resend
    draw_details()
with map_area:
    for column, s in zip(st.columns(len(slots)), slots, strict=True):
        with column:
            st.markdown(widgets.slot_heading(comparison, s.name, f" · {s.run.latent_dim}-d code"),
                        unsafe_allow_html=True)
            if method == "raw" and s.run.latent_dim != 2:
                st.info(f"This run's code has {s.run.latent_dim} dims, so there are no raw 2-D coordinates: "
                        "showing UMAP instead.", icon=":material/info:")
            st.plotly_chart(map_figure(s.name), key=f"latent_map_{s.name}", on_select=lambda n=s.name: on_map_select(n),
                            selection_mode=("points",), width="stretch")
            st.caption(widgets.escape(projections[s.name].caption))
with score_area:
    scores = st.columns(len(slots) + 1)
    if comparison.pair is not None:
        agree = cache.agreement(keys["A"], keys["B"], n_points=int(n_points), seed=0, k=k)
        scores[0].metric("Neighbourhood agreement", f"{agree.score:.2f}", help=f"chance level {agree.chance:.4f}")
        scores[0].caption(f"Of each shown digit's {agree.k} nearest neighbours in A's latent space, the share that "
                          f"are also among its {agree.k} nearest in B's (1 = same neighbourhoods; unrelated spaces "
                          f"score ≈ {agree.chance:.4f}).")
    for column, s in zip(scores[1:], slots, strict=False):
        proj = projections[s.name]
        trust = cache.trustworthiness(keys[s.name], proj.coords, proj.indices, seed=0, k=k)
        column.metric(f"Trustworthiness of the {s.name} map", f"{trust:.3f}")
        column.caption(f"scikit-learn's trustworthiness (k={k}, on up to 2,000 of the shown digits): 1 means every "
                       "digit's neighbours on the map are also near it in the latent space.")

st.subheader("Decode any spot")
st.caption("Click empty space on a map, or type a spot. A 2-D map has no exact inverse, so a spot's code is the "
           "distance-weighted average of the codes of the 8 nearest shown digits; each run decodes the average of "
           "its own codes of those same digits. A raw 2-D code is decoded exactly.")
where = st.columns([2, 1, 1, 4])
spot_slot = where[0].radio("Spot on the map of", comparison.names, key=SPOT["slot"], horizontal=True)
x = where[1].number_input("x", key=SPOT["x"], format="%.3f", step=0.1)
y = where[2].number_input("y", key=SPOT["y"], format="%.3f", step=0.1)
spot_map = projections[spot_slot]
spot = cache.map_index((keys[spot_slot].run_id, spot_map.provenance["key"]), spot_map.coords).neighbours((x, y))
with where[3]:
    if spot.far:
        st.warning(f"Far from the data: the nearest shown digit is {spot.distance:.2f} away, more than the typical "
                   f"gap of {spot.spacing:.2f}. The decodings below extrapolate.", icon=":material/warning:")
    else:
        nearby = ", ".join(str(labels[spot_map.indices[r]]) for r in spot.rows[:5])
        st.caption(f"Among the data (nearest shown digit {spot.distance:.2f} away; neighbours: {nearby}).")
decoded, captions = [], []
for s in slots:
    if spot_map.provenance["method"] == "raw" and s.name == spot_slot:
        code, how = np.asarray([x, y], dtype=np.float32), "exact code"
    else:
        code, how = latent_at(cache.test_latents(keys[s.name])[spot_map.indices], spot), "neighbours' average"
    decoded.append(cache.decode(keys[s.name], code[None])[0])
    captions.append(f"{s.name}: {how}")
st.plotly_chart(image_rows_figure([ImageRow("decoded", np.stack(decoded), captions=tuple(captions))], tile_px=96,
                                  title_width=90), key="latent_decoded", width="content",
                config={"displayModeBar": False})  # fmt: skip

st.subheader("Interpolate between two test digits")
for end, default in zip(ENDS, (0, 1), strict=True):
    st.session_state.setdefault(end, default)
ends = st.columns([1, 1, 2])
start = int(ends[0].number_input("From test image #", 0, n_test - 1, key=ENDS[0], on_change=pick_end, args=(ENDS[0],)))
stop = int(ends[1].number_input("To test image #", 0, n_test - 1, key=ENDS[1], on_change=pick_end, args=(ENDS[1],)))
steps = int(ends[2].slider("Steps", 2, 16, 8, key="latent_interp_steps"))
st.caption(f"Digit {labels[start]} → digit {labels[stop]}: each row decodes {steps} evenly spaced points on the "
           "straight line between the two codes in that run's latent space, framed by the two originals.")
originals = cache.test_images(dataset_name, (start, stop))
rows = [ImageRow(s.name, np.concatenate([originals[:1], cache.interpolation(keys[s.name], start, stop, steps),
                                         originals[1:]]), colour=SLOT_COLOURS[s.name]) for s in slots]  # fmt: skip
st.plotly_chart(image_rows_figure(rows, tile_px=56, title_width=40), key="latent_interpolation", width="content",
                config={"displayModeBar": False})

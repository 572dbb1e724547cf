"""Latent space: both models' 2-D maps of the test set side by side, linked; inspect, decode anywhere, interpolate."""

from __future__ import annotations

import numpy as np
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

import app_state
import latent_state
from aecore.latent import empty_spots, latent_at
from aecore.projection import DEFAULT_POINTS, METHOD_TITLES, METHODS, ProjectionConfig

SELECTED = "latent_selected"  # test index of the digit clicked on either map (UI state)
SPOT_MAP = "latent_spot_map"  # model whose map the decode spot lies on
SPOT_X, SPOT_Y = "latent_spot_x", "latent_spot_y"
SPOT_FOR = "latent_spot_for"  # the (method, points) the spot was placed for; a new map resets it
INTERP_START, INTERP_END = "latent_interp_start", "latent_interp_end"
SIZES = (1_000, 2_000, 5_000, DEFAULT_POINTS)
COLOURINGS = {"digit": "digit", "mse": "per-image MSE", "better": "which model reconstructs it better"}
DIGIT_COLOURS = px.colors.qualitative.Safe[:10]  # CARTO "Safe": told apart under colour-vision deficiencies
GRID = 36  # the invisible click layer has a spot in each empty cell of a GRID × GRID grid
SPOT = -1  # the customdata of a grid spot (a digit's is its test index)
NEIGHBOURS_K = 10

runs = app_state.selected_runs()
if not runs:
    st.stop()
models = list(runs)
first = runs[models[0]]
dataset_name = first.config.dataset
test = app_state.dataset(dataset_name).test
n_test = len(test)


def ref(model: str) -> tuple[str, str, str]:
    info = runs[model]
    return str(info.path), info.weights_sha256, info.config.dataset


st.title("Latent space")
st.markdown(
    "Each model squeezes a test digit into a code; these maps lay the codes of the **held-out MNIST test set** "
    "out in 2-D so that digits with similar codes sit close together. **Click a digit** to see both models' "
    "view of it and its nearest neighbours, **click empty space** to decode that spot, and pick two digits "
    "to interpolate between."
)

# --- controls ------------------------------------------------------------------------------------------------

two_d = any(runs[m].latent_dim == 2 for m in models)
methods = [m for m in METHODS if m != "raw" or two_d]
controls = st.columns([1, 1, 2, 1])
method = controls[0].selectbox(
    "Projection",
    methods,
    format_func=METHOD_TITLES.get,
    key="latent_method",
    help="UMAP keeps local neighbourhoods; PCA is linear and keeps global spread; "
    "t-SNE keeps local structure but is slow (computed on demand).",
)
sizes = [s for s in SIZES if s < n_test] + [n_test]
n_points = controls[1].selectbox(
    "Test digits shown", sizes, index=len(sizes) - 1, format_func="{:,}".format, key="latent_points"
)
colouring = controls[2].radio(
    "Colour by",
    list(COLOURINGS) if len(models) == 2 else ["digit", "mse"],
    format_func=COLOURINGS.get,
    horizontal=True,
    key="latent_colour",
)
k = controls[3].number_input(
    "Neighbours (k)",
    1,
    50,
    NEIGHBOURS_K,
    key="latent_k",
    help="how many nearest neighbours the panel shows and the agreement score counts",
)


def config_for(model: str) -> ProjectionConfig:
    # A run whose code is not 2-D has no raw map: it falls back to UMAP (and says so).
    chosen = method if method != "raw" or runs[model].latent_dim == 2 else "umap"
    return ProjectionConfig(method=chosen, n_points=int(n_points))


# --- projections (from the disk cache; computed behind a progress bar when missing) ------------------------

missing = [m for m in models if not latent_state.projection_on_disk(ref(m)[0], config_for(m))]
projections = {}
if missing:
    slow = "t-SNE takes a minute or more" if method == "tsne" else "UMAP takes 10–60 s the first time"
    bar = st.progress(0.0, text=f"Computing {len(missing)} projection(s) of the test set; {slow}…")
for step, model in enumerate(models):
    if model in missing:
        bar.progress(
            step / len(models),
            text=f"Computing the {METHOD_TITLES[config_for(model).method]} map of "
            f"{app_state.MODEL_TITLES[model]} ({n_points:,} test digits)…",
        )
    try:
        projections[model] = latent_state.projection(*ref(model), config_for(model))
    except (ValueError, ImportError, MemoryError) as error:  # e.g. a method's library missing or refusing the data
        st.error(f"Could not compute the {app_state.MODEL_TITLES[model]} map: {error}", icon=":material/error:")
        st.stop()
if missing:
    bar.empty()

labels = test.labels.numpy()
errors = {m: latent_state.test_errors(*ref(m)) for m in models}
positions = {m: {int(i): row for row, i in enumerate(p.indices)} for m, p in projections.items()}
# Hover shows each model's error on the digit: customdata columns 2, 3, ... follow this order.
hover_errors = "".join(
    f"<br>{app_state.MODEL_TITLES[m]} MSE %{{customdata[{2 + i}]:.5f}}" for i, m in enumerate(models)
)


# --- the maps ------------------------------------------------------------------------------------------------


def on_map_select(model: str) -> None:
    """A click on a map: a digit selects it (in both maps); an empty spot becomes the decode spot."""
    points = st.session_state[f"latent_map_{model}"]["selection"]["points"]
    data = points[0].get("customdata") if points else None
    if data is None:
        return  # a cleared selection (e.g. the figure was redrawn) keeps what was chosen
    # A digit's customdata row arrives as a list or, from a typed array, as {"0": index, "1": label, ...}.
    first = data[0] if isinstance(data, list) else data["0"] if isinstance(data, dict) else data
    if int(first) == SPOT:
        st.session_state[SPOT_MAP] = model
        st.session_state[SPOT_X], st.session_state[SPOT_Y] = float(points[0]["x"]), float(points[0]["y"])
    else:
        st.session_state[SELECTED] = int(first)


def scatter(fig: go.Figure, model: str, rows: np.ndarray, name: str, **marker) -> None:
    proj = projections[model]
    index = proj.indices[rows]
    # One float32 row per point (test index, digit, each model's MSE): sent as a compact typed array, which
    # keeps a click's rerun of two 10,000-point maps small.
    custom = np.column_stack([index, labels[index], *(errors[m][index] for m in models)]).astype(np.float32)
    fig.add_trace(
        go.Scattergl(
            x=proj.coords[rows, 0],
            y=proj.coords[rows, 1],
            mode="markers",
            name=name,
            customdata=custom,
            hovertemplate=f"digit %{{customdata[1]}} · test #%{{customdata[0]}}{hover_errors}<extra></extra>",
            marker={"size": 4, "opacity": 0.75, **marker},
            selected={"marker": {"opacity": 0.75}},
            unselected={"marker": {"opacity": 0.75}},
        )
    )


def map_figure(model: str) -> go.Figure:
    proj = projections[model]
    index = proj.indices
    fig = go.Figure()
    # Invisible spots on the empty cells of a grid: a click on empty space lands on one and decodes it.
    # Only empty cells get one, so a click on a digit always picks the digit.
    spots = empty_spots(proj.coords, GRID)
    fig.add_trace(
        go.Scattergl(
            x=spots[:, 0],
            y=spots[:, 1],
            mode="markers",
            name="decode a spot",
            showlegend=False,
            customdata=np.full(len(spots), SPOT),
            marker={"size": 6, "opacity": 0},
            selected={"marker": {"opacity": 0}},
            unselected={"marker": {"opacity": 0}},
            hovertemplate="click to decode this spot<br>(%{x:.2f}, %{y:.2f})<extra></extra>",
        )
    )
    if colouring == "digit":
        for digit in range(10):
            scatter(fig, model, np.flatnonzero(labels[index] == digit), str(digit), color=DIGIT_COLOURS[digit])
    elif colouring == "mse":
        values = np.log10(errors[model][index])
        ticks = np.arange(np.floor(values.min()), np.ceil(values.max()) + 1)
        scatter(
            fig,
            model,
            np.arange(len(index)),
            "per-image MSE",
            color=values,
            colorscale="Viridis",
            colorbar={"title": "MSE", "tickvals": ticks, "ticktext": [f"{10**t:g}" for t in ticks]},
        )
    else:
        mine = errors[model][index] < errors[[m for m in models if m != model][0]][index]
        for better in models:
            rows = np.flatnonzero(mine if better == model else ~mine)
            scatter(fig, model, rows, f"{app_state.MODEL_TITLES[better]} better", color=app_state.MODEL_COLOURS[better])
    highlight(fig, model)
    fig.update_layout(
        height=520,
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        clickmode="event+select",
        legend={"itemsizing": "constant", "title": COLOURINGS[colouring]},
        xaxis={"title": f"{METHOD_TITLES[proj.provenance['method']]} 1"},
        yaxis={"title": f"{METHOD_TITLES[proj.provenance['method']]} 2"},
        hovermode="closest",
    )
    return fig


def highlight(fig: go.Figure, model: str) -> None:
    """Ring the selected digit and the interpolation ends (linked: the same test images on both maps)."""
    proj, where = projections[model], positions[model]
    marks = [
        (st.session_state.get(SELECTED), "selected", "circle-open", 18, "black"),
        (st.session_state.get(INTERP_START), "interpolation start", "triangle-up-open", 14, "#444444"),
        (st.session_state.get(INTERP_END), "interpolation end", "square-open", 14, "#444444"),
    ]
    for index, name, symbol, size, colour in marks:
        if index is not None and int(index) in where:
            x, y = proj.coords[where[int(index)]]
            fig.add_trace(
                go.Scatter(
                    x=[x],
                    y=[y],
                    mode="markers",
                    name=f"{name} #{int(index)}",
                    hoverinfo="skip",
                    marker={"symbol": symbol, "size": size, "color": colour, "line": {"width": 3, "color": colour}},
                )
            )
    if st.session_state.get(SPOT_MAP) == model and st.session_state.get(SPOT_X) is not None:
        fig.add_trace(
            go.Scatter(
                x=[st.session_state[SPOT_X]],
                y=[st.session_state[SPOT_Y]],
                mode="markers",
                name="decoded spot",
                hoverinfo="skip",
                marker={"symbol": "x-thin-open", "size": 16, "color": "black", "line": {"width": 3, "color": "black"}},
            )
        )


def draw_maps() -> None:
    """Both maps side by side, each with its provenance underneath."""
    columns = st.columns(len(models))
    for column, model in zip(columns, models, strict=True):
        with column:
            info = runs[model]
            st.markdown(
                app_state.model_heading(model, f" · {info.latent_dim}-d code · `{info.run_id}`"), unsafe_allow_html=True
            )
            if method == "raw" and info.latent_dim != 2:
                st.info(
                    f"This run's code has {info.latent_dim} dims, so there are no raw 2-D coordinates: "
                    "showing UMAP instead.",
                    icon=":material/info:",
                )
            st.plotly_chart(
                map_figure(model),
                key=f"latent_map_{model}",
                on_select=lambda m=model: on_map_select(m),
                selection_mode=("points",),
                width="stretch",
            )
            st.caption(projections[model].caption)


# --- how much to trust the maps ------------------------------------------------------------------------------


def draw_scores() -> None:
    """Neighbourhood agreement between the two latent spaces and each map's trustworthiness."""
    scores = st.columns(len(models) + 1)
    if len(models) == 2:
        agree = latent_state.agreement(
            *zip(*(ref(m) for m in models), strict=True), n_points=int(n_points), seed=0, k=int(k)
        )
        scores[0].metric("Neighbourhood agreement", f"{agree.score:.2f}", help=f"chance level {agree.chance:.4f}")
        scores[0].caption(
            f"Of each shown digit's {agree.k} nearest neighbours in the MLP's latent space, the share "
            f"that are also among its {agree.k} nearest in the conv's (1 = same neighbourhoods; "
            f"unrelated spaces score ≈ {agree.chance:.4f})."
        )
    for column, model in zip(scores[1:], models, strict=False):
        trust = latent_state.trustworthiness(*ref(model), config_for(model), k=int(k))
        column.metric(f"Trustworthiness of the {app_state.MODEL_TITLES[model]} map", f"{trust:.3f}")
        column.caption(
            f"scikit-learn's trustworthiness (k={int(k)}, on up to 2,000 of the shown digits): 1 means "
            "every digit's neighbours on the map are also near it in the latent space; lower means the "
            "map puts unrelated codes side by side."
        )


# --- the selected digit --------------------------------------------------------------------------------------


def draw_details() -> None:
    """The clicked digit: original, both reconstructions, and its nearest neighbours in each latent space."""
    st.subheader("Selected digit")
    if st.session_state.get(SELECTED) is None:
        st.info("Click a digit on either map to inspect it here.", icon=":material/touch_app:")
    else:
        index = int(st.session_state[SELECTED])
        with st.container(border=True, key="latent_details"):
            st.markdown(
                f"**Test image #{index}** · digit **{labels[index]}**"
                + ("" if index in positions[models[0]] else " · not among the digits shown on the maps")
            )
            images = st.columns(1 + len(models) + 2)
            images[0].image(app_state.test_images(dataset_name, (index,))[0], caption="original", width=96, clamp=True)
            for column, model in zip(images[1:], models, strict=False):
                recon, _, mse = app_state.reconstructions(*ref(model), (index,))
                column.image(
                    recon[0], caption=f"{app_state.MODEL_TITLES[model]} · MSE {mse[0]:.5f}", width=96, clamp=True
                )

            def set_end(key: str, value: int) -> None:
                st.session_state[key] = value

            for column, (label, key, icon) in zip(
                images[-2:],
                (
                    ("Interpolate from here", INTERP_START, ":material/start:"),
                    ("Interpolate to here", INTERP_END, ":material/flag:"),
                ),
                strict=True,
            ):
                column.button(label, key=f"{key}_use", on_click=set_end, args=(key, index), icon=icon)
            for model in models:
                near = latent_state.neighbours(*ref(model), index, int(k))
                same = int((labels[near] == labels[index]).sum())
                st.markdown(
                    app_state.model_heading(
                        model,
                        f" · {len(near)} nearest in its latent space "
                        f"(whole test set) · {same} of them are also a {labels[index]}",
                    ),
                    unsafe_allow_html=True,
                )
                st.image(
                    app_state.image_grid([app_state.test_images(dataset_name, tuple(int(i) for i in near))]),
                    caption=" ".join(f"#{i}" for i in near),
                    clamp=True,
                    width="stretch",
                )


map_area, score_area, details_area = st.container(), st.container(), st.container()
# The details are drawn first, into their place below the maps: a click's answer reaches the screen before
# the two 10,000-point maps are sent again.
with details_area:
    draw_details()
with map_area:
    draw_maps()
with score_area:
    draw_scores()

# --- decode anywhere -----------------------------------------------------------------------------------------

st.subheader("Decode any spot")
spot_key = (method, int(n_points))
if st.session_state.get(SPOT_FOR) != spot_key or st.session_state.get(SPOT_MAP) not in models:
    coords = projections[models[0]].coords  # start on the digit nearest the map's centre: among the data
    centre = coords[np.argmin(((coords - coords.mean(0)) ** 2).sum(1))]
    st.session_state[SPOT_FOR] = spot_key
    st.session_state[SPOT_MAP] = models[0]
    st.session_state[SPOT_X], st.session_state[SPOT_Y] = float(centre[0]), float(centre[1])
st.caption(
    "Click empty space on a map, or type a spot. A 2-D map has no exact inverse, so a spot's code is the "
    "distance-weighted average of the codes of the 8 nearest shown digits; each model decodes the average "
    "of its own codes of those same digits. A raw 2-D code is decoded exactly."
)
where = st.columns([2, 1, 1, 4])
spot_model = where[0].radio(
    "Spot on the map of", models, format_func=app_state.MODEL_TITLES.get, key=SPOT_MAP, horizontal=True
)
x = where[1].number_input("x", key=SPOT_X, format="%.3f", step=0.1)
y = where[2].number_input("y", key=SPOT_Y, format="%.3f", step=0.1)
spot_config = config_for(spot_model)
spot = latent_state.map_index(*ref(spot_model), spot_config).neighbours((x, y))
spot_rows = projections[spot_model].indices  # map row -> test index
with where[3]:
    if spot.far:
        st.warning(
            f"Far from the data: the nearest shown digit is {spot.distance:.2f} away, more than the typical "
            f"gap of {spot.spacing:.2f}. The decodings below extrapolate.",
            icon=":material/warning:",
        )
    else:
        nearby = ", ".join(f"{labels[spot_rows[r]]}" for r in spot.rows[:5])
        st.caption(f"Among the data (nearest shown digit {spot.distance:.2f} away; neighbours: {nearby}).")
decoded = st.columns(len(models) + 2)
for column, model in zip(decoded, models, strict=False):
    codes = latent_state.test_latents(*ref(model))
    if spot_config.method == "raw" and model == spot_model:
        code, how = np.asarray([x, y], dtype=np.float32), "its code at this spot, exactly"
    else:
        code, how = latent_at(codes[spot_rows], spot), "weighted average of neighbours' codes"
    column.image(
        latent_state.decode_codes(ref(model)[0], code[None])[0],
        width=128,
        clamp=True,
        caption=f"{app_state.MODEL_TITLES[model]}: {how}",
    )

# --- interpolation -------------------------------------------------------------------------------------------

st.subheader("Interpolate between two test digits")
for key, default in ((INTERP_START, 0), (INTERP_END, 1)):
    if key not in st.session_state:
        st.session_state[key] = default
ends = st.columns([1, 1, 2])
start = ends[0].number_input("From test image #", 0, n_test - 1, key=INTERP_START)
end = ends[1].number_input("To test image #", 0, n_test - 1, key=INTERP_END)
steps = ends[2].slider("Steps", 2, 16, 8, key="latent_interp_steps")
st.caption(
    f"Digit {labels[start]} → digit {labels[end]}: each row decodes {steps} evenly spaced points on the "
    "straight line between the two codes in that model's latent space; the end frames are the model's "
    "reconstructions of the two digits (shown beside their originals)."
)
for model in models:
    strip = latent_state.interpolation(*ref(model), int(start), int(end), int(steps))
    originals = app_state.test_images(dataset_name, (int(start), int(end)))
    st.markdown(app_state.model_heading(model), unsafe_allow_html=True)
    st.image(
        app_state.image_grid([np.concatenate([originals[:1], strip, originals[1:]])]),
        clamp=True,
        width="stretch",
        caption=f"original #{start} · {steps} decoded steps · original #{end}",
    )

"""The Latent space page's own parts: a slot's map with what sits on it, the digits layer, and the panel of the
digits selected with a box or a lasso (summary, gallery, exports)."""

from __future__ import annotations

import numpy as np
import streamlit as st

from aecore.compare import Comparison
from ui import cache, widgets

SPOT = {"slot": "latent_spot_map", "x": "latent_spot_x", "y": "latent_spot_y", "for": "latent_spot_for"}
SELECTION = "latent_selection"  # the selected test indices (sorted tuple), the same digits on every map
GALLERY_MAX = 32  # digits drawn in the selection's gallery (and its PNG); the CSV and .npz hold them all
DIGIT_CELLS = 14  # the digits layer: one image per cell of a 14 × 14 grid over the map


def digit_layer(dataset_name: str, projection) -> object:
    """The "show digits" layer of a map: one test image per occupied grid cell, at that digit's place."""
    from aecore.selection import grid_representatives
    from ui.latent_figures import DigitLayer

    rows = grid_representatives(projection.coords, DIGIT_CELLS)
    chosen = projection.indices[rows]
    span = projection.coords.max(0) - projection.coords.min(0)
    return DigitLayer(
        projection.coords[rows],
        cache.test_images(dataset_name, tuple(int(i) for i in chosen)),
        cache.test_labels(dataset_name)[chosen],
        cell=(span[0] / DIGIT_CELLS, span[1] / DIGIT_CELLS),
    )


def slot_figure(comparison: Comparison, slot: str, projection, colouring: str, drawn: dict, **layers):
    """A slot's map: its cached points (ui.cache.latent_map_points) with `layers` (ui.latent_figures.map_layers)."""
    from ui.latent_figures import map_layers

    keys = tuple((s.name, s.key) for s in comparison.slots)
    points = cache.latent_map_points(slot, keys, projection.provenance["key"], colouring,
                                     tuple(drawn[s.name] for s in comparison.slots),
                                     comparison.slots[0].run.config.dataset, projection)  # fmt: skip
    return map_layers(points, projection.coords, projection.indices, **layers)


def clear_selection() -> None:
    st.session_state.pop(SELECTION, None)


def selection_panel(comparison: Comparison, selection: tuple[int, ...], maps: dict, n_points: int, k: int) -> None:
    """The digits selected on the maps: how many, their class mix, each method's mean MSE on them (runs beside their
    PCA baselines), the two latent spaces' agreement on them, a gallery and the exports."""
    from aecore.datasets import get
    from aecore.selection import gallery_picture, selection_npz, selection_table, summarise
    from ui.figures import png_bytes
    from ui.latent_figures import summary_title

    st.subheader("Selected digits")
    if not selection:
        st.info("Pick the lasso or the box in a map's toolbar (top right, on hover) and drag it around digits on "
                "either map to select them on both maps.", icon=":material/gesture_select:")  # fmt: skip
        return
    dataset_name = comparison.slots[0].run.config.dataset
    labels, class_names = cache.test_labels(dataset_name), get(dataset_name).class_names
    methods = cache.methods(comparison)
    errors = cache.method_errors(methods)
    overlap = None
    if comparison.pair is not None:
        a, b = comparison.pair
        overlap = cache.neighbourhood_overlap(a.key, b.key, n_points=n_points, seed=0, k=k)
    summary = summarise(selection, labels, class_names, errors, overlap)
    shown = int(np.isin(np.asarray(selection), maps[comparison.slots[0].name].indices).sum())
    with st.container(border=True, key="latent_selection_panel"):
        head = st.columns([4, 1])
        head[0].markdown(f"**{summary_title(summary.count, shown)}**")
        head[1].button("Clear selection", key="latent_selection_clear", on_click=clear_selection,
                       icon=":material/deselect:", width="stretch")  # fmt: skip
        mix = " · ".join(f"{widgets.escape(c)}: {n:,} ({s:.0%})" for c, n, s in summary.classes.itertuples(index=False))
        st.caption(f"Class mix: {mix}")
        names = {d.id: d.short or d.label for d in widgets.series(comparison)}
        columns = st.columns(len(methods) + (overlap is not None))
        for column, (method, _) in zip(columns, methods, strict=False):
            column.metric(f"{names.get(method, method)} mean MSE", f"{summary.mse[method]:.5f}")
        if overlap is not None:
            value = "–" if summary.agreement is None else f"{summary.agreement:.2f}"
            columns[-1].metric(
                "Neighbourhood agreement",
                value,
                help=f"k={k}: of each selected digit shown on the "
                "maps, the share of its nearest neighbours in A's latent space that are also among "
                f"its nearest in B's, averaged over the {summary.agreement_n:,} such digits",
            )
        pca = [f"**{widgets.escape(b.label)}** is PCA with the same dims as {' and '.join(b.slots)}"
               for b in comparison.baselines()]  # fmt: skip
        st.caption("Mean per-image test MSE over the selected digits. " + "; ".join(pca) + ".")
        first = selection[:GALLERY_MAX]
        rows = [cache.test_images(dataset_name, first)] + [cache.reconstructions(s.key, first)[0]
                                                          for s in comparison.slots]  # fmt: skip
        picture = np.kron(gallery_picture(rows), np.ones((2, 2), dtype=np.uint8))  # 32-pixel tiles drawn at 64
        order = ", ".join(["original"] + [f"{s.name}'s reconstruction" for s in comparison.slots])
        more = f" (the first {GALLERY_MAX} of {summary.count:,})" if summary.count > GALLERY_MAX else ""
        st.image(picture, caption=f"Each column: {order}, top to bottom{more}.")
        table = selection_table(selection, labels, class_names, {s.name: errors[s.name] for s in comparison.slots},
                                {name: (m.indices, m.coords) for name, m in maps.items()})  # fmt: skip
        codes = {s.name: cache.test_latents(s.key) for s in comparison.slots}
        files = st.columns(3)
        files[0].download_button("Selection as CSV", table.to_csv(index=False).encode(), "latent_selection.csv",
                                 mime="text/csv", key="latent_export_csv", on_click="ignore",
                                 icon=":material/download:")  # fmt: skip
        files[1].download_button(
            "Gallery as PNG",
            png_bytes(picture),
            "latent_selection.png",
            mime="image/png",
            key="latent_export_png",
            on_click="ignore",
            icon=":material/download:",
        )
        test = cache.dataset(dataset_name).test.images  # (n_test, 1, 32, 32): read when the button is clicked
        files[2].download_button("Images and codes (.npz)",
                                 lambda: selection_npz(selection, test[list(selection), 0].numpy(), labels, codes),
                                 "latent_selection.npz", mime="application/octet-stream", key="latent_export_npz",
                                 on_click="ignore", icon=":material/download:")  # fmt: skip


def decode_spot(comparison: Comparison, maps: dict) -> None:
    """Decode any spot of a map: the spot (clicked or typed), whether it lies among the data, each run's decoding."""
    from aecore.datasets import get
    from aecore.latent import latent_at
    from ui.figures import ImageRow

    keys = {s.name: s.key for s in comparison.slots}
    dataset_name = comparison.slots[0].run.config.dataset
    labels, class_names = cache.test_labels(dataset_name), get(dataset_name).class_names
    st.subheader("Decode any spot")
    st.caption("Click empty space on a map, or type a spot. A 2-D map has no exact inverse, so a spot's code is the "
               "distance-weighted average of the codes of the 8 nearest shown digits; each run decodes the average "
               "of its own codes of those same digits. A raw 2-D code is decoded exactly.")  # fmt: skip
    where = st.columns([2, 1, 1, 4])
    spot_slot = where[0].radio("Spot on the map of", comparison.names, key=SPOT["slot"], horizontal=True)
    x = where[1].number_input("x", key=SPOT["x"], format="%.3f", step=0.1)
    y = where[2].number_input("y", key=SPOT["y"], format="%.3f", step=0.1)
    spot_map = maps[spot_slot]
    spot = cache.map_index((keys[spot_slot].run_id, spot_map.provenance["key"]), spot_map.coords).neighbours((x, y))
    with where[3]:
        nearby = ", ".join(widgets.escape(class_names[labels[spot_map.indices[r]]]) for r in spot.rows[:5])
        if spot.far:
            st.warning(f"Far from the data: the nearest shown digit is {spot.distance:.2f} away, more than the "
                       f"typical gap of {spot.spacing:.2f}. Nothing is invented out here: each run decodes the average "
                       f"code of the {len(spot.rows)} nearest shown digits ({nearby}, …), so the pictures below show "
                       "the edge of the nearest cluster, not a new digit.", icon=":material/warning:")  # fmt: skip
        else:
            st.caption(f"Among the data (the nearest shown point is {spot.distance:.2f} away; neighbours: {nearby}).")
    decoded, captions = [], []
    for s in comparison.slots:
        if spot_map.provenance["method"] == "raw" and s.name == spot_slot:
            code, how = np.asarray([x, y], dtype=np.float32), "exact code"
        else:
            code, how = latent_at(cache.test_latents(keys[s.name])[spot_map.indices], spot), "neighbours' average"
        decoded.append(cache.decode(keys[s.name], code[None])[0])
        captions.append(f"{s.name}: {how}")
    widgets.gallery([ImageRow("decoded", np.stack(decoded), captions=tuple(captions))], "latent_decoded", tile_px=112)

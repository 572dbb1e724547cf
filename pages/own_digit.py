"""Your own digit: draw or upload one, see it prepared like MNIST, every run's and PCA's reconstruction, and where
it lands among the test digits."""

import numpy as np
import pandas as pd
import streamlit as st

from aecore.own_digit import MAX_UPLOAD_BYTES, canvas_to_grey, preprocess, read_upload
from ui import cache, widgets
from ui.figures import ImageRow, own_digit_figure
from ui.theme import TEXT_GREY, column_width

comparison = widgets.page_start(
    "Draw a digit",
    "Models trained on MNIST have only seen digits prepared one way: white ink on black, scaled to fit 20×20 "
    "pixels, centred by centre of mass in 28×28 (here padded to 32×32). Your digit is prepared the same way, "
    "then both runs (and PCA with as many dimensions) rebuild it.",
)
drawn = widgets.series(comparison)

source = st.radio("Input", ["Draw", "Upload"], horizontal=True, key="own_digit_source")
grey = None
LAYOUT = (2, 3)  # the canvas beside the reconstructions
left, right = st.columns(LAYOUT)
with left:
    if source == "Draw":
        from streamlit_drawable_canvas import st_canvas

        canvas = st_canvas(
            stroke_width=18,
            stroke_color="#FFFFFF",
            background_color="#000000",
            width=280,
            height=280,
            drawing_mode="freedraw",
            return_image_data=True,
            key="own_digit_canvas",
        )
        st.caption("Draw one digit with the mouse or a finger; use the canvas toolbar to undo or clear.")
        if canvas is not None and canvas.image_data is not None:
            grey = canvas_to_grey(canvas.image_data)
    else:
        upload = st.file_uploader(
            f"A PNG or JPEG of one digit (at most {MAX_UPLOAD_BYTES / 1e6:g} MB)", key="own_digit_upload"
        )
        if upload is not None:
            try:
                grey = read_upload(upload.getvalue())
            except ValueError as error:
                st.error(f"{widgets.escape(upload.name)}: {error}", icon=":material/error:")

image = None
if grey is not None:
    try:
        image = preprocess(grey)
    except ValueError as error:
        with left:
            st.info(str(error).capitalize(), icon=":material/draw:")

if image is None:
    with right:
        st.info("Nothing to reconstruct yet: draw a digit or upload an image.", icon=":material/info:")
    st.stop()

results = cache.reconstruct_one(cache.methods(comparison), image, image)
with right:
    tiles = np.stack([image[0, 0].numpy(), *(results[s.id][0] for s in drawn)])
    captions = ("yours", *(f"{s.short}: {results[s.id][1]:.4f}" for s in drawn))
    widgets.gallery(
        [ImageRow("", tiles, colour=TEXT_GREY, captions=captions)],
        "own_digit_tiles",
        tile_px=80,
        max_width=column_width(LAYOUT, 1),
    )
    table = pd.DataFrame({"method": [s.label for s in drawn], "MSE vs your digit": [results[s.id][1] for s in drawn]})
    st.dataframe(table.style.format({"MSE vs your digit": "{:.5f}"}), hide_index=True, key="own_digit_table")
    widgets.csv_download(table, "own_digit_mse.csv", "own_digit_csv")
    widgets.pca_caption(comparison)

st.subheader("Where your digit lands")
st.caption(
    "Each run's codes of the test digits, projected to 2-D with PCA (fit on those test codes); the star is "
    "your digit, projected by the same PCA. Landing inside a cluster means the model reads your digit as "
    "that class of shapes. Same digit colours as the Latent space page."
)
for column, s in zip(st.columns(len(comparison.slots)), comparison.slots, strict=True):
    key = s.key
    _, coords = cache.own_digit_pca(key)
    spot, nearest = cache.own_digit_position(key, image)
    labels = cache.test_labels(s.run.config.dataset)
    column.plotly_chart(
        own_digit_figure(coords, labels, f"{s.name} · {s.label} ({s.run.latent_dim}-d code)", spot),
        key=f"own_digit_map_{s.name}",
        width="stretch",
    )
    column.caption(
        f"Its 25 nearest test codes in the {s.run.latent_dim}-d latent space: mostly "
        f"**{int(nearest.argmax())}**s ({nearest.max()} of 25)."
    )

"""Your own digit: draw or upload one, see it preprocessed like MNIST, both reconstructions, and where it lands."""

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

import trust_state
from aecore.own_digit import MAX_UPLOAD_BYTES, canvas_to_grey, preprocess, read_upload

st.title("Draw a digit")
st.markdown(
    "Models trained on MNIST have only seen digits prepared one way: white ink on black, scaled to fit 20×20 "
    "pixels, centred by centre of mass in 28×28 (here padded to 32×32). Your digit is prepared the same way, "
    "then both models (and PCA with as many dimensions) rebuild it."
)

_, refs = trust_state.page_runs()

source = st.radio("Input", ["Draw", "Upload"], horizontal=True, key="own_digit_source")
grey = None
left, right = st.columns([2, 3])
with left:
    if source == "Draw":
        from streamlit_drawable_canvas import st_canvas

        canvas = st_canvas(stroke_width=18, stroke_color="#FFFFFF", background_color="#000000", width=280,
                           height=280, drawing_mode="freedraw", return_image_data=True, key="own_digit_canvas")
        st.caption("Draw one digit with the mouse or a finger; use the canvas toolbar to undo or clear.")
        if canvas is not None and canvas.image_data is not None:
            grey = canvas_to_grey(canvas.image_data)
    else:
        upload = st.file_uploader(f"A PNG or JPEG of one digit (at most {MAX_UPLOAD_BYTES / 1e6:g} MB)",
                                  key="own_digit_upload")
        if upload is not None:
            try:
                grey = read_upload(upload.getvalue())
            except ValueError as error:
                st.error(f"{upload.name}: {error}", icon=":material/error:")

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

results = trust_state.reconstruct_one(refs, image, image)
with right:
    tiles = [("your digit, MNIST-style", image[0, 0].numpy(), None)]
    tiles += [(method, recon, mse) for method, (recon, mse) in results.items()]
    for column, (title, picture, mse) in zip(st.columns(len(tiles)), tiles, strict=True):
        column.image(picture, clamp=True, width="stretch")
        column.caption(f"**{title}**" + ("" if mse is None else f"  \nMSE {mse:.4f}"))
    table = pd.DataFrame({"method": list(results), "MSE vs your digit": [mse for _, mse in results.values()]})
    st.dataframe(table.style.format({"MSE vs your digit": "{:.5f}"}), hide_index=True, key="own_digit_table")
    st.download_button("Download CSV", table.to_csv(index=False).encode(), file_name="own_digit_mse.csv",
                       mime="text/csv", key="own_digit_csv", icon=":material/download:")

st.subheader("Where your digit lands")
st.caption("Each model's codes of the 10,000 test digits, projected to 2-D with PCA (fit on those test codes); "
           "the star is your digit, projected by the same PCA. Landing inside a cluster means the model reads "
           "your digit as that class of shapes.")
labels = trust_state.test_labels(refs[0].dataset)
for column, ref in zip(st.columns(len(refs)), refs, strict=True):
    _, coords = trust_state.digit_map(ref.path, ref.weights_sha256, ref.dataset)
    spot, nearest = trust_state.own_digit_position(ref, image)
    fig = go.Figure()
    for digit in range(10):
        mine = labels == digit
        fig.add_scattergl(x=coords[mine, 0], y=coords[mine, 1], mode="markers", name=str(digit),
                          marker={"size": 3, "opacity": 0.5}, hoverinfo="name")
    fig.add_scatter(x=[spot[0]], y=[spot[1]], mode="markers", name="your digit",
                    marker={"symbol": "star", "size": 20, "color": "black", "line": {"color": "white", "width": 2}})
    fig.update_layout(height=420, margin={"t": 30}, title=f"{ref.title} ({ref.latent_dim}-d code)",
                      xaxis={"showticklabels": False}, yaxis={"showticklabels": False},
                      legend={"itemsizing": "constant"})
    column.plotly_chart(fig, key=f"own_digit_map_{ref.model}")
    column.caption(f"Its 25 nearest test codes in the {ref.latent_dim}-d latent space: mostly "
                   f"**{int(nearest.argmax())}**s ({nearest.max()} of 25).")

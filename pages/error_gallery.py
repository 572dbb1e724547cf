"""Error gallery: the worst- and best-reconstructed test digits of a model, with both models' reconstructions
and where the pixels went wrong."""

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

import app_state
import trust_state

st.title("Error gallery")
st.markdown(
    "Which **test** digits does a model rebuild worst, and which best? Images are ranked by one model's "
    "per-image MSE; every row shows the same digits, so you can see whether the other model (and PCA with "
    "as many dimensions) fails on them too. The heat rows show |x − x̂|, the absolute error of each pixel."
)

_, refs = trust_state.page_runs()

controls = st.columns([2, 2, 2, 3])
ranking = controls[0].radio("Rank by", [r.model for r in refs], format_func=app_state.MODEL_TITLES.get,
                            horizontal=True, key="gallery_rank_model")
end = controls[1].radio("Show", ["worst", "best"], horizontal=True, key="gallery_end")
digit = controls[2].selectbox("Digit", ["all", *range(10)], key="gallery_digit")
k = controls[3].slider("How many", 4, trust_state.GALLERY_MAX, 8, key="gallery_k")

errors = trust_state.errors_by_method(refs)
labels = trust_state.test_labels(refs[0].dataset)
ranked_ref = next(r for r in refs if r.model == ranking)
chosen = trust_state.ranked_indices(errors[ranked_ref.title], labels, None if digit == "all" else int(digit),
                                    worst=end == "worst", k=k)
indices = tuple(int(i) for i in chosen)
originals = app_state.test_images(refs[0].dataset, indices)

# Rows: original, then per method its reconstruction and its |x − x̂|.
rows: list[tuple[str, np.ndarray, bool]] = [("original", originals, False)]
for ref in refs:
    recon, absolute, _ = app_state.reconstructions(ref.path, ref.weights_sha256, ref.dataset, indices)
    rows += [(f"{ref.title} reconstruction", recon, False), (f"{ref.title} |x − x̂|", absolute, True)]
for title, ref in trust_state.pca_refs(refs).items():
    recon = trust_state.pca_reconstructions(ref.dataset, ref.latent_dim, ref.seed, indices)
    rows += [(f"{title} reconstruction", recon, False), (f"{title} |x − x̂|", np.abs(recon - originals), True)]

fig = make_subplots(rows=len(rows), cols=1, vertical_spacing=0.02, subplot_titles=[r[0] for r in rows])
for position, (_, images, is_error) in enumerate(rows, start=1):
    grid = app_state.image_grid([images])
    fig.add_trace(
        go.Heatmap(z=grid, coloraxis="coloraxis2" if is_error else "coloraxis",
                   hovertemplate="%{z:.2f}<extra></extra>"),
        row=position, col=1,
    )
fig.update_yaxes(autorange="reversed", showticklabels=False, scaleanchor="x", constrain="domain")
fig.update_xaxes(showticklabels=False, constrain="domain")
fig.update_layout(
    height=95 * len(rows) + 40, margin={"t": 30, "b": 10, "l": 10, "r": 10},
    coloraxis={"colorscale": "gray", "cmin": 0, "cmax": 1, "showscale": False},
    coloraxis2={"colorscale": "Inferno", "cmin": 0, "cmax": 1, "colorbar": {"title": "|x − x̂|", "len": 0.5}},
)
fig.update_annotations(font_size=12, xanchor="left", x=0)
st.plotly_chart(fig, key="gallery_figure", theme=None)  # Streamlit's theme would replace the colour scales

table = pd.DataFrame({"rank": np.arange(1, len(indices) + 1), "test index": indices, "digit": labels[chosen]})
for method, per_image in errors.items():
    table[f"{method} MSE"] = per_image[chosen]
st.dataframe(table.style.format({c: "{:.5f}" for c in table.columns if c.endswith("MSE")}), hide_index=True,
             key="gallery_table")
st.download_button("Download CSV", table.to_csv(index=False).encode(),
                   file_name=f"{end}_{k}_{ranking}_digit-{digit}_test.csv", mime="text/csv",
                   key="gallery_csv", icon=":material/download:")

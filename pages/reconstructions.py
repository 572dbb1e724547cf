"""Reconstructions: the same test digits as originals and as rebuilt by each model, with per-image MSE."""

import numpy as np
import plotly.express as px
import streamlit as st

import app_state

st.title("Reconstructions")
st.caption("Digits drawn from the test set (never trained on). The number over each reconstruction is that "
           "image's mean squared error; lower is better.")

runs = app_state.selected_runs()
if not runs:
    st.stop()

controls = st.columns([1, 2, 1, 1])
digit = controls[0].selectbox("Digit", ["all", *range(10)], key="recon_digit")
count = controls[1].slider("How many", min_value=1, max_value=16, value=10, key="recon_count")
seed = controls[2].number_input("Sample seed", min_value=0, max_value=2**31 - 1, value=0, step=1, key="recon_seed")
show_errors = controls[3].toggle("Error heatmaps", value=False, key="recon_errors",
                                 help="absolute difference |original − reconstruction| per pixel")

dataset_name = next(iter(runs.values())).config.dataset
indices, labels = app_state.test_sample(dataset_name, None if digit == "all" else int(digit), count, int(seed))
key = tuple(int(i) for i in indices)
originals = app_state.test_images(dataset_name, key)
results = {
    model: app_state.reconstructions(str(info.path), info.weights_sha256, info.config.dataset, key)
    for model, info in runs.items()
}


def facet_figure(rows: list[np.ndarray], titles: list[str], title_colours: list[str], **imshow) -> object:
    """Rows of (n, 32, 32) images as one plotly figure: one facet per image, a row per array."""
    n = len(rows[0])
    fig = px.imshow(np.concatenate(rows), facet_col=0, facet_col_wrap=n, facet_row_spacing=0.06,
                    facet_col_spacing=0.004, **imshow)
    # plotly labels facet i "facet_col=i" (annotations are not in facet order): replace them with ours.
    for annotation in fig.layout.annotations:
        i = int(annotation.text.split("=")[1])
        annotation.update(text=titles[i], font={"size": 11, "color": title_colours[i]})
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    side = 1400 / max(n, 6)
    fig.update_layout(height=int(len(rows) * side * 0.95) + 40, margin={"l": 0, "r": 0, "t": 30, "b": 0})
    return fig


st.markdown(" · ".join(["**Rows:** original", *(app_state.model_heading(m) for m in results)]),
            unsafe_allow_html=True)
titles = [f"{label} · #{index}" for index, label in zip(indices, labels, strict=True)]
colours = ["#444444"] * len(indices)
for model, (_, _, errors) in results.items():
    titles += [f"{app_state.MODEL_TITLES[model]} {e:.4f}" for e in errors]
    colours += [app_state.MODEL_COLOURS[model]] * len(errors)
images = facet_figure([originals, *(r[0] for r in results.values())], titles, colours,
                      binary_string=True, zmin=0, zmax=1)
st.plotly_chart(images, key="recon_images", config={"displayModeBar": False})

if show_errors:
    st.subheader("Absolute error per pixel")
    error_rows = [r[1] for r in results.values()]
    error_titles, error_colours = [], []
    for model, (_, _, errors) in results.items():
        error_titles += [f"{app_state.MODEL_TITLES[model]} {e:.4f}" for e in errors]
        error_colours += [app_state.MODEL_COLOURS[model]] * len(errors)
    heatmaps = facet_figure(error_rows, error_titles, error_colours, color_continuous_scale="inferno",
                            zmin=0, zmax=float(max(r.max() for r in error_rows)), labels={"color": "|error|"})
    st.plotly_chart(heatmaps, key="recon_heatmaps", config={"displayModeBar": False})

summary = st.columns(len(results))
for column, (model, (_, _, errors)) in zip(summary, results.items(), strict=True):
    column.metric(f"{app_state.MODEL_TITLES[model]}: mean MSE of these {len(errors)}", f"{errors.mean():.5f}",
                  help=f"over the whole test set: {runs[model].test_mse:.5f}")

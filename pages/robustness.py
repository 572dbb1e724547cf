"""Robustness lab: corrupt a test digit (noise, an occluding square, a shift) and see what each model makes of it;
MSE against corruption strength for both models and PCA on a fixed test subset."""

import streamlit as st
from plotly.subplots import make_subplots

import app_state
import trust_state
from aecore.robustness import CORRUPTIONS, CURVE_UNITS, Corruption

st.title("Robustness lab")
st.markdown(
    "Damage the input, then ask each model to rebuild it. Every reconstruction is scored against the **clean** "
    "test image, so a low MSE means the model recovered the digit rather than copying the damage."
)

_, refs = trust_state.page_runs()

colours = {ref.title: app_state.MODEL_COLOURS[ref.model] for ref in refs}

left, right = st.columns([1, 2])
with left:
    index = st.number_input("Test image (index into the 10,000 test digits)", 0, 9999, 0, key="robust_index")
    sigma = st.slider("Gaussian noise σ", 0.0, 1.0, 0.3, 0.05, key="robust_sigma")
    size = st.slider("Occluding square (pixels per side)", 0, 24, 0, key="robust_square")
    dx = st.slider("Shift right (pixels; negative = left)", -8, 8, 0, key="robust_shift")

corruption = Corruption(noise=float(sigma), occlusion=int(size), shift_x=int(dx))
clean, corrupted, results = trust_state.corrupted_example(refs, int(index), corruption)
with right:
    tiles = [("clean", clean, None), ("corrupted input", corrupted, None)]
    tiles += [(method, recon, mse) for method, (recon, mse) in results.items()]
    for column, (title, image, mse) in zip(st.columns(len(tiles)), tiles, strict=True):
        column.image(image, clamp=True, width="stretch")
        column.caption(f"**{title}**" + ("" if mse is None else f"  \nMSE vs clean {mse:.4f}"))

st.subheader("Error against corruption strength")
curves = trust_state.robustness_curves(tuple(refs))
n = int(curves["n"].iloc[0])
st.caption(f"Mean MSE against the clean image over a fixed subset of {n} test digits (the first {n // 10} of "
           "each digit); shaded bands are 95% bootstrap intervals. Noise is seeded, so the curves are repeatable.")
fig = make_subplots(rows=1, cols=len(CORRUPTIONS), subplot_titles=[CURVE_UNITS[c] for c in CORRUPTIONS],
                    shared_yaxes=True, horizontal_spacing=0.04)
for column, kind in enumerate(CORRUPTIONS, start=1):
    part = curves[curves["corruption"] == kind]
    for method, rows in part.groupby("method", sort=False):
        colour = colours.get(method, app_state.PCA_COLOUR)
        fig.add_scatter(x=list(rows["strength"]) + list(rows["strength"])[::-1],
                        y=list(rows["ci_high"]) + list(rows["ci_low"])[::-1], fill="toself", fillcolor=colour,
                        opacity=0.2, line={"width": 0}, hoverinfo="skip", showlegend=False, row=1, col=column)
        fig.add_scatter(x=rows["strength"], y=rows["mse"], mode="lines+markers", name=method,
                        line={"color": colour, "dash": "dot" if method.startswith("PCA") else "solid"},
                        legendgroup=method, showlegend=column == 1, row=1, col=column)
fig.update_yaxes(title_text="test MSE vs clean", row=1, col=1)
fig.update_layout(height=380, margin={"t": 40}, legend={"orientation": "h", "y": -0.2})
st.plotly_chart(fig, key="robust_curves")

table = curves.rename(columns={"ci_low": "CI low", "ci_high": "CI high"})
with st.expander("Curve values"):
    st.dataframe(table, hide_index=True, key="robust_table")
st.download_button("Download CSV", table.to_csv(index=False).encode(), file_name="robustness_curves_test.csv",
                   mime="text/csv", key="robust_csv", icon=":material/download:")

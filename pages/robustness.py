"""Robustness lab: corrupt a test digit (noise, an occluding square, a shift) and see what each run and PCA make of
it; MSE against corruption strength on a fixed test subset."""

import numpy as np
import streamlit as st

from aecore.robustness import CURVE_STRENGTHS, CURVE_UNITS, Corruption, corrupt
from aecore.verdicts import Contender, best_of
from ui import cache, widgets
from ui.figures import ImageRow, robustness_figure
from ui.theme import TEXT_GREY, column_width

comparison = widgets.page_start(
    "Robustness lab",
    "Damage the input, then ask each model to rebuild it. Every reconstruction is scored against the **clean** "
    "test image, so a low MSE means the model recovered the digit rather than copying the damage. A denoising "
    "autoencoder (DAE) was trained for exactly this: put it beside the conv net it shares its layers with.",
)
if not widgets.need_same_test_set(comparison):
    st.stop()
drawn = widgets.series(comparison)
methods = cache.methods(comparison)
dataset_name = comparison.slots[0].run.config.dataset
noise, square, shift = (CURVE_STRENGTHS[kind] for kind in ("noise", "occlusion", "shift"))

LAYOUT = (1, 2)  # the controls beside the example
left, right = st.columns(LAYOUT)
with left:
    index = st.number_input(
        "Test image (index into the test set)", 0, len(cache.test_labels(dataset_name)) - 1, 0, key="robust_index"
    )
    sigma = st.slider("Gaussian noise σ", min(noise), max(noise), 0.3, 0.05, key="robust_sigma")
    size = st.slider("Occluding square (pixels per side)", int(min(square)), int(max(square)), 0, key="robust_square")
    dx = st.slider("Shift right (pixels; negative = left)", int(min(shift)), int(max(shift)), 0, key="robust_shift")

clean = cache.dataset(dataset_name).test.images[int(index) : int(index) + 1]
corrupted = corrupt(clean, Corruption(noise=float(sigma), occlusion=int(size), shift_x=int(dx)))
results = cache.reconstruct_one(methods, corrupted, clean)
with right:
    inputs = np.stack([clean[0, 0].numpy(), corrupted[0, 0].numpy()])
    outputs = np.stack([results[s.id][0] for s in drawn])
    rows = [
        ImageRow("clean, corrupted", inputs, colour=TEXT_GREY, captions=("clean", "input")),
        ImageRow("rebuilt", outputs, colour=TEXT_GREY,
                 captions=tuple(f"{s.short}: {results[s.id][1]:.4f}" for s in drawn)),
    ]  # fmt: skip
    # Rows need equal lengths: pad the inputs row with blank tiles when more methods than two are shown.
    if len(outputs) > len(inputs):
        blank = np.ones((len(outputs) - len(inputs), 32, 32), dtype=np.float32)
        rows[0] = ImageRow(
            "clean, corrupted", np.concatenate([inputs, blank]), colour=TEXT_GREY, captions=("clean", "input")
        )
    widgets.gallery(rows, "robust_example", tile_px=80, max_width=column_width(LAYOUT, 1))
    runs = "; ".join(widgets.escape(s.label) for s in drawn if s.short != s.label)  # "A · MLP; B · Conv"
    st.caption(f"Numbers are MSE against the clean image ({runs}).")

st.subheader("Error against corruption strength")
curves = cache.robustness_curves(methods, dataset_name)
n = int(curves["n"].iloc[0])
st.caption(
    f"Mean MSE against the clean image over a fixed subset of {n} test images (the first {n // 10} of each "
    f"{widgets.dataset_spec(comparison).item}); shaded bands are 95% bootstrap intervals. Noise is seeded, so "
    "the curves are repeatable; the sliders above span the same ranges as the curves."
)
st.plotly_chart(robustness_figure(curves, drawn, CURVE_UNITS), key="robust_curves", width="stretch")
widgets.pca_caption(comparison)
labels = {s.id: s.label for s in drawn}
growth = cache.robustness_growth(methods, dataset_name)
contenders = [Contender(widgets.escape(labels[m]), values, baseline=m not in comparison.names)
              for m, values in growth.items()]  # fmt: skip
st.markdown(
    best_of(
        f"From clean to σ = {max(noise):g}, the error grows least for",
        contenders,
        lower_is_better=True,
        fmt="{:+.4f}".format,
    )
)
with st.expander("Curve values"):
    st.dataframe(curves.replace({"method": labels}), hide_index=True, key="robust_table")
widgets.csv_download(curves, "robustness_curves_test.csv", "robust_csv")

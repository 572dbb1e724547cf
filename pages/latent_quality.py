"""Latent quality: how well each run's code (and PCA's, at equal dims) tells the ten digits apart."""

import streamlit as st

from ui import cache, widgets
from ui.figures import accuracy_bars

comparison = widgets.page_start(
    "Latent quality",
    "A good code keeps what makes a 3 a 3. Two classifiers are **fit on codes of each run's own training images** "
    "and scored on codes of the **held-out test images**: a 5-nearest-neighbour vote and a linear probe (logistic "
    "regression on standardised codes). No autoencoder saw a label while training; PCA with the same number of "
    "dimensions, fit on the same images, is the baseline. Chance is 10%.",
)
if not widgets.need_same_test_set(comparison):
    st.stop()
drawn = widgets.series(comparison)
labels = {s.id: s.label for s in drawn}
table = cache.latent_quality(widgets.methods(comparison), comparison.slots[0].run.config.dataset)

st.plotly_chart(accuracy_bars(table, drawn), key="latent_quality_chart", width="stretch")
widgets.pca_caption(comparison)
# Below the chart, not beside it: in a narrow column the accuracy columns were cut off.
shown = table.assign(method=table["method"].map(labels)).rename(columns={
    "latent_dims": "latent dims", "knn_accuracy": "5-NN accuracy", "probe_accuracy": "linear-probe accuracy"})
st.dataframe(shown.style.format({"5-NN accuracy": "{:.1%}", "linear-probe accuracy": "{:.1%}"}), hide_index=True,
             key="latent_quality_table")
best = table.loc[table["probe_accuracy"].idxmax()]
st.caption(f"Most linearly separable code: **{widgets.escape(labels[best['method']])}** "
           f"({best['probe_accuracy']:.1%} on the test set).")
widgets.csv_download(shown, "latent_quality.csv", "latent_quality_csv")

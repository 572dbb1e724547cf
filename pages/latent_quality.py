"""Latent quality: how well each run's code (and PCA's, at equal dims) tells the classes apart."""

import streamlit as st

from aecore import datasets
from aecore.verdicts import Contender, best_of
from ui import cache, widgets
from ui.figures import accuracy_bars

comparison = widgets.page_start(
    "Latent quality",
    "A good code keeps what makes a 3 a 3. Two classifiers are **fit on codes of each run's own training images** "
    "and scored on codes of the **held-out test images**: a 5-nearest-neighbour vote and a linear probe (logistic "
    "regression on standardised codes). No autoencoder saw a label while training; PCA with the same number of "
    "dimensions, fit on the same images, is the baseline. Whiskers are 95% bootstrap intervals over the test images.",
)
if not widgets.need_same_test_set(comparison):
    st.stop()
drawn = widgets.series(comparison)
labels = {s.id: s.label for s in drawn}
dataset_name = comparison.slots[0].run.config.dataset
quality = cache.latent_quality(cache.methods(comparison), dataset_name)
table = quality.table
chance = 1 / len(datasets.get(dataset_name).class_names)

contenders = [Contender(widgets.escape(labels[m]), right["probe"].astype(float), baseline=m not in comparison.names)
              for m, right in quality.correct.items()]  # fmt: skip
st.markdown(
    best_of(
        "Most linearly separable code (linear-probe accuracy on the test images):",
        contenders,
        lower_is_better=False,
        fmt="{:.1%}".format,
    )
    + f" Chance is {chance:.0%}."
)
st.plotly_chart(accuracy_bars(table, drawn, chance=chance), key="latent_quality_chart", width="stretch")
widgets.pca_caption(comparison)
# Below the chart, not beside it: in a narrow column the accuracy columns were cut off.
shown = table[["method", "latent_dims"]].assign(method=table["method"].map(labels))
for column, title in (("knn", "5-NN accuracy"), ("probe", "linear-probe accuracy")):
    shown[title] = table[f"{column}_accuracy"]
    shown[f"{title} 95% CI"] = [f"{lo:.1%}–{hi:.1%}" for lo, hi in zip(table[f"{column}_low"], table[f"{column}_high"],
                                                                       strict=True)]  # fmt: skip
shown = shown.rename(columns={"latent_dims": "latent dims"})
on_screen, config = widgets.fit_names(shown, "method", {s.label: s.short for s in drawn})  # the CSV keeps labels
st.dataframe(
    on_screen.style.format({"5-NN accuracy": "{:.1%}", "linear-probe accuracy": "{:.1%}"}),
    hide_index=True,
    key="latent_quality_table",
    column_config=config,
)
widgets.csv_download(shown, "latent_quality.csv", "latent_quality_csv")

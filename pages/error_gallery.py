"""Error gallery: the test digits one run rebuilds worst (or best), with every run's and PCA's reconstructions
and where the pixels went wrong."""

import numpy as np
import pandas as pd
import streamlit as st

from aecore.compare import RunKey
from aecore.metrics import ranked_indices
from ui import cache, widgets
from ui.figures import ImageRow
from ui.theme import TABLE_WIDTH_PX, TEXT_GREY

GALLERY_MAX = 16

comparison = widgets.page_start(
    "Error gallery",
    "Which **test** images does a run rebuild worst, and which best? Images are ranked by one method's per-image "
    "MSE; every row shows the same images, so you can see whether the other run (and PCA with as many "
    "dimensions) fails on them too. Error rows show |x − x̂| per pixel on the shared scale (0 = black).",
)
if not widgets.need_same_test_set(comparison):
    st.stop()
drawn = widgets.series(comparison)
labels_of = {s.id: s.label for s in drawn}

controls = st.columns([3, 2, 2, 3])
ranking = controls[0].radio(
    "Rank by", [s.id for s in drawn], format_func=labels_of.get, horizontal=True, key="gallery_rank_model"
)
end = controls[1].radio("Show", ["worst", "best"], horizontal=True, key="gallery_end")
digit = widgets.class_picker(comparison, "gallery_digit", controls[2])
k = controls[3].slider("How many", 4, GALLERY_MAX, 8, key="gallery_k")

dataset_name = comparison.slots[0].run.config.dataset
errors = cache.method_errors(cache.methods(comparison))
labels = cache.test_labels(dataset_name)
class_names = widgets.dataset_spec(comparison).class_names
chosen = ranked_indices(errors[ranking], labels, digit, worst=end == "worst", k=k)
indices = tuple(int(i) for i in chosen)

rows = [
    ImageRow(
        "original",
        cache.test_images(dataset_name, indices),
        colour=TEXT_GREY,
        captions=tuple(f"{class_names[labels[i]]} · #{i}" for i in indices),
    )
]
keys = dict(cache.methods(comparison))
for s in drawn:
    key = keys[s.id]
    recon, absolute, mse = (cache.reconstructions(key, indices) if isinstance(key, RunKey)
                            else cache.pca_reconstructions(key, indices))  # fmt: skip
    rows.append(ImageRow(s.label, recon, colour=s.colour, captions=tuple(f"{e:.4f}" for e in mse), space_above=8))
    rows.append(ImageRow(f"{s.short} |x − x̂|", absolute, error=True, colour=s.colour))
widgets.gallery(rows, "gallery_figure")
widgets.pca_caption(comparison)

table = pd.DataFrame({"rank": np.arange(1, len(indices) + 1), "test index": indices, "digit": labels[chosen]})
table = widgets.name_classes(table, comparison)
for s in drawn:
    table[f"{s.label} MSE"] = errors[s.id][chosen]
st.dataframe(
    table.style.format({c: "{:.5f}" for c in table.columns if c.endswith("MSE")}),
    hide_index=True,
    key="gallery_table",
    column_config=widgets.method_headers(table, drawn, TABLE_WIDTH_PX),  # long labels: "A MSE", the label as help
)
widgets.csv_download(table, f"{end}_{k}_{ranking}_class-{'all' if digit is None else digit}_test.csv", "gallery_csv")

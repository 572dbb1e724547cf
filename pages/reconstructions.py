"""Reconstructions: the same test digits as originals and as rebuilt by the runs in A and B, with per-image MSE
and, on request, where the pixel errors are."""

import streamlit as st

from ui import cache, widgets
from ui.figures import ImageRow
from ui.theme import SLOT_COLOURS, TEXT_GREY

comparison = widgets.page_start(
    "Reconstructions",
    "What do rebuilt **test** images (never trained on) look like? The number under each reconstruction is that "
    "image's mean squared error; lower is better. Error maps show |x − x̂| per pixel on one shared scale "
    "(0 = black) that every page uses.",
)
if not widgets.need_same_test_set(comparison):
    st.stop()

controls = st.columns([1, 2, 1, 1])
digit = widgets.class_picker(comparison, "recon_digit", controls[0])
count = controls[1].slider("How many", min_value=1, max_value=16, value=10, key="recon_count")
seed = controls[2].number_input("Sample seed", min_value=0, max_value=2**31 - 1, value=0, step=1, key="recon_seed")
show_errors = controls[3].toggle(
    "Error maps", value=False, key="recon_errors", help="absolute difference |original − reconstruction| per pixel"
)

dataset_name = comparison.slots[0].run.config.dataset
indices, labels = cache.test_sample(dataset_name, digit, count, int(seed))
class_names = widgets.dataset_spec(comparison).class_names
key = tuple(int(i) for i in indices)
results = {s.name: cache.reconstructions(s.key, key) for s in comparison.slots}

rows = [
    ImageRow(
        "original",
        cache.test_images(dataset_name, key),
        colour=TEXT_GREY,
        captions=tuple(f"{class_names[label]} · #{index}" for index, label in zip(indices, labels, strict=True)),
    )
]
for s in comparison.slots:
    recon, absolute, errors = results[s.name]
    rows.append(
        ImageRow(
            f"{s.name} · {s.label}",
            recon,
            colour=SLOT_COLOURS[s.name],
            captions=tuple(f"{e:.4f}" for e in errors),
            space_above=8 if show_errors else 0,
        )
    )
    if show_errors:
        rows.append(ImageRow(f"{s.name} |x − x̂|", absolute, error=True, colour=SLOT_COLOURS[s.name]))
widgets.gallery(rows, "recon_images")

summary = st.columns(len(comparison.slots))
for column, s in zip(summary, comparison.slots, strict=True):
    errors = results[s.name][2]
    column.metric(
        f"{s.name} · {s.label}: mean MSE of these {len(errors)}",
        f"{errors.mean():.5f}",
        help=f"over the whole test set: {s.run.test_mse:.5f}",
    )

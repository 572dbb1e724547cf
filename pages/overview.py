"""Overview: the two runs in slots A and B side by side, against PCA, with a gallery, and what each page answers."""

from datetime import UTC

import numpy as np
import pandas as pd
import streamlit as st

from ui import cache, widgets
from ui.figures import ImageRow, mse_bars
from ui.navigation import PAGES
from ui.theme import SLOT_COLOURS, TEXT_GREY, baseline_colour, column_width

comparison = widgets.page_start(
    "Autoencoders side by side",
    "Two trained autoencoders squeeze each 32×32 MNIST digit through a small code and rebuild it. This page "
    "compares how well the runs in slots **A** and **B** rebuild **held-out test digits**, against PCA keeping "
    "as many dimensions as each code. Lower mean squared error (MSE) is better. Pick the runs in the sidebar.",
)
with st.container(border=True, key="overview_verdicts"):
    verdict_slots = tuple((f"{s.name} · {widgets.escape(s.label)}", s.key, widgets.pca_mse(s.run),
                           s.run.latent_dim, s.run.parameters) for s in comparison.slots)  # fmt: skip
    st.markdown("  \n".join(cache.overview_verdicts(verdict_slots, comparison.same_test_set)))
with st.expander("What each page answers", expanded=True, icon=":material/map:"):
    for entry in PAGES[1:]:  # one line each: two columns would cut the questions short
        st.page_link(entry.path, label=f"**{entry.title}**: {entry.question}", icon=entry.icon)

columns = st.columns(len(comparison.slots))
for column, slot in zip(columns, comparison.slots, strict=True):
    info, key = slot.run, slot.key
    with column:
        st.markdown(widgets.slot_heading(comparison, slot.name), unsafe_allow_html=True)
        c = info.config
        # The recipe is a caption, not a metric: a metric's big digits cut "onecycle" to "onec…" in a third of a
        # column.
        st.caption(f"`{info.run_id}` · recipe **{widgets.escape(c.recipe)}**: {c.epochs} epochs, batch "
                   f"{c.batch_size}, learning rate {c.learning_rate:g}, seed {c.seed}")  # fmt: skip
        pca_mse = widgets.pca_mse(info)
        top = st.columns(3)
        top[0].metric("Latent dims", f"{info.latent_dim:,}", help=info.spec.bottleneck_help)
        top[1].metric("Parameters", f"{info.parameters:,}")
        bottom = st.columns(3)
        bottom[0].metric("Test MSE", f"{info.test_mse:.5f}")
        bottom[1].metric(f"PCA-{info.latent_dim}", f"{pca_mse:.5f}", help=widgets.pca_description(info))
        bottom[2].metric(
            "vs PCA",
            f"{info.test_mse / pca_mse:.2f}×",
            help="run MSE ÷ PCA MSE: below 1 means the autoencoder beats PCA",
        )
        with st.expander("Architecture"):
            st.code(info.architecture or cache.architecture(key), language=None)  # stored: no torch needed
        st.caption(
            f"Kept epoch {info.best_epoch} of {len(info.history)} · trained {info.train_seconds:,.0f} s · "
            f"created {info.created_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
        )

LAYOUT = (1, 2)  # the MSE chart beside the gallery
chart, gallery = st.columns(LAYOUT)
with chart:
    st.markdown("**Test MSE, lower is better**")
    rows = pd.DataFrame([
        {"label": f"{s.name} · {s.label}", "colour": SLOT_COLOURS[s.name], "test_mse": s.run.test_mse,
         "pca_mse": widgets.pca_mse(s.run), "pca_label": f"PCA-{s.run.latent_dim}"}
        for s in comparison.slots
    ])  # fmt: skip
    st.plotly_chart(cache.chart(mse_bars, rows, baseline_colour(0)), key="overview_mse_chart", width="stretch")
    widgets.pca_caption(comparison)

with gallery:
    st.markdown("**One test digit of each class, as each run rebuilds it**")
    artefacts = {s.name: cache.evaluation(s.key) for s in comparison.slots}
    first = artefacts[comparison.slots[0].name]
    image_rows = [ImageRow("original", first.display_images / 255.0, colour=TEXT_GREY)]
    for s in comparison.slots:
        own = artefacts[s.name]
        if not np.array_equal(own.display_indices, first.display_indices):  # another test set: its own originals
            image_rows.append(ImageRow(f"{s.name} original", own.display_images / 255.0, colour=TEXT_GREY))
        errors = own.test_errors[own.display_indices]
        image_rows.append(ImageRow(f"{s.name} · {s.label}", own.display_recon / 255.0, colour=SLOT_COLOURS[s.name],
                                   captions=tuple(f"{e:.4f}" for e in errors)))  # fmt: skip
    widgets.gallery(image_rows, "overview_gallery", tile_px=48, max_width=column_width(LAYOUT, 1))
    st.caption("Numbers under the reconstructions are each image's MSE. More on the Reconstructions page.")

# --- across training seeds (studies-ui): every seed of each slot's config beside the run's interval over test
# images, and A's config against B's across seeds. One block, import included, so page polish elsewhere merges.
from ui import seeds_view  # noqa: E402

seeds_view.overview_block(comparison)
# --- end of across training seeds ---

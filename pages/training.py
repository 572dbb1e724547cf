"""Training curves: training and validation loss per epoch of the runs in A and B, other runs overlaid on request."""

from dataclasses import replace

import numpy as np
import pandas as pd
import streamlit as st

from aecore.compare import RunKey, distinguishing_labels
from ui import cache, frame, widgets
from ui.figures import Curve, loss_curves
from ui.theme import EXTRA_COLOURS, SLOT_COLOURS, baseline_colour, extra_colour

comparison = widgets.page_start(
    "Training curves",
    "How did each run learn? The **validation** loss (solid) is the seed's per-pixel MSE on held-out validation "
    "images after every epoch (never the test set); the dotted line is the architecture's own **training "
    "objective** (the VAE adds its KL term, the DAE sees noisy inputs), averaged over each epoch's batches. The "
    "weights kept are those of the epoch with the lowest validation loss (★). Dashed grey: PCA with as many "
    "components as the latent dims, fit on the run's own training images, reconstructions clipped to [0, 1], "
    "scored on the same validation images.",
)
runs = frame.runs()
in_slots = {s.run.run_id for s in comparison.slots}
others = {run_id: info for run_id, info in runs.items() if run_id not in in_slots}

# The overlay picker gets a whole row: beside the toggles it showed only its last chip, cut at the left.


def seeded_labels(configs: list) -> list[str]:
    """Labels that tell the configs apart and always carry the seed: overlays are often seeds of a slot's config."""
    labels = distinguishing_labels(configs)
    return [label if f"seed {c.seed}" in label else f"{label} · seed {c.seed}"
            for c, label in zip(configs, labels, strict=True)]  # fmt: skip


# Chips name what tells the runs apart (and the seed), not every setting: full labels filled the box after two.
option_labels = dict(zip(others, seeded_labels([info.config for info in others.values()]), strict=True))
overlay = st.multiselect(
    "Overlay other runs", options=list(others), format_func=lambda run_id: f"{option_labels[run_id]} · test MSE "
    f"{others[run_id].test_mse:.5f}",
    key="training_overlay", placeholder="none" if others else "no other runs in the registry",
    max_selections=len(EXTRA_COLOURS), help=f"up to {len(EXTRA_COLOURS)}, so that every curve has its own colour",
)  # fmt: skip
controls = st.columns(2, width=520)
log_scale = controls[0].toggle("Log scale", value=True, key="training_log")
show_train = controls[1].toggle("Training objective", value=True, key="training_show_train")

shown = [(s.run, SLOT_COLOURS[s.name], True, f"{s.name} · ") for s in comparison.slots]
shown += [(others[run_id], extra_colour(i), False, "") for i, run_id in enumerate(overlay)]
labels = seeded_labels([info.config for info, *_ in shown])
curves = [
    Curve(label=prefix + label, colour=colour, epochs=[e.epoch for e in info.history],
          val=[e.val_loss for e in info.history], train=[e.train_loss for e in info.history],
          best_epoch=info.best_epoch, emphasis=emphasis)
    for (info, colour, emphasis, prefix), label in zip(shown, labels, strict=True)
]  # fmt: skip
# One dashed line per distinct PCA: baselines that differ only in the PCA solver's seed fit the same images and
# score alike (0.01164 vs 0.01165), so drawn once each they were a pile of identical lines in the legend.
solver_seeds: dict = {}
for info, *_ in shown:
    key = RunKey.of(info).baseline
    solver_seeds.setdefault(replace(key, seed=0), {}).setdefault(key.seed, info)
baselines = []
for seeds in solver_seeds.values():
    info = next(iter(seeds.values()))
    values = [s.metrics.pca.val_mse or cache.pca_validation_mse(RunKey.of(s).baseline)
              for s in seeds.values()]  # fmt: skip
    images = f"{info.train_images:,} imgs" if info.train_images else "its run's images"
    label = f"PCA-{info.latent_dim} (validation; fit on {images})"
    baselines.append((label, float(np.mean(values)), baseline_colour(len(baselines))))
st.plotly_chart(
    loss_curves(curves, baselines, log_scale=log_scale, show_train=show_train), key="training_curves", width="stretch"
)

st.subheader("Wall time")
rows = [
    {
        "run": curve.label,  # run ids are on the Runs page: with them and the image count the table scrolled
        "epochs": len(info.history),
        "wall time (s)": info.train_seconds,
        "s per epoch": sum(e.seconds for e in info.history) / len(info.history),
        "kept epoch": info.best_epoch,
        "kept val loss": info.history[info.best_epoch - 1].val_loss,
        "test MSE": info.test_mse,
    }
    for (info, *_), curve in zip(shown, curves, strict=True)
]
st.dataframe(
    pd.DataFrame(rows), hide_index=True, key="training_wall_time",
    column_config={
        "run": st.column_config.TextColumn(width=300),  # wide enough for a label, narrow enough for test MSE
        "wall time (s)": st.column_config.NumberColumn(format="%.1f"),
        "s per epoch": st.column_config.NumberColumn(format="%.2f"),
        "kept val loss": st.column_config.NumberColumn(format="%.5f"),
        "test MSE": st.column_config.NumberColumn(format="%.5f"),
    },
)  # fmt: skip
st.caption(
    "Wall time is training plus per-epoch validation, on the machine that trained the run "
    "(the shipped runs were trained on a 2-core CPU, maybe not like yours)."
)

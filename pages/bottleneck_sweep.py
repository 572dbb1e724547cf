"""Bottleneck sweep: test MSE against latent dims per architecture and for PCA, from runs that differ only in width
(a family of runs in the registry, or the runs of a sweep study), with the spread across training seeds."""

import streamlit as st

from aecore import architectures
from aecore.compare import RunKey
from aecore.config import RunConfig
from aecore.seeds import sweep_points
from aecore.sweep import describe_family, families, sweep_table
from ui import cache, frame, seeds_view, studies_view, widgets
from ui.figures import MethodStyle, sweep_seed_figure
from ui.theme import SLOT_COLOURS, baseline_colour, extra_colour

widgets.require_frame()
st.title("Bottleneck sweep")
st.markdown(
    "How much does a wider code buy? Each point is a separate run that differs from its neighbours only in the "
    "bottleneck; the grey line is PCA keeping the same number of dimensions, fit on the same training images, "
    "reconstructions clipped to [0, 1]. All errors are on the held-out **test** set. More runs: the sweep form on "
    "the Studies page, or `python -m aecore sweep --bottlenecks 2 4 8 16 32 64 --models mlp --seeds 0 1 2` (conv: "
    "latent dims = 16 × bottleneck); runs that already exist are reused, not retrained."
)
runs = frame.runs()
every = list(runs.values())
found = families(every)
shipped = describe_family(RunConfig.for_recipe(architectures.DEFAULT_PAIR[0]))
# {what the picker shows: runs}: registry families by their description, then sweep studies.
sources = {name: [runs[r] for r in sweep_table(every, found[name])["run_id"]]
           for name in sorted(found, key=lambda name: (name != shipped, name))}  # fmt: skip
url = studies_view.storage_url()
signature = cache.studies_signature(url)
studies = studies_view.studies(url, signature)
for name in studies.loc[studies["kind"] == "sweep", "study"]:
    trials = studies_view.trials(url, name, signature)
    made = [runs[r] for r in dict.fromkeys(trials.loc[trials["state"] == "COMPLETE", "run_id"].dropna()) if r in runs]
    if made:
        sources[f"study {name} ({len(made)} runs)"] = made
if not sources:
    st.info("No sweep yet: a sweep needs at least two runs with equal settings apart from the bottleneck. "
            "Start one on the Studies page, then come back.", icon=":material/info:")  # fmt: skip
    st.stop()

chosen = st.selectbox(
    "Runs", list(sources), key="sweep_family",
    help="A family: runs with the same recipe, epochs, batch size, learning rate, seed, dataset and training-image "
         "limit. A study: the runs a sweep study made (every seed it ran).",
)  # fmt: skip
points = sweep_points(sources[chosen], every)
intervals = [cache.mean_error_interval(tuple(RunKey.of(runs[r]) for r in ids)) for ids in points["run_ids"]]
points["ci_low"], points["ci_high"] = [i[1] for i in intervals], [i[2] for i in intervals]
specs = [spec for spec in architectures.ARCHITECTURES if spec.name in set(points["model"])]
drawn = [MethodStyle(spec.name, spec.title, extra_colour(i)) for i, spec in enumerate(specs)]
comparison = frame.comparison()
in_sweep = {r for ids in points["run_ids"] for r in ids}
marks = [(s.run.latent_dim, s.run.test_mse, f"{s.name} · {s.label}", SLOT_COLOURS[s.name])
         for s in comparison.slots if s.run.run_id in in_sweep]  # fmt: skip
outside = [f"{s.name} · {widgets.escape(s.label)}" for s in comparison.slots if s.run.run_id not in in_sweep]
averaged = int((points["runs"] > 1).sum())
st.caption(f"{len(points)} points from {int(points['runs'].sum())} runs · {widgets.escape(chosen)}"
           + (f" · not in this sweep: {', '.join(outside)}" if outside else ""))  # fmt: skip
st.plotly_chart(sweep_seed_figure(points, drawn, baseline_colour(0), marks), key="sweep_chart", width="stretch")
seeded = points[points["n_seeds"] >= 2]
st.caption(
    "Whiskers on a point: its 95% interval over test images (CI in the table; bootstrap, 2,000 resamples)"
    + (f"; {averaged} point(s) average several seeds of the study, image by image" if averaged else "")
    + ". " + (f"Open diamonds: the mean across training seeds, bars from min to max, where a config has runs under "
              f"several seeds ({len(seeded)} point(s), {'/'.join(map(str, sorted(set(seeded['n_seeds']))))} seeds "
              "each). The registry's every seed counts; none is picked by its test score."
              if len(seeded) else "No config here has runs under more than one training seed.")
)  # fmt: skip
shown, download = seeds_view.sweep_tables(points)
# Short headers, and parameters and run ids left to the CSV: with every column under its long name the table
# scrolled sideways at 1400 px. The caption above says what the short names stand for.
SHORT = {
    "architecture": "model",
    "bottleneck": "b",
    "latent dims": "dims",
    "test MSE": "test MSE",
    "95% CI (test images)": "95% CI",
    "PCA MSE (same dims)": "PCA MSE",
    "training seeds (n)": "n",
    "seeds": "seeds",
    "mean ± sd across seeds": "mean ± sd (seeds)",
    "min–max across seeds": "min–max (seeds)",
}
st.dataframe(
    shown,
    hide_index=True,
    key="sweep_table",
    height=widgets.table_height(len(shown)),
    column_order=list(SHORT),
    column_config={name: label for name, label in SHORT.items()},
)
st.caption(
    "b: bottleneck; dims: latent dims; 95% CI over test images; PCA keeps the same dims; n: training seeds of "
    "the config. The CSV adds each point's parameter count and run ids."
)
widgets.csv_download(download, "bottleneck_sweep_test.csv", "sweep_csv")

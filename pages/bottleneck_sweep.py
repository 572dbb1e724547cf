"""Bottleneck sweep: test MSE against latent dims per architecture and for PCA, from runs that differ only in width."""

import streamlit as st

from aecore import architectures
from aecore.config import RunConfig
from aecore.sweep import describe_family, families, sweep_table
from ui import widgets
from ui.figures import Series, sweep_figure
from ui.theme import SLOT_COLOURS, baseline_colour, extra_colour

st.title("Bottleneck sweep")
st.markdown(
    "How much does a wider code buy? Each point is a separate run that differs from its neighbours only in the "
    "bottleneck; the grey line is PCA keeping the same number of dimensions, fit on the same training images, "
    "reconstructions clipped to [0, 1]. All errors are on the held-out **test** set. More runs: "
    "`python -m aecore sweep --bottlenecks 2 4 8 16 32 64 --models mlp` (conv: latent dims = 16 × bottleneck); "
    "runs that already exist are reused, not retrained."
)
runs, _ = widgets.registry()
found = families(list(runs.values()))
if not found:
    st.info("No sweep yet: a sweep needs at least two runs with equal settings apart from the bottleneck. "
            "Run the command above, then reload.", icon=":material/info:")
    st.stop()

shipped = describe_family(RunConfig.for_recipe(architectures.DEFAULT_PAIR[0]))
options = sorted(found, key=lambda name: (name != shipped, name))
chosen = st.selectbox("Runs trained with", options, key="sweep_family",
                      help="Runs with the same recipe, epochs, batch size, learning rate, seed, dataset and "
                           "training-image limit.")  # fmt: skip
table = sweep_table(list(runs.values()), found[chosen])
specs = [spec for spec in architectures.ARCHITECTURES if spec.name in set(table["model"])]
drawn = [Series(spec.name, spec.title, extra_colour(i)) for i, spec in enumerate(specs)]
comparison = widgets.current()
in_sweep = set(table["run_id"])
marks = [(s.run.latent_dim, s.run.test_mse, f"{s.name} · {s.label}", SLOT_COLOURS[s.name])
         for s in comparison.slots if s.run.run_id in in_sweep]  # fmt: skip
outside = [f"{s.name} · {widgets.escape(s.label)}" for s in comparison.slots if s.run.run_id not in in_sweep]
st.caption(f"{len(table)} runs · {widgets.escape(chosen)}" + (f" · not in this sweep: {', '.join(outside)}"
                                                              if outside else ""))  # fmt: skip
st.plotly_chart(sweep_figure(table, drawn, baseline_colour(0), marks), key="sweep_chart", width="stretch")
st.dataframe(table.style.format({"test_mse": "{:.5f}", "pca_mse": "{:.5f}", "parameters": "{:,}"}),
             hide_index=True, key="sweep_table")
widgets.csv_download(table, "bottleneck_sweep_test.csv", "sweep_csv")

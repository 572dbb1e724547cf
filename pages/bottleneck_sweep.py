"""Bottleneck sweep: test MSE against latent dims for MLP, conv and PCA, from runs that differ only in width."""

import plotly.graph_objects as go
import streamlit as st

import app_state
from aecore.config import RunConfig
from aecore.sweep import describe_family, families, sweep_table

st.title("Bottleneck sweep")
st.markdown(
    "How much does a wider code buy? Each point is a separate run that differs from its neighbours only in the "
    "bottleneck; the grey line is PCA keeping the same number of dimensions, fit on the same training images. "
    "All errors are on the held-out **test** set. More runs: "
    "`python -m aecore sweep --bottlenecks 2 4 8 16 32 64 --models mlp` (conv: latent dims = 16 × bottleneck); "
    "runs that already exist are reused, not retrained."
)

registry = app_state.registry()
found = families(registry.runs)
if not found:
    st.info("No sweep yet: a sweep needs at least two runs with equal settings apart from the bottleneck. "
            "Run the command above, then reload.", icon=":material/info:")
    st.stop()

shipped = describe_family(RunConfig.for_recipe("mlp"))
options = sorted(found, key=lambda name: (name != shipped, name))
chosen = st.selectbox("Runs trained with", options, key="sweep_family",
                      help="Runs with the same recipe, epochs, batch size, learning rate, seed, dataset and "
                           "training-image limit.")
table = sweep_table(registry.runs, found[chosen])
st.caption(f"{len(table)} runs · {chosen}. " + (registry.runs[0].dataset.get("description", "")
           if registry.runs else ""))

fig = go.Figure()
for model, rows in table.groupby("model", sort=False):
    fig.add_scatter(x=rows["latent_dims"], y=rows["test_mse"], mode="lines+markers", name=app_state.MODEL_TITLES[model],
                    line={"color": app_state.MODEL_COLOURS[model]}, customdata=rows[["bottleneck", "parameters"]],
                    hovertemplate="latent %{x} (bottleneck %{customdata[0]}, %{customdata[1]:,} params)<br>"
                                  "test MSE %{y:.5f}<extra></extra>")
pca = table.drop_duplicates("latent_dims").sort_values("latent_dims")
fig.add_scatter(x=pca["latent_dims"], y=pca["pca_mse"], mode="lines+markers", name="PCA (same dims)",
                line={"color": app_state.PCA_COLOUR, "dash": "dot"},
                hovertemplate="PCA, %{x} components<br>test MSE %{y:.5f}<extra></extra>")
fig.update_layout(height=420, margin={"t": 20}, xaxis={"title": "latent dims", "type": "log", "dtick": 0.30103},
                  yaxis={"title": "test MSE", "type": "log"}, legend={"orientation": "h", "y": -0.2},
                  title={"text": chosen, "font": {"size": 12}, "y": 0.98})
st.plotly_chart(fig, key="sweep_chart")

st.dataframe(table.style.format({"test_mse": "{:.5f}", "pca_mse": "{:.5f}", "parameters": "{:,}"}),
             hide_index=True, key="sweep_table")
st.download_button("Download CSV", table.to_csv(index=False).encode(), file_name="bottleneck_sweep_test.csv",
                   mime="text/csv", key="sweep_csv", icon=":material/download:")

"""Latent quality: how well each model's code (and PCA's, at equal dims) tells the ten digits apart."""

import plotly.graph_objects as go
import streamlit as st

import app_state
import trust_state

st.title("Latent quality")
st.markdown(
    "A good code keeps what makes a 3 a 3. Two classifiers are **fit on codes of the training images** and "
    "scored on codes of the **held-out test images**: a 5-nearest-neighbour vote and a linear probe (logistic "
    "regression on standardised codes). Neither autoencoder saw a label while training; PCA with the same number "
    "of dimensions is the baseline. Chance is 10%."
)

_, refs = trust_state.page_runs()
refs = tuple(refs)
table = trust_state.latent_quality(refs)

colours = {ref.title: app_state.MODEL_COLOURS[ref.model] for ref in refs}
fig = go.Figure()
for column, name in (("knn_accuracy", "5-NN accuracy"), ("probe_accuracy", "linear-probe accuracy")):
    fig.add_bar(
        x=table["method"] + " (" + table["latent_dims"].astype(str) + "-d)",
        y=table[column],
        name=name,
        marker_color=[colours.get(m, app_state.PCA_COLOUR) for m in table["method"]],
        marker_pattern_shape="" if column == "knn_accuracy" else "/",
        text=[f"{v:.1%}" for v in table[column]],
        textposition="outside",
    )
fig.update_layout(barmode="group", height=380, yaxis={"title": "test accuracy", "tickformat": ".0%",
                  "range": [0, 1.08]}, margin={"t": 20}, legend={"orientation": "h", "y": -0.2})
fig.add_hline(y=0.1, line_dash="dot", line_color="grey", annotation_text="chance")

left, right = st.columns([2, 3])
with left:
    shown = table.rename(columns={"method": "method", "latent_dims": "latent dims",
                                  "knn_accuracy": "5-NN accuracy", "probe_accuracy": "linear-probe accuracy"})
    st.dataframe(shown.style.format({"5-NN accuracy": "{:.1%}", "linear-probe accuracy": "{:.1%}"}),
                 hide_index=True, key="latent_quality_table")
    st.download_button("Download CSV", table.to_csv(index=False).encode(), file_name="latent_quality.csv",
                       mime="text/csv", key="latent_quality_csv", icon=":material/download:")
    best = table.loc[table["probe_accuracy"].idxmax()]
    st.caption(f"Most linearly separable code: **{best['method']}** ({best['probe_accuracy']:.1%} on the test set).")
with right:
    st.plotly_chart(fig, key="latent_quality_chart")

"""Per-digit error: test MSE of each model for digits 0-9, the better one highlighted, a bar chart beside."""

import plotly.graph_objects as go
import streamlit as st

import app_state

st.title("Per-digit error")
st.caption("Mean squared error over the test images of each digit (n = how many test images show it). "
           "The better model's value is highlighted in its colour.")

runs = app_state.selected_runs()
if not runs:
    st.stop()

table = app_state.per_digit_of(runs)
mse_columns = [f"{model} MSE" for model in runs]


def highlight_best(row):
    best = f"{row['best']} MSE"
    return [
        f"background-color: {app_state.MODEL_COLOURS[row['best']]}33; font-weight: bold" if column == best else ""
        for column in row.index
    ]


left, right = st.columns([3, 2])
with left:
    styled = table.style.apply(highlight_best, axis=1).format(
        {column: "{:.5f}" for column in table.columns if "MSE" in column or "−" in column}
    )
    st.dataframe(styled, hide_index=True, key="per_digit_table", height=35 * 11 + 3)
    wins = table["best"].value_counts()
    st.caption(" · ".join(f"{app_state.MODEL_TITLES[m]} better on {wins.get(m, 0)} of 10 digits" for m in runs))
    st.download_button(
        "Download CSV", table.to_csv(index=False).encode(), file_name="per_digit_test_mse.csv", mime="text/csv",
        key="per_digit_csv", icon=":material/download:",
    )
with right:
    fig = go.Figure()
    for model, column in zip(runs, mse_columns, strict=True):
        fig.add_bar(x=table["digit"], y=table[column], name=app_state.MODEL_TITLES[model],
                    marker_color=app_state.MODEL_COLOURS[model])
    fig.update_layout(barmode="group", height=420, xaxis={"title": "digit", "dtick": 1}, yaxis_title="test MSE",
                      margin={"t": 20}, legend={"orientation": "h", "y": -0.15})
    st.plotly_chart(fig, key="per_digit_chart")

"""Per-digit error: test MSE of each model for digits 0-9, the better one highlighted, a bar chart beside."""

import plotly.graph_objects as go
import streamlit as st

import app_state
import trust_state

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

# --- how sure: bootstrap intervals and the paired difference (aecore.stats via trust_state) ---------------------

st.subheader("How sure is this?")
st.caption("95% percentile-bootstrap intervals (2,000 resamples of the test images, seed 0), beside PCA with as "
           "many components as each model's latent dims. Intervals that do not overlap zero in the paired "
           "difference mean the gap is not luck of the test sample.")
refs = tuple(trust_state.refs(runs))
intervals = trust_state.interval_table(refs)
methods = [c.removesuffix(" MSE") for c in intervals.columns if c.endswith(" MSE")]
colours = {ref.title: app_state.MODEL_COLOURS[ref.model] for ref in refs}
ci_fig = go.Figure()
for method in methods:
    mean = intervals[f"{method} MSE"]
    ci_fig.add_scatter(x=intervals["digit"], y=mean, mode="markers", name=method,
                       marker={"color": colours.get(method, app_state.PCA_COLOUR), "size": 9},
                       error_y={"type": "data", "array": intervals[f"{method} CI high"] - mean,
                                "arrayminus": mean - intervals[f"{method} CI low"]})
ci_fig.update_layout(height=360, scattermode="group", xaxis_title="digit", yaxis_title="test MSE (95% CI)",
                     margin={"t": 20}, legend={"orientation": "h", "y": -0.2})
st.plotly_chart(ci_fig, key="per_digit_ci_chart")
st.dataframe(intervals.style.format({c: "{:.5f}" for c in intervals.columns if c not in ("digit", "n")}),
             hide_index=True, key="per_digit_ci_table")
st.download_button("Download CSV", intervals.to_csv(index=False).encode(), file_name="per_digit_test_mse_ci.csv",
                   mime="text/csv", key="per_digit_ci_csv", icon=":material/download:")

if len(refs) == 2:
    first, second = refs
    difference = trust_state.paired_difference(first, second)
    pca_columns = {f"{title} MSE": intervals[f"{title} MSE"] for title in trust_state.pca_refs(list(refs))}
    difference = difference.assign(**pca_columns)
    st.markdown(f"**Paired difference {first.title} − {second.title}** (negative: {first.title} better) and "
                f"the share of test images {first.title} rebuilds better (win rate)")
    diff_fig = go.Figure()
    diff_fig.add_scatter(x=difference["digit"], y=difference["diff"], mode="markers", marker={"size": 9},
                         marker_color=[colours[first.title] if d < 0 else colours[second.title]
                                       for d in difference["diff"]],
                         error_y={"type": "data", "array": difference["ci_high"] - difference["diff"],
                                  "arrayminus": difference["diff"] - difference["ci_low"]}, showlegend=False)
    diff_fig.add_hline(y=0, line_dash="dot", line_color="grey")
    diff_fig.update_layout(height=300, xaxis_title="digit", yaxis_title=f"{first.title} − {second.title} MSE",
                           margin={"t": 20})
    st.plotly_chart(diff_fig, key="per_digit_diff_chart")
    shown = difference.rename(columns={"diff": f"{first.title} − {second.title}", "ci_low": "CI low",
                                       "ci_high": "CI high", "win_rate": f"{first.title} win rate",
                                       "win_low": "win CI low", "win_high": "win CI high"})
    st.dataframe(shown.style.format({c: "{:.5f}" for c in shown.columns if "MSE" in c or "−" in c or c.startswith("CI")}
                                    | {c: "{:.1%}" for c in shown.columns if "win" in c}),
                 hide_index=True, key="per_digit_diff_table")
    st.download_button("Download CSV", shown.to_csv(index=False).encode(),
                       file_name="per_digit_paired_difference_test.csv", mime="text/csv",
                       key="per_digit_diff_csv", icon=":material/download:")

"""Studies: the Optuna sweeps and tuning studies in the local storage (the shipped ones on a fresh clone), a study's
trials and Optuna's plots of them, a trial's run into slot A or B, and forms that start a sweep or a tuning study
as the training job."""

import streamlit as st

from ui import cache, frame, studies_view, widgets
from ui.figures import study_history_figure, study_intermediate_figure, study_parallel_figure

widgets.require_frame()
st.title("Studies")
st.markdown(
    "Sweeps and tuning run as Optuna studies (`python -m aecore sweep`, `tune`, or the form below). Every trial "
    "that finishes is an ordinary run in the checkpoints folder; a study minimises the **validation** MSE (the "
    "lowest over a run's epochs), never a test-set number. Pruned trials stopped early and saved no run."
)
comparison = frame.comparison()
slots = ", ".join(widgets.slot_heading(comparison, s.name) for s in comparison.slots)
st.markdown(f"In the slots now: {slots}" if slots else "Both slots are empty.", unsafe_allow_html=True)

url = studies_view.storage_url()
signature = cache.studies_signature(url)
table = studies_view.studies(url, signature)
if table.empty:
    st.info("No studies in this checkpoints folder yet: start a sweep or a tuning study below.",
            icon=":material/info:")  # fmt: skip
else:
    st.dataframe(studies_view.study_table(table),
                 hide_index=True, key="studies_table",
                 column_config={"best validation MSE": st.column_config.NumberColumn("best val. MSE", format="%.5f",
                                                                                    width=96),
                                # each count as wide as its header ("complete" and "running" were cut at 50 px)
                                **{c: st.column_config.NumberColumn(width=w) for c, w in
                                   (("trials", 46), ("complete", 66), ("pruned", 52), ("failed", 46), ("running", 60))},
                                "kind": st.column_config.TextColumn(width=48),
                                "study": st.column_config.TextColumn(width=166),
                                "best run": st.column_config.TextColumn(width=230)})  # fmt: skip
    st.caption(f"Storage: {widgets.escape(url)}")
    names = list(table["study"])
    name = st.selectbox("Study", names, key="studies_study")
    kind = table.loc[table["study"] == name, "kind"].item()
    trials = studies_view.trials(url, name, signature)
    st.subheader(f"Trials of {widgets.escape(name)}")
    st.dataframe(studies_view.trial_table(trials), hide_index=True, key="studies_trials",
                 height=widgets.table_height(min(len(trials), 20)),
                 column_config={"validation MSE": st.column_config.NumberColumn(format="%.5f"),
                                "learning_rate": st.column_config.NumberColumn(format="%.3g"),
                                "seconds": st.column_config.NumberColumn(format="%.0f")})  # fmt: skip
    widgets.csv_download(trials, f"{name}_trials.csv", "studies_trials_csv")
    frozen = studies_view.frozen_trials(url, name, signature)
    if (trials["state"] == "COMPLETE").any():
        charts = st.columns(2) if kind == "tune" else [st.container()]
        with charts[0]:
            st.plotly_chart(study_parallel_figure(frozen), key="studies_parallel", width="stretch")
        if kind == "tune":
            with charts[1]:
                st.plotly_chart(study_history_figure(frozen), key="studies_history", width="stretch")
            st.plotly_chart(study_intermediate_figure(frozen), key="studies_intermediate", width="stretch")
    if kind == "sweep":
        st.caption("A sweep's runs also appear as a curve on the Bottleneck sweep page.")
    st.subheader("Put a trial's run into a slot")
    studies_view.trial_to_slot(trials, frame.runs())

st.subheader("Start a sweep")
studies_view.sweep_form()
st.subheader("Start tuning")
studies_view.tune_form()

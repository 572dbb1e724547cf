"""Placeholder dashboard: loads the shipped runs and shows both test MSEs."""

import streamlit as st

from aecore.checkpoints import list_runs

st.set_page_config(page_title="Autoencoder comparison", layout="wide")
runs, broken = list_runs()
for run in runs:
    st.metric(f"{run.config.model} · {run.run_id}", f"{run.test_mse:.5f}")

"""The reference app for bench_dashboard.py: one Streamlit page with a title, a line and a button."""

import streamlit as st

st.title("Bare app")
st.session_state.setdefault("bare_runs", 0)
st.session_state["bare_runs"] += 1
st.write(f"script runs: {st.session_state['bare_runs']}")
st.button("Again", key="bare_again")

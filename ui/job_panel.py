"""The job panel above every page: the running job's progress (a training or a study job), then what a job this
session started did, until dismissed."""

from __future__ import annotations

from collections import Counter

import streamlit as st

from aecore.job_messages import CANCELLED, FAILED
from ui import cache, session, widgets
from ui.theme import SLOT_COLOURS


def job_panel() -> None:
    snapshot = cache.training_jobs().snapshot()
    if snapshot.active:
        live_job_panel()
    elif snapshot.study and session.started_here(snapshot.job_id) and not session.dismissed(snapshot.job_id):
        study_result(snapshot)
    elif snapshot.job_id and session.job_slot(snapshot.job_id) is not None and not session.dismissed(snapshot.job_id):
        job_result(snapshot)


@st.fragment(run_every=0.5)
def live_job_panel() -> None:
    jobs = cache.training_jobs()
    snapshot = jobs.snapshot()
    if not snapshot.active:
        st.rerun(scope="app")  # the frame puts the new run into its slot and re-reads the registry
    config = snapshot.config
    mine = session.job_slot(snapshot.job_id)
    owner = f"started here, into slot {mine}" if mine else "started in another browser tab or session"
    with st.container(border=True, key="job_panel"):
        title, cancel = st.columns([5, 1])
        count = f" ({snapshot.current + 1} of {len(snapshot.configs)})" if len(snapshot.configs) > 1 else ""
        title.markdown(study_title(snapshot) if snapshot.study else (
            f"**Job {snapshot.job_id}: training {widgets.escape(config.run_id)}**{count} · epoch "
            f"{snapshot.epoch or '–'} of {config.epochs}  \n{owner}; every open tab sees this job and can cancel it"
        ))  # fmt: skip
        if cancel.button(f"Cancel job {snapshot.job_id}", key="job_cancel", icon=":material/stop_circle:"):
            jobs.cancel()
        if snapshot.batches:
            st.progress(snapshot.batch_fraction, text=f"Batch {snapshot.batch} of {snapshot.batches}")
        else:
            st.progress(0.0, text="Starting the training process and loading data…")
        eta = "–" if snapshot.eta_seconds is None else f"{snapshot.eta_seconds:,.0f} s"
        cols = st.columns(5)
        cols[0].metric("Job done", f"{snapshot.fraction:.0%}")
        cols[1].metric("Batch loss", _fmt(snapshot.batch_loss))
        cols[2].metric("Train loss (last epoch)", _fmt(snapshot.train_loss))
        cols[3].metric("Val loss (last epoch)", _fmt(snapshot.val_loss))
        cols[4].metric("ETA", eta, help=f"elapsed {snapshot.elapsed:,.0f} s")
        if snapshot.history:
            from ui.figures import job_curve

            history = snapshot.history
            fig = job_curve([e.epoch for e in history], [e.train_loss for e in history],
                            [e.val_loss for e in history], SLOT_COLOURS.get(mine or "A"))  # fmt: skip
            st.plotly_chart(fig, key="job_curve", width="stretch")


def job_result(snapshot) -> None:
    slot = session.job_slot(snapshot.job_id)
    with st.container(border=True, key="job_result"):
        trained = [r for r in snapshot.run_ids if r not in snapshot.reused]
        if trained:
            st.success(f"Trained and saved {widgets.escape(', '.join(trained))} in {snapshot.elapsed:,.0f} s; "
                       f"now in slot {slot}.", icon=":material/check_circle:")  # fmt: skip
        if snapshot.reused:
            st.info(f"{widgets.escape(', '.join(snapshot.reused))} already existed with this exact config, so it was "
                    f"loaded instantly instead of trained again (change the seed to train a new copy); now in slot "
                    f"{slot}.", icon=":material/bolt:")  # fmt: skip
        if snapshot.state == CANCELLED:
            st.warning(
                f"Training cancelled: {widgets.escape(snapshot.message)}. Earlier runs are untouched.",
                icon=":material/stop_circle:",
            )
        elif snapshot.state == FAILED:
            st.error(
                f"Training failed: {widgets.escape(snapshot.message)}. Earlier runs are untouched.",
                icon=":material/error:",
            )
        dismiss_button(snapshot)


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.5f}"


def study_title(snapshot) -> str:
    """The job panel's heading for a running study job: which study, trial i of n, the config, the epoch."""
    owner = "started here" if session.started_here(snapshot.job_id) else "started in another browser tab or session"
    heading = f"**Job {snapshot.job_id}: {snapshot.study_kind} study {widgets.escape(snapshot.study)}**"
    config = snapshot.config
    if not snapshot.trial or config is None:
        now = "starting the training process and opening the study…"
    else:
        c = config
        now = (f"trial {snapshot.trial} of {snapshot.trials}: {widgets.escape(c.spec.title)} bottleneck "
               f"{c.bottleneck} · seed {c.seed} · {widgets.escape(c.run_id)} · epoch {snapshot.epoch or '–'} of "
               f"{c.epochs}")  # fmt: skip
    return f"{heading} · {now}  \n{owner}; every open tab sees this job and can cancel it"


def study_result(snapshot) -> None:
    """What a finished, cancelled or failed study job did, until dismissed."""
    with st.container(border=True, key="job_result"):
        trained = [r for r in snapshot.run_ids if r not in snapshot.reused]
        states = Counter(snapshot.trial_states)
        summary = (f"{len(trained)} run(s) trained, {len(snapshot.reused)} reused, {states.get('PRUNED', 0)} pruned, "
                   f"{states.get('FAIL', 0)} failed")  # fmt: skip
        study = widgets.escape(snapshot.study)
        if snapshot.state == CANCELLED:
            st.warning(
                f"Study {study} cancelled ({summary}): {widgets.escape(snapshot.message)}.",
                icon=":material/stop_circle:",
            )
        elif snapshot.state == FAILED:
            st.error(f"Study {study} failed ({summary}): {widgets.escape(snapshot.message)}.", icon=":material/error:")
        else:
            curve = ", its curve on the Bottleneck sweep page" if snapshot.study_kind == "sweep" else ""
            st.success(f"Study {study} is done: {summary}. Its trials are on the Studies page{curve}.",
                       icon=":material/check_circle:")  # fmt: skip
        dismiss_button(snapshot)


def dismiss_button(snapshot) -> None:
    if st.button("Dismiss", key="job_dismiss"):
        session.dismiss(snapshot.job_id)
        st.rerun()

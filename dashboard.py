"""The dashboard frame: page config, navigation, run selection, the retrain form and the job panel.

`streamlit run dashboard.py` opens on the shipped runs. Pages live in pages/ and stay thin; the
cached calls into aecore are in app_state.py (and latent_state.py / trust_state.py for the latent
and trust pages).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st
from streamlit.navigation.page import StreamlitPage

import app_state
from aecore.config import DATASETS, MODELS, RECIPE_DEFAULTS, RECIPES, ConfigError

if TYPE_CHECKING:  # for annotations only: jobs and plotly load when a job first appears
    import plotly.graph_objects as go

    from aecore.jobs import JobSnapshot

HERE = Path(__file__).resolve().parent

# Navigation order. Several people build pages in parallel, so an entry is listed only once its
# file exists: the dashboard keeps working while a page is still being written.
PAGES: list[tuple[str, str, str]] = [
    ("pages/overview.py", "Overview", ":material/dashboard:"),
    ("pages/training.py", "Training curves", ":material/show_chart:"),
    ("pages/reconstructions.py", "Reconstructions", ":material/image:"),
    ("pages/per_digit.py", "Per-digit error", ":material/table_chart:"),
    ("pages/latent_space.py", "Latent space", ":material/scatter_plot:"),
    ("pages/error_gallery.py", "Error gallery", ":material/grid_view:"),
    ("pages/robustness.py", "Robustness", ":material/blur_on:"),
    ("pages/own_digit.py", "Draw a digit", ":material/draw:"),
    ("pages/bottleneck_sweep.py", "Bottleneck sweep", ":material/tune:"),
    ("pages/latent_quality.py", "Latent quality", ":material/verified:"),
]

JOB_WATCHED = "job_watched"  # id of the job this session saw running (its result is then shown here)
JOB_HANDLED = "job_handled"  # id of the finished job whose runs this session has already selected
JOB_DISMISSED = "job_dismissed"  # id of the job whose result message the user closed


def navigation() -> StreamlitPage:
    pages = [
        st.Page(path, title=title, icon=icon, default=(index == 0))
        for index, (path, title, icon) in enumerate(PAGES)
        if (HERE / path).is_file()
    ]
    return st.navigation(pages)


def adopt_finished_job() -> None:
    """Select the runs of a job this session watched, once, before the run selectors are drawn."""
    snapshot = app_state.training_jobs().snapshot()
    if snapshot.active or not snapshot.run_ids:
        return
    if st.session_state.get(JOB_WATCHED) != snapshot.job_id or st.session_state.get(JOB_HANDLED) == snapshot.job_id:
        return
    st.session_state[JOB_HANDLED] = snapshot.job_id
    app_state.refresh_registry()
    for config in snapshot.configs[: len(snapshot.run_ids)]:
        st.session_state[app_state.RUN_KEYS[config.model]] = config.run_id


def run_selectors(registry: app_state.Registry) -> None:
    st.header("Runs to compare")
    for model in MODELS:
        runs = {r.run_id: r for r in registry.of_model(model)}
        key = app_state.RUN_KEYS[model]
        if not runs:
            st.warning(f"No readable {app_state.MODEL_TITLES[model]} run: train one below.")
            continue
        if st.session_state.get(key) not in runs:
            default = app_state.default_run_id(model)
            st.session_state[key] = default if default in runs else next(iter(runs))
        st.selectbox(
            f"{app_state.MODEL_TITLES[model]} run",
            options=list(runs),
            format_func=lambda run_id, runs=runs: app_state.run_label(runs[run_id]),
            key=key,
        )
    for broken in registry.broken:
        st.warning(f"Unreadable run **{broken.run_id}** (skipped): {broken.reason}", icon=":material/warning:")


def retrain_form() -> None:
    st.header("Train")
    recipes = "\n\n".join(f"**{r.name}**: {r.description}" for r in RECIPE_DEFAULTS.values())
    with st.form("retrain", border=False):
        choice = st.radio("Model", ["both", *MODELS], horizontal=True, key="retrain_model",
                          format_func=lambda m: "Both" if m == "both" else app_state.MODEL_TITLES[m])
        recipe = st.selectbox("Recipe", RECIPES, key="retrain_recipe", help=recipes)
        dataset_name = st.selectbox("Dataset", DATASETS, key="retrain_dataset",
                                    help="mnist-sample is bundled and works offline; mnist needs the full files")
        left, right = st.columns(2)
        mlp_b = left.text_input("MLP bottleneck", "32", key="retrain_bottleneck_mlp", help="code width")
        conv_b = right.text_input("Conv bottleneck", "2", key="retrain_bottleneck_conv",
                                  help="code channels; each is a 4×4 map, so latent dims = 16 × this")
        epochs = left.text_input("Epochs", "", key="retrain_epochs", placeholder="recipe default")
        batch_size = right.text_input("Batch size", "", key="retrain_batch_size", placeholder="recipe default")
        learning_rate = left.text_input("Learning rate", "", key="retrain_learning_rate", placeholder="recipe default")
        seed = right.text_input("Seed", "0", key="retrain_seed")
        train_limit = st.text_input("Train on the first N images only", "", key="retrain_train_limit",
                                    placeholder="all (e.g. 500 for a quick run)")
        submitted = st.form_submit_button("Train", type="primary", key="retrain_submit", width="stretch")
    st.caption("Blank fields take the recipe's defaults. A config that already has a run loads instantly "
               "instead of training again: change the seed to train a fresh copy.")
    if not submitted:
        return
    try:
        configs = app_state.retrain_configs(
            choice, recipe=recipe, dataset_name=dataset_name, bottlenecks={"mlp": mlp_b, "conv": conv_b},
            epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, seed=seed, train_limit=train_limit,
        )
    except ConfigError as error:
        st.error(f"Not started: {error}", icon=":material/error:")
        return
    from aecore.jobs import JobBusy

    try:
        job_id = app_state.training_jobs().start(configs, root=Path(app_state.checkpoint_root()))
    except JobBusy as error:
        st.warning(f"Not started: {error}", icon=":material/hourglass_top:")
        return
    st.session_state[JOB_WATCHED] = job_id  # the job panel, drawn after the sidebar, shows it at once


def job_panel() -> None:
    snapshot = app_state.training_jobs().snapshot()
    if snapshot.active:
        st.session_state[JOB_WATCHED] = snapshot.job_id
        live_job_panel()
    elif snapshot.job_id and st.session_state.get(JOB_WATCHED) == snapshot.job_id:
        job_result(snapshot)


@st.fragment(run_every=0.5)
def live_job_panel() -> None:
    jobs = app_state.training_jobs()
    snapshot = jobs.snapshot()
    if not snapshot.active:
        st.rerun(scope="app")  # the frame selects the new run and refreshes the registry
    config = snapshot.config
    with st.container(border=True, key="job_panel"):
        title, cancel = st.columns([5, 1])
        count = f" ({snapshot.current + 1} of {len(snapshot.configs)})" if len(snapshot.configs) > 1 else ""
        title.markdown(f"**Training {config.run_id}**{count} · epoch {snapshot.epoch or '–'} of {config.epochs}")
        if cancel.button("Cancel", key="job_cancel", icon=":material/stop_circle:"):
            jobs.cancel()
        if snapshot.batches:
            st.progress(snapshot.batch_fraction, text=f"Batch {snapshot.batch} of {snapshot.batches}")
        else:
            st.progress(0.0, text="Loading data…")
        eta = "–" if snapshot.eta_seconds is None else f"{snapshot.eta_seconds:,.0f} s"
        cols = st.columns(5)
        cols[0].metric("Job done", f"{snapshot.fraction:.0%}")
        cols[1].metric("Batch loss", _fmt(snapshot.batch_loss))
        cols[2].metric("Train loss (last epoch)", _fmt(snapshot.train_loss))
        cols[3].metric("Val loss (last epoch)", _fmt(snapshot.val_loss))
        cols[4].metric("ETA", eta, help=f"elapsed {snapshot.elapsed:,.0f} s")
        if snapshot.history:
            st.plotly_chart(live_curve(snapshot), key="job_curve", width="stretch")


def live_curve(snapshot: JobSnapshot) -> go.Figure:
    import plotly.graph_objects as go

    colour = app_state.MODEL_COLOURS[snapshot.config.model]
    epochs = [e.epoch for e in snapshot.history]
    fig = go.Figure()
    fig.add_scatter(x=epochs, y=[e.train_loss for e in snapshot.history], name="train", mode="lines+markers",
                    line={"color": colour})
    fig.add_scatter(x=epochs, y=[e.val_loss for e in snapshot.history], name="validation", mode="lines+markers",
                    line={"color": colour, "dash": "dot"})
    fig.update_layout(height=220, margin={"l": 10, "r": 10, "t": 10, "b": 10}, xaxis_title="epoch",
                      yaxis_title="MSE", yaxis_type="log")
    return fig


def job_result(snapshot: JobSnapshot) -> None:
    from aecore.jobs import CANCELLED, FAILED

    if st.session_state.get(JOB_DISMISSED) == snapshot.job_id:
        return
    with st.container(border=True, key="job_result"):
        trained = [r for r in snapshot.run_ids if r not in snapshot.reused]
        if trained:
            st.success(f"Trained and saved {', '.join(trained)} in {snapshot.elapsed:,.0f} s; now selected.",
                       icon=":material/check_circle:")
        if snapshot.reused:
            st.info(f"{', '.join(snapshot.reused)} already existed with this exact config, so it was loaded "
                    "instantly instead of trained again (change the seed to train a new copy); now selected.",
                    icon=":material/bolt:")
        if snapshot.state == CANCELLED:
            st.warning(f"Training cancelled: {snapshot.message}. Earlier runs are untouched.",
                       icon=":material/stop_circle:")
        elif snapshot.state == FAILED:
            st.error(f"Training failed: {snapshot.message}. Earlier runs are untouched.", icon=":material/error:")
        if st.button("Dismiss", key="job_dismiss"):
            st.session_state[JOB_DISMISSED] = snapshot.job_id
            st.rerun()


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.5f}"


st.set_page_config(page_title="MNIST autoencoders: MLP vs conv", page_icon=":material/compare:", layout="wide")
page = navigation()
adopt_finished_job()
registry = app_state.registry()
with st.sidebar:
    run_selectors(registry)
    retrain_form()
selected = app_state.selected_runs()
if selected:
    st.info(app_state.dataset_banner(selected), icon=":material/dataset:")
else:
    st.warning("No readable runs in the checkpoints folder: train one from the sidebar.", icon=":material/warning:")
job_panel()
page.run()

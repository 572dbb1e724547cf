"""Page parts for Optuna studies: the local storage, putting a trial's run into a slot, the forms that start a
sweep or a tuning study as a job, and what the job panel says about a study job."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from aecore import architectures
from aecore.compare import SLOTS
from aecore.config import ConfigError
from aecore.runstore import RunInfo, default_checkpoint_root
from ui import cache, session, widgets

TRIAL_COLUMNS = ["number", "state", "value", "model", "bottleneck", "seed", "learning_rate", "epochs", "batch_size",
                 "run_id", "run", "reused", "duplicate_of", "error", "seconds"]  # fmt: skip


def storage_url() -> str:
    """The local study storage: `studies.db` beside the checkpoints folder."""
    from aecore.studies import default_storage

    return default_storage(default_checkpoint_root())


def study_table(studies: pd.DataFrame) -> pd.DataFrame:
    """The studies as the page shows them: a best run that is not in this checkpoints folder says so."""
    from aecore.studies import NOT_SHIPPED, run_presence

    root = default_checkpoint_root()
    best = [f"{run_id} (not shipped)" if run_presence(run_id, root) == NOT_SHIPPED else run_id
            for run_id in studies["best_run_id"]]  # fmt: skip
    return studies.assign(best_run_id=best).rename(columns={"best_value": "best validation MSE",
                                                            "best_run_id": "best run"})  # fmt: skip


# --- the study storage, read so that a fault in it is one warning, never an error on a page about runs -------


def _storage_warning(error: Exception) -> None:
    st.warning(f"The study storage cannot be read, so no studies are shown: {widgets.escape(error)}",
               icon=":material/warning:")  # fmt: skip


def studies(url: str, signature: tuple) -> pd.DataFrame:
    """cache.studies; on a storage fault (a damaged file, a database gone) one warning and no studies."""
    from aecore.studies import STUDY_COLUMNS, StudyError

    try:
        return cache.studies(url, signature)
    except StudyError as error:
        _storage_warning(error)
        return pd.DataFrame(columns=STUDY_COLUMNS)


def trials(url: str, name: str, signature: tuple) -> pd.DataFrame:
    """cache.study_trials; on a storage fault one warning and no trials."""
    from aecore.studies import StudyError

    try:
        return cache.study_trials(url, name, signature)
    except StudyError as error:
        _storage_warning(error)
        return pd.DataFrame(columns=["number", "state", "value", "run_id"])


def frozen_trials(url: str, name: str, signature: tuple) -> list:
    """cache.study_frozen_trials; on a storage fault one warning and no trials."""
    from aecore.studies import StudyError

    try:
        return cache.study_frozen_trials(url, name, signature)
    except StudyError as error:
        _storage_warning(error)
        return []


def trial_table(trials: pd.DataFrame) -> pd.DataFrame:
    """The trials as the page shows them: the columns that say something about this study, value named, and
    whether each trial's run is in this checkpoints folder ("run not shipped" when it is not)."""
    from aecore.studies import run_presence

    root = default_checkpoint_root()
    trials = trials.assign(run=[run_presence(run_id, root) for run_id in trials["run_id"]])
    shown = trials[[c for c in TRIAL_COLUMNS if c in trials.columns]]
    shown = shown.loc[:, [c for c in shown.columns if c in ("number", "state", "value") or shown[c].notna().any()]]
    return shown.rename(columns={"value": "validation MSE"})


def trial_to_slot(trials: pd.DataFrame, runs: dict[str, RunInfo]) -> None:
    """Pick a complete trial whose run is in this checkpoints folder and put its run into slot A or B."""
    complete = trials[(trials["state"] == "COMPLETE") & trials["run_id"].isin(list(runs))]
    complete = complete.drop_duplicates("run_id")
    if complete.empty:
        st.info("No complete trial of this study has its run in this checkpoints folder: the runs of a shipped "
                "study's trials are not shipped (only the recipes they chose, as the default runs), and a run "
                "trained on another machine lives in that machine's folder.", icon=":material/info:")  # fmt: skip
        return
    labels = {row.run_id: f"trial {row.number} · {_trial_label(runs[row.run_id])} · validation MSE {row.value:.5f}"
              for row in complete.itertuples()}  # fmt: skip
    run_id = st.selectbox("Trial", list(labels), format_func=labels.get, key="studies_trial")
    st.caption(f"run {widgets.escape(run_id)}")
    columns = st.columns(len(SLOTS))
    for column, slot in zip(columns, SLOTS, strict=True):
        column.button(f"Put into slot {slot}", key=f"studies_put_{slot}", on_click=session.put, args=(slot, run_id),
                      icon=":material/input:", width="stretch")  # fmt: skip


def _trial_label(run: RunInfo) -> str:
    """What tells a study's runs apart, without the test score: trials are chosen on validation loss."""
    c = run.config
    return (f"{c.spec.title} b={c.bottleneck} · {c.epochs} ep · batch {c.batch_size} · lr {c.learning_rate:.3g} · "
            f"seed {c.seed}")  # fmt: skip


def _whole_numbers(text: str, name: str) -> tuple[int, ...]:
    parts = text.replace(",", " ").split()
    try:
        return tuple(int(part) for part in parts)
    except ValueError:
        raise ConfigError(f"{name} must be whole numbers separated by spaces, e.g. 2 4 8; got {text!r}") from None


def _optional_number(text: str, name: str) -> int | None:
    values = _whole_numbers(text, name)
    if len(values) > 1:
        raise ConfigError(f"{name} takes one number or nothing; got {text!r}")
    return values[0] if values else None


def sweep_form() -> None:
    """A small form that starts a grid sweep study as the one training job; the job panel then shows its trials."""
    from aecore.studies import SweepSpec

    specs = {spec.name: spec for spec in architectures.ARCHITECTURES}
    with st.form("study_sweep_form"):
        models = st.multiselect("Architectures", list(specs), default=[architectures.DEFAULT_PAIR[0]],
                                format_func=lambda name: specs[name].title, key="study_models")  # fmt: skip
        left, middle = st.columns(2)
        bottlenecks = left.text_input("Bottlenecks", "2 4 8", key="study_bottlenecks",
                                      help="conv and dae: code channels, 16 latent dims each")  # fmt: skip
        seeds = middle.text_input("Seeds", "0 1 2", key="study_seeds", help="one run per seed at every grid point")
        epochs = left.text_input("Epochs", "", key="study_epochs", placeholder="recipe's")
        limit = middle.text_input("Train on the first N images only", "", key="study_train_limit",
                                  placeholder="all (e.g. 500 for a quick sweep)")  # fmt: skip
        submitted = st.form_submit_button("Start sweep", type="primary", key="study_submit", icon=":material/tune:")
    st.caption("Every grid point is a run with the recipe's defaults and the settings above; points that already "
               "have a run are reused instantly. Starting the same sweep again resumes its study.")  # fmt: skip
    if not submitted:
        return
    try:
        spec = SweepSpec(models=tuple(models), bottlenecks=_whole_numbers(bottlenecks, "bottlenecks"),
                         seeds=_whole_numbers(seeds, "seeds"), epochs=_optional_number(epochs, "epochs"),
                         train_limit=_optional_number(limit, "the image limit"))  # fmt: skip
    except ConfigError as error:
        st.error(f"Not started: {widgets.escape(error)}", icon=":material/error:")
        return
    start_study_job(spec)


MAX_WORKERS = 4


def tune_form() -> None:
    """A small form that starts a TPE tuning study of one architecture as the training job: how many trials, how
    many worker processes; the job panel then shows its trials."""
    from aecore.studies import TuneSpec

    specs = {spec.name: spec for spec in architectures.ARCHITECTURES}
    with st.form("study_tune_form"):
        model = st.selectbox("Architecture", list(specs), format_func=lambda name: specs[name].title,
                             key="tune_model")  # fmt: skip
        left, middle, right = st.columns(3)
        trials = left.number_input("Trials", min_value=1, max_value=200, value=12, step=1, key="tune_trials",
                                   help="finished trials the study should have; a rerun resumes and adds")  # fmt: skip
        workers = middle.number_input("Workers", min_value=1, max_value=MAX_WORKERS, value=1, step=1,
                                      key="tune_workers", help="processes training trials side by side on this "
                                      "machine (each takes CPU cores)")  # fmt: skip
        limit = right.text_input("Train on the first N images only", "", key="tune_train_limit",
                                 placeholder="all (e.g. 500)")  # fmt: skip
        submitted = st.form_submit_button("Start tuning", type="primary", key="tune_submit", icon=":material/tune:")
    st.caption("TPE searches the learning rate (log scale), epochs and batch size of the recipe, minimising the "
               "validation MSE; a trial behind the median of earlier ones is pruned and saves no run. Starting the "
               "same settings again resumes the study.")  # fmt: skip
    if not submitted:
        return
    try:
        spec = TuneSpec(model=model, trials=int(trials), train_limit=_optional_number(limit, "the image limit"))
    except ConfigError as error:
        st.error(f"Not started: {widgets.escape(error)}", icon=":material/error:")
        return
    start_study_job(spec, workers=int(workers))


def start_study_job(spec, workers: int = 1) -> None:
    """Start a sweep or tune study as the one training job, remember that this session started it, redraw."""
    from aecore.jobs import JobBusy

    try:
        job_id = cache.training_jobs().start_study(spec, root=default_checkpoint_root(), workers=workers)
    except JobBusy as error:
        st.warning(f"Not started: {widgets.escape(error)}", icon=":material/hourglass_top:")
        return
    session.remember_job(job_id, None)
    st.rerun()  # the frame draws the job panel above the page

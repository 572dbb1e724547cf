"""The dashboard frame: page config, navigation, the run slots A and B, the train form and the job panel.

`streamlit run dashboard.py` opens on the shipped MLP (slot A) and conv net (slot B). Pages live in pages/ and
stay thin; state, caches and figures live in the ui package.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st
from streamlit.navigation.page import StreamlitPage

from aecore import architectures, datasets
from aecore.compare import SLOTS, details_line, picker_label
from aecore.config import RECIPE_DEFAULTS, RECIPES, ConfigError, RunConfig
from aecore.datasets import DatasetUnavailable
from aecore.runstore import CheckpointError, default_checkpoint_root
from aecore.text import printable
from ui import cache, frame, session, studies_view, warmup, widgets
from ui.navigation import PAGES
from ui.theme import SLOT_COLOURS

HERE = Path(__file__).resolve().parent
PENDING = "pending_job"  # (configs, slot, why it asks) of a job waiting for the user's confirmation
CONFIRM_ABOVE_SECONDS = 180
SIDEBAR_PX = 420


def navigation() -> StreamlitPage:
    pages = [
        st.Page(entry.path, title=entry.title, icon=entry.icon, default=(index == 0))
        for index, entry in enumerate(PAGES)
        if (HERE / entry.path).is_file()
    ]
    return st.navigation(pages, expanded=True)  # every page listed: collapsed, 13 pages hid the last three


def finished_job():
    """The snapshot of a finished job this session started and has not put into its slot yet, else None. Read
    before the registry: the job wrote its runs before it finished, so that one read finds them."""
    snapshot = cache.training_jobs().snapshot()
    if snapshot.active or not snapshot.run_ids or not session.to_adopt(snapshot.job_id):
        return None
    return snapshot


def read() -> tuple[frame.Reading, dict[str, str | None]]:
    """The registry, read once, with a finished job's run put into its slot and every slot filled, and the
    comparison; with what the slots held before they were filled (for `vanished_slot_warnings`)."""
    finished = finished_job()
    runs, broken = cache.registry()
    if finished is not None:
        session.adopt(finished.job_id, finished.run_ids, runs)
    held = slots_held()
    session.ensure_slots(runs)
    return frame.Reading(runs, broken, session.comparison(runs)), held


def slot_pickers(runs: dict, broken: tuple) -> None:
    st.header("Runs to compare")
    if not runs:
        st.warning("No readable runs: train one below.", icon=":material/warning:")
    else:
        shipped = {session.default_run_id(slot) for slot in SLOTS}

        for slot in SLOTS:
            st.markdown(f"{widgets.swatch(slot)} **Run {slot}**", unsafe_allow_html=True)
            chosen = st.selectbox(f"Run {slot}", options=list(runs), key=session.SLOT_KEYS[slot],
                                  format_func=lambda run_id: picker_label(runs[run_id]),
                                  label_visibility="collapsed")  # fmt: skip
            origin = " · shipped default" if chosen in shipped else ""
            st.caption(widgets.escape(details_line(runs[chosen]) + origin))
        st.button("Swap A and B", key="slot_swap", on_click=session.swap, icon=":material/swap_vert:")
    if broken:
        with st.expander(f"{len(broken)} unreadable run folder(s)", icon=":material/warning:"):
            for item in broken:
                st.text(f"{item.run_id}: {item.reason}")  # plain text: file-derived strings are never markdown


def train_form() -> None:
    st.header("Train")
    specs = {spec.name: spec for spec in architectures.ARCHITECTURES}
    with st.form("train_form", border=False):
        model = st.selectbox(
            "Architecture",
            list(specs),
            format_func=lambda name: specs[name].title,
            key="train_model",
            help="\n\n".join(f"**{s.title}**: {s.summary}" for s in specs.values()),
        )
        left, right = st.columns(2)
        bottleneck = left.text_input(
            "Bottleneck", "", key="train_bottleneck", placeholder="default",
            help="\n\n".join(f"**{s.title}**: {s.bottleneck_help} (default {s.default_bottleneck})"
                             for s in specs.values()),
        )  # fmt: skip
        slot = right.radio(
            "Into slot",
            SLOTS,
            key="train_slot",
            horizontal=True,
            help="the finished run replaces the run in this slot (in this browser tab only)",
        )
        options = {}
        for name, owners in _options().items():
            option = owners[0]
            which = ", ".join(spec.title for spec in specs.values() if option in spec.options)
            options[name] = st.text_input(
                f"{option.title} ({which} only)",
                "",
                key=f"train_option_{name}",
                placeholder=f"{option.default:g}",
                help=option.help,
            )
        recipe = st.selectbox(
            "Recipe",
            RECIPES,
            key="train_recipe",
            format_func=lambda r: RECIPE_DEFAULTS[r].title,
            help="\n\n".join(f"**{r.title}**: {r.description}" for r in RECIPE_DEFAULTS.values()),
        )
        dataset_name = st.selectbox(
            "Dataset",
            datasets.names(),
            key="train_dataset",
            format_func=lambda name: datasets.get(name).title,
            help="MNIST (60k) and its 5k sample are bundled and work offline; "
            "Fashion-MNIST needs Debian's dataset-fashion-mnist package",
        )
        epochs = left.text_input("Epochs", "", key="train_epochs", placeholder="recipe's")
        batch_size = right.text_input("Batch size", "", key="train_batch_size", placeholder="recipe's")
        learning_rate = left.text_input("Learning rate", "", key="train_learning_rate", placeholder="recipe's")
        seeds = right.text_input("Seeds", "0", key="train_seeds", help="one run per seed, e.g. 0 1 2")
        train_limit = st.text_input(
            "Train on the first N images only",
            "",
            key="train_train_limit",
            placeholder="all (e.g. 500 for a quick run)",
        )
        submitted = st.form_submit_button("Train", type="primary", key="train_submit", width="stretch")
    st.caption(
        "Blank fields take the recipe's and architecture's defaults. A config that already has a run loads "
        "instantly instead of training again: change the seed to train a fresh copy."
    )
    if submitted:
        try:
            configs = form_configs(
                model, bottleneck, options, recipe, dataset_name, epochs, batch_size, learning_rate, seeds, train_limit
            )
        except ConfigError as error:
            st.error(f"Not started: {widgets.escape(error)}", icon=":material/error:")
            return
        reasons = confirmation_reasons(configs)
        if reasons:
            st.session_state[PENDING] = (configs, slot, reasons)
        else:
            start_job(configs, slot)
    pending_confirmation()


def _options() -> dict[str, list[architectures.OptionSpec]]:
    found: dict[str, list] = {}
    for spec in architectures.ARCHITECTURES:
        for option in spec.options:
            found.setdefault(option.name, []).append(option)
    return found


def parse_number(text: str) -> int | float | str | None:
    """'' -> None (use the default); '12' -> 12; '1e-3' -> 0.001; other text is returned unchanged, so that
    RunConfig's validation names the field and says what is allowed."""
    text = text.strip()
    if not text:
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def form_configs(model, bottleneck, options, recipe, dataset_name, epochs, batch_size, learning_rate, seeds,
                 train_limit) -> list[RunConfig]:  # fmt: skip
    """The configs the form asks for (one per seed); ConfigError naming a bad field."""
    spec = architectures.get(model)
    fields = {"bottleneck": bottleneck, "epochs": epochs, "batch_size": batch_size, "learning_rate": learning_rate}
    overrides = {name: value for name, text in fields.items() if (value := parse_number(text)) is not None}
    overrides["train_limit"] = parse_number(train_limit)
    given = {name: parse_number(text) for name, text in options.items() if parse_number(text) is not None}
    foreign = [name for name in given if name not in spec.option_defaults]
    if foreign:
        raise ConfigError(f"{spec.title} has no option {', '.join(foreign)}; leave that field blank")
    overrides["options"] = given
    seed_values = [parse_number(part) for part in seeds.replace(",", " ").split()] or [0]
    return [RunConfig.for_recipe(model, recipe, dataset=dataset_name, seed=seed, **overrides)
            for seed in dict.fromkeys(seed_values)]  # fmt: skip


def confirmation_reasons(configs: list[RunConfig]) -> list[str]:
    """Why a job should be confirmed before it starts: a bottleneck that cannot help, or a long estimated time."""
    from aecore.data import estimate_train_images

    reasons = []
    warning = configs[0].spec.bottleneck_warning(configs[0].bottleneck)
    if warning:
        reasons.append(warning)
    root = default_checkpoint_root()
    todo = [c for c in configs if not (root / c.run_id / "run.json").exists()]
    seconds = sum(c.spec.estimate_seconds(c.epochs, c.batch_size, estimate_train_images(c.dataset, c.train_limit))
                  for c in todo)  # fmt: skip
    if seconds > CONFIRM_ABOVE_SECONDS:
        reasons.append(f"training {len(todo)} run(s) takes about {seconds / 60:.0f} minutes on 2 CPU cores")
    return reasons


def pending_confirmation() -> None:
    if PENDING not in st.session_state:
        return
    configs, slot, reasons = st.session_state[PENDING]
    st.warning("  \n".join(widgets.escape(r) for r in reasons) + "  \nStart anyway?", icon=":material/warning:")
    go, stop = st.columns(2)
    if go.button("Start", key="train_confirm", type="primary"):
        del st.session_state[PENDING]
        start_job(configs, slot)
        st.rerun()
    if stop.button("Don't", key="train_decline"):
        del st.session_state[PENDING]
        st.rerun()


def start_job(configs: list[RunConfig], slot: str) -> None:
    from aecore.jobs import JobBusy

    try:
        job_id = cache.training_jobs().start(configs, root=default_checkpoint_root())
    except JobBusy as error:
        st.warning(f"Not started: {widgets.escape(error)}", icon=":material/hourglass_top:")
        return
    session.remember_job(job_id, slot)


def job_panel() -> None:
    snapshot = cache.training_jobs().snapshot()
    if snapshot.active:
        live_job_panel()
    elif snapshot.study and studies_view.started_here(snapshot.job_id) and not session.dismissed(snapshot.job_id):
        studies_view.job_result(snapshot)
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
        title.markdown(studies_view.live_title(snapshot) if snapshot.study else (
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
    from aecore.jobs import CANCELLED, FAILED

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
        if st.button("Dismiss", key="job_dismiss"):
            session.dismiss(snapshot.job_id)
            st.rerun()


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.5f}"


def slots_held() -> dict[str, str | None]:
    return {slot: st.session_state.get(session.SLOT_KEYS[slot]) for slot in SLOTS}


def vanished_slot_warnings(before: dict[str, str | None], runs: dict, broken: tuple) -> None:
    """One line per slot whose run left the registry since the last rerun (deleted, or no longer readable)."""
    unreadable = {item.run_id for item in broken}
    for slot, held in before.items():
        if held is None or held in runs:
            continue
        why = "is no longer readable (the sidebar says why)" if held in unreadable else "was deleted"
        now = st.session_state.get(session.SLOT_KEYS[slot])
        instead = f"slot {slot} now shows {now}" if now in runs else f"slot {slot} is empty"
        st.warning(widgets.escape(f"Run {held} in slot {slot} {why}; {instead}."), icon=":material/warning:")


def run_page(page: StreamlitPage) -> None:
    """Run the page; a run or dataset that changes on disk while it is drawn is one line, not a traceback."""
    try:
        page.run()
    except (CheckpointError, DatasetUnavailable) as error:
        cache.forget_registry()  # the next rerun reads the folder again and drops what is gone
        st.warning(
            f"This page stopped: {widgets.escape(printable(error, 300))}. Rerun or pick another run.",
            icon=":material/warning:",
        )


# The sidebar is wider than Streamlit's default so a closed run picker shows its whole label.
st.set_page_config(
    page_title="Autoencoders side by side",
    page_icon=":material/compare:",
    layout="wide",
    initial_sidebar_state=SIDEBAR_PX,
)
# Streamlit reads that width only if the page config arrives before the sidebar mounts, which on the first load
# after a server start it does not (the sidebar came up 300 px wide, cutting the pickers, 3 times out of 3). A
# minimum width holds it at SIDEBAR_PX on every load; a user can still drag it wider or collapse it.
st.html(f'<style>[data-testid="stSidebar"][data-collapsed="false"] {{min-width: {SIDEBAR_PX}px !important}}</style>')
warmup.start()  # once per server process: torch's thread count, and the default runs' caches filled in the background
page = navigation()
st.session_state[widgets.FRAME_RAN] = True
asked = st.session_state.pop(widgets.DEEP_LINK, None)  # a deep link that came before the frame ever ran
if asked and asked != page.url_path and any(Path(e.path).stem == asked for e in PAGES):
    st.switch_page(next(e.path for e in PAGES if Path(e.path).stem == asked))
reading, held = read()
frame.hand_over(reading)
with st.sidebar:
    slot_pickers(reading.runs, reading.broken)
    train_form()
vanished_slot_warnings(held, reading.runs, reading.broken)
if reading.comparison.slots:
    st.info(widgets.dataset_banner(reading.comparison), icon=":material/dataset:")
job_panel()
run_page(page)

"""The dashboard frame: page config, navigation, the run slots A and B, then the train form (ui.train_form) and
the job panel (ui.job_panel).

`streamlit run dashboard.py` opens on the shipped MLP (slot A) and conv net (slot B). Pages live in pages/ and
stay thin; state, caches and figures live in the ui package.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st
from streamlit.navigation.page import StreamlitPage

from aecore.compare import SLOTS, details_line, picker_label
from aecore.datasets import DatasetUnavailable
from aecore.runstore import CheckpointError
from aecore.text import printable
from ui import cache, frame, session, warmup, widgets
from ui.job_panel import job_panel
from ui.navigation import PAGES
from ui.train_form import train_form

HERE = Path(__file__).resolve().parent
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

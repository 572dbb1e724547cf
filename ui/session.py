"""Which run sits in which slot, and which training jobs this browser session started: UI state only.

Slots hold run ids in `st.session_state`; every session has its own. A finished job changes the slots only of
the session that started it.
"""

from __future__ import annotations

from collections.abc import Mapping

import streamlit as st

from aecore.architectures import DEFAULT_PAIR
from aecore.compare import SLOTS, Comparison
from aecore.config import RunConfig
from aecore.runstore import RunInfo

SLOT_KEYS: dict[str, str] = {name: f"slot_{name}" for name in SLOTS}  # widget keys of the slot pickers
JOBS_STARTED = "jobs_started_here"  # {job id: slot its runs go to, None for a study job} for jobs this session started
JOB_HANDLED = "job_handled"  # id of the finished job whose runs this session has put into its slots
JOB_DISMISSED = "job_dismissed"  # id of the job whose result message the user closed


def default_run_id(slot: str) -> str:
    """The shipped run a slot opens on: the seed text's MLP in A, its conv net in B."""
    return RunConfig.for_recipe(DEFAULT_PAIR[SLOTS.index(slot)]).run_id


def ensure_slots(runs: Mapping[str, RunInfo]) -> None:
    """Give every slot a readable run: its default, or the newest run, when it holds none or a vanished one."""
    for index, slot in enumerate(SLOTS):
        key = SLOT_KEYS[slot]
        if st.session_state.get(key) in runs:
            continue
        default = default_run_id(slot)
        ordered = list(runs)
        fallback = ordered[min(index, len(ordered) - 1)] if ordered else None
        st.session_state[key] = default if default in runs else fallback


def slot_runs(runs: Mapping[str, RunInfo]) -> dict[str, RunInfo]:
    """{"A": run, "B": run} from the slots (slots whose run is not readable are left out)."""
    chosen = {slot: runs.get(st.session_state.get(SLOT_KEYS[slot])) for slot in SLOTS}
    return {slot: run for slot, run in chosen.items() if run is not None}


def comparison(runs: Mapping[str, RunInfo]) -> Comparison:
    """The comparison of the runs in the slots (the frame builds it once per rerun, after `ensure_slots`)."""
    return Comparison.of(slot_runs(runs))


def put(slot: str, run_id: str) -> None:
    """Put a run into a slot (from the run registry, a study, or a finished job)."""
    st.session_state[SLOT_KEYS[slot]] = run_id


def swap() -> None:
    a, b = (st.session_state.get(SLOT_KEYS[slot]) for slot in SLOTS)
    st.session_state[SLOT_KEYS["A"]], st.session_state[SLOT_KEYS["B"]] = b, a


def remember_job(job_id: int, slot: str | None) -> None:
    """This session started job `job_id`; its last run goes into `slot` when it finishes (None: a study job,
    whose runs go into no slot)."""
    started = dict(st.session_state.get(JOBS_STARTED, {}))
    started[job_id] = slot
    st.session_state[JOBS_STARTED] = started


def job_slot(job_id: int) -> str | None:
    """The slot this session asked job `job_id` to fill, or None when another session started it."""
    return st.session_state.get(JOBS_STARTED, {}).get(job_id)


def started_here(job_id: int) -> bool:
    """Whether this session started job `job_id` (a training or a study job)."""
    return job_id in st.session_state.get(JOBS_STARTED, {})


def to_adopt(job_id: int) -> bool:
    """True when this session started job `job_id` and has not yet put its run into a slot."""
    return job_slot(job_id) is not None and st.session_state.get(JOB_HANDLED) != job_id


def adopt(job_id: int, run_ids: tuple[str, ...], runs: Mapping[str, RunInfo]) -> None:
    """Put the last run of a finished job into the slot its starter chose, once (only in the starter's session)."""
    if not to_adopt(job_id) or not run_ids:
        return
    st.session_state[JOB_HANDLED] = job_id
    if run_ids[-1] in runs:
        put(job_slot(job_id), run_ids[-1])


def dismissed(job_id: int) -> bool:
    return st.session_state.get(JOB_DISMISSED) == job_id


def dismiss(job_id: int) -> None:
    st.session_state[JOB_DISMISSED] = job_id

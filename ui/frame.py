"""What the frame (dashboard.py) read on this rerun, handed to the page it runs: the registry and the one Comparison.

The frame reads the registry once per rerun, fills the slots, builds the comparison and hands all three over here
before it runs the page; a page reads them from here and never re-reads the registry or rebuilds the slots. They are
kept in `st.session_state` because that is per browser session and survives a fragment's rerun (the training
timeline's), which runs a part of a page without the frame; the frame replaces them on every full rerun.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from aecore.compare import Comparison
from aecore.runstore import BrokenRun, RunInfo

HANDED_OVER = "frame_rerun"  # the frame's Reading of this rerun


@dataclass(frozen=True)
class Reading:
    """The registry as the frame read it this rerun and the comparison of the runs in the slots."""

    runs: dict[str, RunInfo]  # {run id: run} of every readable run, newest first; never modify it
    broken: tuple[BrokenRun, ...]  # the unreadable run folders, with why
    comparison: Comparison


def hand_over(reading: Reading) -> None:
    """Called by the frame once per rerun, before the page runs."""
    st.session_state[HANDED_OVER] = reading


def reading() -> Reading:
    """What the frame read on this rerun (pages run only inside the frame: widgets.require_frame)."""
    return st.session_state[HANDED_OVER]


def comparison() -> Comparison:
    return reading().comparison


def runs() -> dict[str, RunInfo]:
    return reading().runs

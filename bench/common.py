"""Shared pieces of the bench scripts: the result row, the markdown table, the repo on sys.path.

Every figure is a ratio against a reference measured in the same run, because the machines these
run on are shared and noisy; absolute seconds are printed beside the ratio for context only.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # `python bench/x.py` puts bench/, not the repo root, on sys.path
    sys.path.insert(0, str(REPO))


@dataclass(frozen=True)
class Row:
    """One line of the benchmark table."""

    bench: str
    reference: str  # what the figure is compared against, measured in the same run
    measured: str  # the figure, with its unit
    ratio: str  # measured / reference, or "" when the target is absolute
    target: str
    met: bool | None  # None: not measured (the note says why)
    note: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def markdown_table(rows: list[Row]) -> str:
    header = "| bench | reference (same run) | measured | ratio | target | met |\n|---|---|---|---|---|---|"
    lines = [header]
    for row in rows:
        met = {True: "yes", False: "**no**", None: "not measured"}[row.met]
        lines.append(f"| {row.bench} | {row.reference} | {row.measured} | {row.ratio} | {row.target} | {met} |")
    notes = [f"- {row.bench}: {row.note}" for row in rows if row.note]
    return "\n".join(lines + ([""] + notes if notes else []))


def machine() -> str:
    return f"{os.cpu_count()} CPU cores, {platform.machine()}, Python {platform.python_version()}"


def load_average() -> str:
    """The 1-minute load average: above the core count means other work competed with the bench."""
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:
        return "n/a"


class Stopwatch:
    """`with Stopwatch() as t: ...; t.seconds`"""

    def __enter__(self) -> Stopwatch:
        self.started = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self.started

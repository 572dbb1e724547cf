"""Issue 21: a warm rerun of Per-digit error and of the Overview (AppTest, shipped runs, every cache filled) with the
charts reused from `ui.cache.chart` against the same rerun with that cache emptied first (every chart rebuilt, as
before the cache existed), alternated in one process so that both see the same machine.

    flock /tmp/aecore-cpu.lock .venv/bin/python bench/bench_chart_reuse.py [--rounds 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from common import REPO, Row, markdown_table

PAGES = ("pages/per_digit.py", "pages/overview.py")


def timed_rerun(at, page: str) -> float:
    start = time.perf_counter()
    at.switch_page(page).run()
    seconds = time.perf_counter() - start
    assert not at.exception, [e.value for e in at.exception]
    return seconds


def main(rounds: int = 20) -> dict:
    os.environ.setdefault("AECORE_CHECKPOINTS", str(REPO / "checkpoints"))
    from streamlit.testing.v1 import AppTest

    from ui import cache

    at = AppTest.from_file(str(REPO / "dashboard.py"), default_timeout=300)
    at.run()
    for page in PAGES:  # fill every cache the pages read, the charts' too
        at.switch_page(page).run()
    times = {(page, reused): [] for page in PAGES for reused in (False, True)}
    for _ in range(rounds):
        for page in PAGES:
            for reused in (False, True):
                if not reused:
                    cache._chart.clear()  # every chart of this rerun is built again
                times[page, reused].append(timed_rerun(at, page))
    rows = []
    for page in PAGES:
        rebuilt, reused = statistics.median(times[page, False]), statistics.median(times[page, True])
        rows.append(Row(
            f"warm rerun of {page} (AppTest, median of {rounds})", f"charts rebuilt {rebuilt * 1000:.1f} ms",
            f"charts reused {reused * 1000:.1f} ms", f"{reused / rebuilt:.2f}x", "< 1", reused < rebuilt,
        ))  # fmt: skip
    return {"rows": rows, "raw": {f"{page} {'reused' if r else 'rebuilt'}": t for (page, r), t in times.items()}}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    print(markdown_table(main(parser.parse_args().rounds)["rows"]))

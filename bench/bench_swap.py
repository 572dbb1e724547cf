"""Issue 21: "Swap A and B", then a page whose statistics depend on the pair (AppTest, shipped runs, every cache
filled), now that those statistics are computed once per set of runs whichever slot holds which, against the same
with the statistics caches emptied first (the page computes the swapped pair's once, which every swap did before),
alternated in one process.

    flock /tmp/aecore-cpu.lock .venv/bin/python bench/bench_swap.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from common import REPO, Row, markdown_table

from ui.session import SLOT_KEYS

HOME = "dashboard.py"
PAGES = ("pages/per_digit.py", "pages/latent_space.py", "pages/robustness.py", "pages/latent_quality.py")
# The caches keyed by the pair: what a swap recomputed before
STATISTICS = ("_paired_difference", "_agreement", "_neighbourhood_overlap", "_latent_quality", "_robustness_curves",
              "_robustness_growth")  # fmt: skip


def timed_swap(at, page: str) -> float:
    """Seconds of the home page's rerun after the click on "Swap A and B", then of `page`'s run (AppTest
    runs a page's script on its own, without the frame's sidebar, so the click happens on the home page; the slots
    are back to the defaults on the next home run, so every swap goes from the default order to the other)."""
    at.switch_page(HOME).run()
    held = tuple(at.session_state[key] for key in SLOT_KEYS.values())
    start = time.perf_counter()
    at.button(key="slot_swap").click().run()
    swapped = tuple(at.session_state[key] for key in SLOT_KEYS.values())
    at.switch_page(page).run()
    seconds = time.perf_counter() - start
    assert not at.exception, [e.value for e in at.exception]
    assert swapped == held[::-1], "the slots were not swapped"
    return seconds


def main(smoke: bool = False, rounds: int = 3) -> dict:
    os.environ.setdefault("AECORE_CHECKPOINTS", str(REPO / "checkpoints"))
    from streamlit.testing.v1 import AppTest

    from ui import cache

    at = AppTest.from_file(str(REPO / "dashboard.py"), default_timeout=300)
    at.run()
    rows, raw = [], {}
    for page in PAGES:
        at.switch_page(page).run()  # the default order's statistics, charts and tables
        timed_swap(at, page)  # and the swapped order's charts
        times = {"recomputed": [], "reused": []}
        for _ in range(1 if smoke else rounds):
            for kind in times:
                if kind == "recomputed":
                    for name in STATISTICS:
                        getattr(cache, name).clear()
                times[kind].append(timed_swap(at, page))
        before, now = statistics.median(times["recomputed"]), statistics.median(times["reused"])
        rows.append(Row(
            f"Swap A and B, then {page} (AppTest, median of {len(times['reused'])})",
            f"the pair's statistics computed again {before:.2f} s", f"the same runs' statistics reused {now:.2f} s",
            f"{now / before:.2f}x", "< 1", now < before,
        ))  # fmt: skip
        raw[page] = times
    return {"rows": rows, "raw": raw}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    print(markdown_table(main(rounds=parser.parse_args().rounds)["rows"]))

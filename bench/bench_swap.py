"""Issue 21: "Swap A and B", then the Per-digit error page (AppTest, shipped runs, every cache filled), now that the
pair's one paired-difference bootstrap serves both orders, against the same with that bootstrap's cache emptied
first (the page bootstraps the pair once, which every swap did before), alternated in one process.

    flock /tmp/aecore-cpu.lock .venv/bin/python bench/bench_swap.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from common import REPO, Row, markdown_table

HOME, PAGE = "dashboard.py", "pages/per_digit.py"


def timed_swap(at) -> float:
    """Seconds of the home page's rerun after the click on "Swap A and B", then of Per-digit error's run (AppTest
    runs a page's script on its own, without the frame's sidebar, so the click happens on the home page; the slots
    are back to the defaults on the next home run, so every swap goes from the default order to the other)."""
    at.switch_page(HOME).run()
    held = (at.session_state["slot_A"], at.session_state["slot_B"])
    start = time.perf_counter()
    at.button(key="slot_swap").click().run()
    swapped = (at.session_state["slot_A"], at.session_state["slot_B"])
    at.switch_page(PAGE).run()
    seconds = time.perf_counter() - start
    assert not at.exception, [e.value for e in at.exception]
    assert swapped == held[::-1], "the slots were not swapped"
    return seconds


def main(smoke: bool = False, rounds: int = 5) -> dict:
    os.environ.setdefault("AECORE_CHECKPOINTS", str(REPO / "checkpoints"))
    from streamlit.testing.v1 import AppTest

    from ui import cache

    at = AppTest.from_file(str(REPO / "dashboard.py"), default_timeout=300)
    at.run()
    at.switch_page(PAGE).run()  # the default order's bootstrap, charts and tables
    timed_swap(at)  # and the swapped order's charts
    timed_swap(at)
    times = {"bootstrapped": [], "reused": []}
    for _ in range(1 if smoke else rounds):
        for kind in times:
            if kind == "bootstrapped":
                cache._paired_difference.clear()
            times[kind].append(timed_swap(at))
    before, now = statistics.median(times["bootstrapped"]), statistics.median(times["reused"])
    row = Row(
        f"Swap A and B, then Per-digit error (AppTest, median of {len(times['reused'])})",
        f"the pair bootstrapped again {before:.2f} s",
        f"the default order's bootstrap reused {now:.2f} s",
        f"{now / before:.2f}x",
        "< 1",
        now < before,
    )
    return {"rows": [row], "raw": times}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    print(markdown_table(main(rounds=parser.parse_args().rounds)["rows"]))

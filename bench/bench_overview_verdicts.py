"""Issue 21: the Overview's first script run (AppTest, a fresh process each) with the runs' stored interval of run − PCA
(derived/pca-difference-*.json) and without it (the interval bootstrapped live), alternated; the verdicts must read
the same.

    flock /tmp/aecore-cpu.lock .venv/bin/python bench/bench_overview_verdicts.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CHILD = """
import json, time
from streamlit.testing.v1 import AppTest
at = AppTest.from_file("dashboard.py", default_timeout=300)
start = time.perf_counter()
at.run()
seconds = time.perf_counter() - start
assert not at.exception, [e.value for e in at.exception]
print(json.dumps({"seconds": seconds, "verdicts": [m.value for m in at.markdown if "PCA with" in m.value]}))
"""


def first_run(root: Path) -> dict:
    env = {**os.environ, "AECORE_CHECKPOINTS": str(root)}
    done = subprocess.run([sys.executable, "-c", CHILD], cwd=REPO, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    rounds = parser.parse_args().rounds
    with tempfile.TemporaryDirectory() as work:
        roots = {}
        for variant in ("before", "after"):
            roots[variant] = Path(work) / variant
            shutil.copytree(REPO / "checkpoints", roots[variant], ignore=shutil.ignore_patterns(".*"))
        for stored in roots["before"].glob("*/derived/pca-difference-*.json"):
            stored.unlink()
        times: dict[str, list[float]] = {"before": [], "after": []}
        verdicts = {}
        for _ in range(rounds):
            for variant, root in roots.items():
                result = first_run(root)
                times[variant].append(result["seconds"])
                verdicts[variant] = result["verdicts"]
        if verdicts["before"] != verdicts["after"] or not verdicts["after"]:
            raise SystemExit(f"the verdicts differ: {verdicts}")
        for variant, seconds in times.items():
            print(f"{variant}: median {statistics.median(seconds):.3f} s of {', '.join(f'{s:.3f}' for s in seconds)}")
        print("verdicts identical:", *verdicts["after"], sep="\n")


if __name__ == "__main__":
    main()

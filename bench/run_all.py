"""`make bench`: run every benchmark, print one table, and (with --write) put it into BENCHMARKS.md.

Each bench module has `main(smoke=False) -> dict` with "rows" (common.Row or plain dicts with the
same fields) and "raw". A bench that fails is reported as a row, so one broken bench does not hide
the others' figures.
"""

from __future__ import annotations

import argparse
import importlib
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

from common import REPO, Row, load_average, machine, markdown_table

BENCHES = ("quality", "training", "train_compile", "projection", "dashboard", "first_load", "swap", "memory",
           "retrain")  # fmt: skip
BENCHMARKS_MD = REPO / "BENCHMARKS.md"
START, END = "<!-- bench:latest:start -->", "<!-- bench:latest:end -->"


def as_row(row) -> Row:
    return row if isinstance(row, Row) else Row(**row)


def run(name: str, smoke: bool) -> tuple[list[Row], dict]:
    try:
        module = importlib.import_module(f"bench_{name}")
    except ModuleNotFoundError as error:
        return [Row(name, "-", "no bench script", "", "-", None, note=str(error))], {}
    started = time.perf_counter()
    try:
        out = module.main(smoke=smoke)
    except Exception as error:  # report and go on: the other benches' figures still count
        traceback.print_exc()
        return [Row(name, "-", "failed", "", "-", None, note=f"{type(error).__name__}: {error}"[:300])], {}
    print(f"[bench] {name}: {time.perf_counter() - started:.0f} s", flush=True)
    return [as_row(r) for r in out["rows"]], out.get("raw", {})


def report(rows: list[Row], command: str, started: datetime, loads: list[str]) -> str:
    return "\n".join(
        [
            f"Run {started:%Y-%m-%d %H:%M} UTC on {machine()}; 1-minute load average during the run: "
            f"{', '.join(loads)} (above 2 means other work shared the cores).",
            f"Command: `{command}`",
            "",
            markdown_table(rows),
        ]
    )


def write_latest(text: str, path: Path = BENCHMARKS_MD) -> None:
    """Replace the text between the latest-run markers of BENCHMARKS.md (appending them if absent)."""
    current = path.read_text() if path.exists() else "# Benchmarks\n"
    block = f"{START}\n{text}\n{END}"
    if START in current and END in current:
        head, rest = current.split(START, 1)
        updated = head + block + rest.split(END, 1)[1]
    else:
        updated = current.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(updated)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=BENCHES, default=list(BENCHES), help="run only these benches")
    parser.add_argument("--smoke", action="store_true", help="tiny workloads: check the benches run, measure nothing")
    parser.add_argument("--write", action="store_true", help="write the table into BENCHMARKS.md")
    args = parser.parse_args()
    started = datetime.now(UTC)
    rows: list[Row] = []
    loads = []
    for name in args.only:
        loads.append(load_average())
        bench_rows, _ = run(name, args.smoke)
        rows += bench_rows
    loads.append(load_average())
    command = "python bench/run_all.py" + (f" --only {' '.join(args.only)}" if args.only != list(BENCHES) else "")
    text = report(rows, command + (" --smoke" if args.smoke else ""), started, loads)
    print(text)
    if args.write and not args.smoke:
        write_latest(text)


if __name__ == "__main__":
    main()

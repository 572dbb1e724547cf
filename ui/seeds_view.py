"""Page parts for results across training seeds: beside a run's interval over test images, the mean and spread of
every seed of its config, and whether A's and B's configs differ by more than that spread.

Two different uncertainties are always labelled apart: "95% interval over test images" (how much one run's score
would move on another draw of test digits) and "across n training seeds" (how much retraining the same config
from another seed moves it). No seed is ever chosen by its test score: every seed in the registry counts.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from aecore import architectures
from aecore.compare import Comparison
from aecore.runstore import RunInfo
from aecore.seeds import compare_runs, per_digit_comparison, per_digit_spread, seed_siblings
from ui import cache, frame, widgets
from ui.figures import per_digit_seed_figure, seed_strip_figure

TWO_KINDS = (
    "**95% interval over test images**: how much this one run's score would move on another draw of test digits "
    "(bootstrap, 2,000 resamples). **Across training seeds**: how much retraining the same config from another seed "
    "moves it (every seed in the registry counts; none is picked by its test score)."
)


def slot_seeds(comparison: Comparison) -> dict[str, list[RunInfo]]:
    """{slot: every run of the slot's config under any seed, by seed} from the registry."""
    runs = frame.runs()
    return {s.name: seed_siblings(s.run, runs.values()) for s in comparison.slots}


def _single_seed_note(seeds: dict[str, list[RunInfo]]) -> bool:
    """Say so and return True when no slot's config has more than one seed."""
    if any(len(runs) >= 2 for runs in seeds.values()):
        return False
    st.caption("Each slot's config has runs under one training seed only, so there is no spread across seeds to "
               "show. Train the same settings with Seeds `0 1 2` in the sidebar to see it.")  # fmt: skip
    return True


def _seed_list(runs: list[RunInfo]) -> str:
    return ", ".join(str(r.config.seed) for r in runs)


def _spread_text(runs: list[RunInfo]) -> str:
    if len(runs) < 2:
        return "1 seed: no spread"
    values = pd.Series([r.test_mse for r in runs])
    return f"{values.std(ddof=1):.5f}"


def overview_block(comparison: Comparison) -> None:
    """Each slot's run with its interval over test images, beside every seed of its config; A's config against
    B's across seeds."""
    st.subheader("Across training seeds")
    seeds = slot_seeds(comparison)
    if _single_seed_note(seeds):
        return
    rows, seed_rows, run_rows = [], [], []
    for slot in comparison.slots:
        mean, low, high = cache.mean_error_interval((slot.key,))
        siblings = seeds[slot.name]
        values = pd.Series([r.test_mse for r in siblings])
        rows.append({
            # mean and sd share a column, as on the per-digit page: nine columns overflowed the page at 1400 px
            "run": f"{slot.name} · {slot.label}", "seed": slot.run.config.seed, "test MSE": mean,
            "95% interval over test images": widgets.interval_text(low, high),
            "training seeds (n)": f"{_seed_list(siblings)} ({len(siblings)})",
            "mean ± sd across seeds": (f"{values.mean():.5f} ± {_spread_text(siblings)}" if len(siblings) > 1
                                       else f"{values.mean():.5f} (1 seed)"),
            "min–max across seeds": widgets.interval_text(values.min(), values.max()),
        })  # fmt: skip
        seed_rows += [{"slot": slot.name, "seed": r.config.seed, "test_mse": r.test_mse} for r in siblings]
        run_rows.append({"slot": slot.name, "seed": slot.run.config.seed, "test_mse": mean, "ci_low": low,
                         "ci_high": high})  # fmt: skip
    counts = sorted({len(seeds[s.name]) for s in comparison.slots})
    st.markdown(f"Test MSE of the run in each slot and across **{' and '.join(map(str, counts))} training seeds** of "
                "its config (the same settings, another seed). Chart: dots are the seeds, the tick their mean; the "
                "diamond is the slot's run with its 95% interval over test images.")  # fmt: skip
    table, config = widgets.fit_names(
        pd.DataFrame(rows), "run", {f"{s.name} · {s.label}": s.name for s in comparison.slots}
    )
    st.dataframe(table.style.format({"test MSE": "{:.5f}"}), hide_index=True, key="overview_seed_table",
                 column_config=config)  # fmt: skip
    left, right = st.columns([3, 2])
    with left:
        drawn = widgets.series(comparison)[: len(rows)]
        figure = cache.chart(seed_strip_figure, pd.DataFrame(seed_rows), pd.DataFrame(run_rows), drawn)
        st.plotly_chart(figure, key="overview_seed_chart", width="stretch")
    with right:
        if comparison.pair is not None:
            a, b = comparison.pair
            result = compare_runs(seeds[a.name], seeds[b.name], (a.name, b.name))
            st.markdown(f"**{a.name}'s config against {b.name}'s, across training seeds: {result.verdict}**")
            st.markdown(widgets.escape(result.sentence()))
        st.caption(TWO_KINDS)


def per_digit_block(comparison: Comparison, intervals: pd.DataFrame) -> None:
    """Per digit: each slot's seeds (mean, min–max) beside its run's interval over test images (`intervals`, the
    page's interval table), and A's config against B's digit by digit."""
    st.subheader("Across training seeds")
    seeds = slot_seeds(comparison)
    if _single_seed_note(seeds):
        return
    drawn = widgets.series(comparison)[: len(comparison.slots)]
    spread = pd.concat([per_digit_spread(seeds[s.id]).assign(slot=s.id) for s in drawn], ignore_index=True)
    counts = ", ".join(f"{s.id}: {len(seeds[s.id])} training seeds ({_seed_list(seeds[s.id])})" for s in drawn)
    st.markdown(
        f"Mean test MSE per digit across the seeds of each slot's config ({counts}), bars from the best to "
        "the worst seed; open diamonds: the run in the slot with its 95% interval over test images."
    )
    figure = cache.chart(per_digit_seed_figure, spread, intervals, drawn)
    st.plotly_chart(figure, key="per_digit_seed_chart", width="stretch")
    st.caption(TWO_KINDS)
    if comparison.pair is None:
        return
    a, b = comparison.pair
    table = per_digit_comparison(seeds[a.name], seeds[b.name], (a.name, b.name))
    overall = compare_runs(seeds[a.name], seeds[b.name], (a.name, b.name))
    sentence = widgets.escape(overall.sentence())
    st.markdown(f"**{a.name}'s config against {b.name}'s, across training seeds**: {sentence}")
    shown = table.rename(columns={
        "n_a": f"{a.name} seeds", "mean_a": f"{a.name} mean", "sd_a": f"{a.name} sd", "n_b": f"{b.name} seeds",
        "mean_b": f"{b.name} mean", "sd_b": f"{b.name} sd", "diff": f"{a.name} − {b.name} (means)",
    }).drop(columns=["exceeds"])  # fmt: skip
    numbers = [c for c in shown.columns if "mean" in c or " sd" in c or "−" in c]
    st.dataframe(shown.style.format(dict.fromkeys(numbers, "{:.5f}")), hide_index=True, key="per_digit_seed_table",
                 height=widgets.table_height(len(shown)))  # fmt: skip
    if overall.enough_seeds:
        st.caption(f"Each row is its own comparison: \"beyond seed spread\" means every seed of one config scored "
                   f"below every seed of the other on that digit, which equal configs would still do "
                   f"{overall.chance:.0%} of the time. With 11 rows, some can separate by chance alone: quote the "
                   "\"all\" row, and the digits only as hints.")  # fmt: skip


def sweep_tables(points: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The sweep's points (`aecore.seeds.sweep_points`) as (a table to read, a table to download).

    The one to read joins each interval into one "low–high" column and the seed spread into "mean ± sd" and
    "min–max", so it fits the page; the download keeps every number in its own column for a spreadsheet."""
    by_name = {
        "model": "architecture",
        "latent_dims": "latent dims",
        "test_mse": "test MSE",
        "ci_low": "CI low (test images)",
        "ci_high": "CI high (test images)",
        "pca_mse": "PCA MSE (same dims)",
        "n_seeds": "training seeds (n)",
        "mean": "mean across seeds",
        "sd": "sd across seeds",
        "min": "min across seeds",
        "max": "max across seeds",
        "runs": "runs in point",
        "run_ids": "run ids",
    }
    full = points.drop(columns=["config"]).rename(columns=by_name)
    full["architecture"] = full["architecture"].map(lambda name: architectures.get(name).title)
    full["seeds"] = full["seeds"].map(lambda seeds: ", ".join(map(str, seeds)))
    full["run ids"] = full["run ids"].map(", ".join)
    full = full[
        [
            "architecture",
            "bottleneck",
            "latent dims",
            "test MSE",
            "CI low (test images)",
            "CI high (test images)",
            "PCA MSE (same dims)",
            "training seeds (n)",
            "seeds",
            "mean across seeds",
            "sd across seeds",
            "min across seeds",
            "max across seeds",
            "parameters",
            "runs in point",
            "run ids",
        ]
    ]

    read = full[["architecture", "bottleneck", "latent dims"]].copy()
    read["test MSE"] = full["test MSE"].map("{:.5f}".format)
    read["95% CI (test images)"] = list(
        map(widgets.interval_text, full["CI low (test images)"], full["CI high (test images)"])
    )
    read["PCA MSE (same dims)"] = full["PCA MSE (same dims)"].map("{:.5f}".format)
    read["training seeds (n)"] = full["training seeds (n)"]
    read["seeds"] = full["seeds"]
    read["mean ± sd across seeds"] = [f"{mean:.5f}" if pd.isna(sd) else f"{mean:.5f} ± {sd:.5f}"
                                      for mean, sd in zip(full["mean across seeds"], full["sd across seeds"],
                                                          strict=True)]  # fmt: skip
    read["min–max across seeds"] = list(map(widgets.interval_text, full["min across seeds"], full["max across seeds"]))
    read["parameters"] = full["parameters"].map("{:,}".format)
    read["run ids"] = full["run ids"]
    return read, full

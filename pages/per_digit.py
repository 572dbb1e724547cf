"""Per-class error: test MSE of each run and its PCA baseline for each class and overall, how sure each number is,
and whether A and B really differ."""

import pandas as pd
import streamlit as st

from aecore.metrics import per_digit_wide
from aecore.verdicts import signed  # differences with a typographic minus, as the verdicts print them
from ui import cache, widgets
from ui.figures import difference_chart, interval_chart, per_digit_bars
from ui.theme import TABLE_WIDTH_PX, column_width

comparison = widgets.page_start(
    "Per-digit error",
    "Which classes does each run rebuild worse? Mean squared error over the **test** images of each class "
    "(n = how many test images show it), beside PCA with as many components as the latent dims, fit on the "
    "same training images. The lowest of the runs and PCA is highlighted in its colour.",
)
drawn = widgets.series(comparison)
names = {s.id: s.label for s in drawn}
short = {s.id: s.short for s in drawn}
long = widgets.per_digit_long(comparison)
slot_ids = list(comparison.names)
baseline_ids = [b.id for b in comparison.baselines()]
wide = per_digit_wide(long, [s.id for s in drawn], tuple(slot_ids) if len(slot_ids) == 2 else None, baseline_ids)
colours = {s.id: s.colour for s in drawn}
lowest = wide.get("better", pd.Series([None] * len(wide)))
if "better" in wide:
    wide = wide.assign(better=wide["better"].map(short)).rename(columns={"better": "lowest"})
table = widgets.name_classes(wide.rename(columns={s.id: f"{s.label} MSE" for s in drawn}), comparison)
item = widgets.dataset_spec(comparison).item
classes = {"classes": widgets.dataset_spec(comparison).class_names, "item": item}


def highlight_lowest(row: pd.Series) -> list[str]:
    best = lowest.iloc[row.name]
    column = f"{names[best]} MSE" if isinstance(best, str) else None
    return [f"background-color: {colours[best]}33; font-weight: bold" if c == column else "" for c in row.index]


# Beside the chart the table has room for two runs and one PCA; with a PCA per run (two runs of one architecture
# and different seeds) its columns ran out of the page at 1400 px, so the chart goes below it.
left, right = st.columns([3, 2]) if len(drawn) <= 3 else (st.container(), st.container())
with left:
    styled = table.style.apply(highlight_lowest, axis=1).format(
        {c: signed if "−" in c else "{:.5f}" for c in table.columns if c.endswith("MSE") or "−" in c}
    )
    width = TABLE_WIDTH_PX if len(drawn) > 3 else column_width((3, 2), 0, TABLE_WIDTH_PX)
    st.dataframe(styled, hide_index=True, key="per_digit_table", height=widgets.table_height(len(table)),
                 column_config=widgets.method_headers(table, drawn, width))  # fmt: skip
    if len(slot_ids) == 2:
        wins = lowest.iloc[:-1].value_counts()  # every row but "all"
        st.caption(f"Lowest test MSE per {item}: " + " · ".join(
            f"**{widgets.escape(short[m])}** on {wins.get(m, 0)} of {len(lowest) - 1}"
            for m in [*slot_ids, *baseline_ids]) + ".")  # fmt: skip
    widgets.csv_download(table, "per_digit_test_mse.csv", "per_digit_csv")
with right:
    st.plotly_chart(cache.chart(per_digit_bars, long, drawn, **classes), key="per_digit_chart", width="stretch")
    widgets.pca_caption(comparison)

st.subheader("How sure is this?")
st.caption(
    "95% percentile-bootstrap intervals (2,000 resamples of the test images, seed 0). A paired difference "
    "whose interval does not cross zero is not luck of the test sample."
)
if not widgets.need_same_test_set(comparison):
    st.stop()
methods = cache.methods(comparison)
intervals = cache.interval_table(methods, comparison.slots[0].run.config.dataset)
st.plotly_chart(cache.chart(interval_chart, intervals, drawn, **classes), key="per_digit_ci_chart", width="stretch")
shown = widgets.name_classes(widgets.intervals_for_reading(intervals, names), comparison)
st.dataframe(shown, hide_index=True, key="per_digit_ci_table", height=widgets.table_height(len(shown)),
             column_config=widgets.method_headers(shown, drawn, TABLE_WIDTH_PX))  # fmt: skip
widgets.csv_download(intervals, "per_digit_test_mse_ci.csv", "per_digit_ci_csv")

if comparison.pair is not None:
    first, second = (drawn[0], drawn[1])
    a, b = comparison.pair
    difference = cache.paired_difference(a.key, b.key, (a.name, b.name))
    st.markdown(
        f"**Paired difference {a.name} − {b.name}** (negative: {a.name} better) and the share of test images "
        f"{a.name} rebuilds better (win rate)"
    )
    st.plotly_chart(
        cache.chart(difference_chart, difference, first, second, **classes), key="per_digit_diff_chart", width="stretch"
    )
    shown = difference.rename(columns={"diff": f"{a.name} − {b.name}", "ci_low": "CI low", "ci_high": "CI high",
                                       "win_rate": f"{a.name} win rate", "win_low": "win CI low",
                                       "win_high": "win CI high"})  # fmt: skip
    shown = widgets.name_classes(shown, comparison)
    st.dataframe(shown.style.format({c: signed for c in shown.columns if "−" in c or c.startswith("CI")}
                                    | {c: "{:.1%}" for c in shown.columns if "win" in c}),
                 hide_index=True, key="per_digit_diff_table", height=widgets.table_height(len(shown)))  # fmt: skip
    widgets.csv_download(shown, "per_digit_paired_difference_test.csv", "per_digit_diff_csv")

# --- across training seeds (studies-ui): each slot's seeds per digit beside its run's interval over test images,
# and A's config against B's across seeds. One block, import included, so page polish elsewhere merges.
from ui import seeds_view  # noqa: E402

seeds_view.per_digit_block(comparison, intervals)
# --- end of across training seeds ---

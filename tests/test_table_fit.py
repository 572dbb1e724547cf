"""Tables whose columns are named by run labels fit the page at 1400 px (ui.widgets.method_headers)."""

from __future__ import annotations

import pandas as pd

from ui import widgets
from ui.figures import MethodStyle
from ui.theme import TABLE_WIDTH_PX, column_width

DEFAULT_PAIR = [MethodStyle("A", "A · MLP", "#0072B2", short="A"), MethodStyle("B", "B · Conv", "#D55E00", short="B"),
                MethodStyle("pca", "PCA-32", "#777777", short="PCA-32")]  # fmt: skip
LONG_PAIR = [
    MethodStyle("A", "A · Conv · seed recipe · MNIST, 60k", "#0072B2", short="A"),
    MethodStyle("B", "B · Conv · onecycle · MNIST sample, 5k", "#D55E00", short="B"),
    MethodStyle("pca-a", "PCA-32 (mnist)", "#777777", short="PCA-32 (mnist)"),
    MethodStyle("pca-b", "PCA-32 (mnist-sample)", "#AAAAAA", short="PCA-32 (mnist-sample)"),
]


def per_digit(drawn: list[MethodStyle]) -> pd.DataFrame:
    rows = [*map(str, range(10)), "all"]
    frame = pd.DataFrame({"digit": rows, "n": [1000] * 11})
    for s in drawn:
        frame[f"{s.label} MSE"] = 0.01234
    return frame.assign(lowest=["A"] * 11)


def test_the_default_pair_keeps_its_labels_as_headers():
    table = per_digit(DEFAULT_PAIR)
    assert widgets.method_headers(table, DEFAULT_PAIR, column_width((3, 2), 0, TABLE_WIDTH_PX)) == {}


def test_long_labels_show_short_headers_with_the_full_label_as_help():
    table = per_digit(LONG_PAIR)
    assert widgets.grid_width_px(table) > TABLE_WIDTH_PX, "the full headers would scroll sideways"
    config = widgets.method_headers(table, LONG_PAIR, TABLE_WIDTH_PX)
    assert set(config) == {"A · Conv · seed recipe · MNIST, 60k MSE", "B · Conv · onecycle · MNIST sample, 5k MSE"}
    assert config["A · Conv · seed recipe · MNIST, 60k MSE"]["label"] == "A MSE"
    assert config["A · Conv · seed recipe · MNIST, 60k MSE"]["help"] == "A · Conv · seed recipe · MNIST, 60k MSE"
    shown = table.rename(columns={full: c["label"] for full, c in config.items()})
    assert widgets.grid_width_px(shown) <= TABLE_WIDTH_PX, "the short headers still scroll sideways"

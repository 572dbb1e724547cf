"""Results across training seeds: the shipped seeds group by config, their spread matches a hand computation, the
"exceeds the seed spread" verdict is right on constructed cases, and the pages show it for the shipped runs."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from streamlit.testing.v1 import AppTest

from aecore.config import RunConfig
from aecore.runstore import read_run
from aecore.seeds import (
    Spread,
    compare_runs,
    compare_seeds,
    config_key,
    per_digit_comparison,
    per_digit_spread,
    seed_siblings,
    seed_spread,
    sweep_points,
)
from tests.browser_support import REPO, copy_checkpoints
from ui.figures import MethodStyle, per_digit_seed_figure, seed_strip_figure, sweep_seed_figure

DEFAULTS = ("mlp", "conv")  # the VAE and DAE ship one seed each (README)
SEEDS = (0, 1, 2)
APP_TIMEOUT = 240


def shipped(model: str, seed: int = 0, **overrides):
    return read_run(REPO / "checkpoints" / RunConfig.for_recipe(model, seed=seed, **overrides).run_id)


@pytest.fixture(scope="module")
def runs():
    """Every shipped run of the default configs, and a few others that must not join their groups."""
    found = [shipped(model, seed) for model in DEFAULTS for seed in SEEDS]
    found += [shipped("mlp", bottleneck=8), shipped("mlp", recipe="seed"), shipped("mlp", bottleneck=4)]
    return found


def by_hand(values: list[float]) -> tuple[float, float, float, float]:
    """Mean, sample sd (n − 1), min and max, written out."""
    n = len(values)
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    return mean, sd, min(values), max(values)


def stored_test_mse(model: str, seed: int) -> float:
    raw = json.loads((REPO / "checkpoints" / RunConfig.for_recipe(model, seed=seed).run_id / "run.json").read_text())
    return raw["metrics"]["test"]["mse"]


# --- grouping and spread ----------------------------------------------------------------------------


def test_the_shipped_seeds_of_each_default_config_form_one_group_of_three(runs):
    table = seed_spread(runs).set_index("model")
    defaults = table[table["n_seeds"] == 3]
    assert sorted(defaults.index) == sorted(DEFAULTS), "each default config: one group of its 3 seeds"
    for model in DEFAULTS:
        row = defaults.loc[model]
        assert row["seeds"] == SEEDS
        assert row["run_ids"] == tuple(RunConfig.for_recipe(model, seed=s).run_id for s in SEEDS)
    others = table[table["n_seeds"] == 1]
    assert len(others) == 3, "another bottleneck or recipe is another config, not another seed"


def test_spread_numbers_equal_a_hand_computation_from_run_json(runs):
    table = seed_spread(runs).set_index("model")
    for model in DEFAULTS:
        mean, sd, low, high = by_hand([stored_test_mse(model, s) for s in SEEDS])
        row = table[table["n_seeds"] == 3].loc[model]
        assert row["mean"] == pytest.approx(mean, rel=1e-12)
        assert row["sd"] == pytest.approx(sd, rel=1e-12)
        assert (row["min"], row["max"]) == (low, high)


def test_per_digit_spread_equals_a_hand_computation(runs):
    siblings = seed_siblings(shipped("conv"), runs)
    assert [r.config.seed for r in siblings] == list(SEEDS)
    spread = per_digit_spread(siblings).set_index("digit")
    assert list(spread.index) == [str(d) for d in range(10)] + ["all"]
    for digit in (0, 7):
        values = [next(row.mse for row in r.metrics.test.per_digit if row.digit == digit) for r in siblings]
        mean, sd, low, high = by_hand(values)
        row = spread.loc[str(digit)]
        assert (row["n_seeds"], row["mean"], row["min"], row["max"]) == (3, pytest.approx(mean), low, high)
        assert row["sd"] == pytest.approx(sd)
    assert spread.loc["all", "mean"] == pytest.approx(by_hand([r.test_mse for r in siblings])[0])


def test_the_config_key_ignores_only_the_seed(runs):
    a, b = shipped("mlp", 0), shipped("mlp", 1)
    assert config_key(a) == config_key(b)
    assert config_key(a) != config_key(shipped("mlp", bottleneck=8))
    other_data = dataclasses.replace(b, dataset=dataclasses.replace(b.dataset, fingerprint="another test set"))
    assert config_key(a) != config_key(other_data), "runs scored on another test set are not seeds of one config"


def test_a_run_outside_the_registry_still_counts_as_its_own_seed(runs):
    alone = shipped("mlp", bottleneck=8)
    assert seed_siblings(alone, []) == [alone]
    assert math.isnan(Spread.of([0.1]).sd), "one seed has no sd"


# --- does a difference exceed the seed-to-seed spread? ----------------------------------------------


def test_complete_separation_exceeds_the_seed_spread():
    result = compare_seeds([0.010, 0.011, 0.012], [0.020, 0.021, 0.025], ("A", "B"))
    assert result.exceeds and result.better == "A" and result.verdict == "A better, beyond seed spread"
    assert result.chance == pytest.approx(0.1), "2 of the 20 ways to split 6 scores into 3 + 3"
    assert result.difference == pytest.approx(0.011 - 0.022)
    assert "Every one of A's 3 seeds scored below every one of B's 3" in result.sentence()
    assert "10% of the time" in result.sentence()
    assert compare_seeds([0.3, 0.2], [0.1, 0.15, 0.05], ("A", "B")).better == "B"


def test_overlapping_seeds_stay_within_the_spread_even_when_the_means_differ_a_lot():
    result = compare_seeds([0.010, 0.011, 0.021], [0.020, 0.021, 0.022], ("A", "B"))  # diff 7x B's sd
    assert abs(result.difference) > 0.005 and not result.exceeds
    assert result.better is None and result.verdict == "within seed spread"
    assert "ranges overlap" in result.sentence()


def test_too_few_seeds_or_the_same_config_give_no_verdict():
    one = compare_seeds([0.01], [0.02, 0.021, 0.022])
    assert not one.exceeds and not one.enough_seeds and "A has 1, B has 3" in one.sentence()
    same = compare_seeds([0.010, 0.011], [0.020, 0.021], same_config=True)
    assert not same.exceeds and same.verdict == "same config"
    assert compare_seeds([0.1, 0.2], [0.3, 0.4, 0.5]).chance == pytest.approx(2 / 10)


def test_shipped_mlp_and_conv_compared_across_seeds(runs):
    mlp, conv = seed_siblings(shipped("mlp"), runs), seed_siblings(shipped("conv"), runs)
    result = compare_runs(mlp, conv, ("A", "B"))
    a_apart = max(r.test_mse for r in mlp) < min(r.test_mse for r in conv)
    b_apart = max(r.test_mse for r in conv) < min(r.test_mse for r in mlp)
    assert result.exceeds == (a_apart or b_apart)
    assert result.better == ("A" if a_apart else "B" if b_apart else None)
    table = per_digit_comparison(mlp, conv, ("A", "B")).set_index("digit")
    assert table.loc["all", "diff"] == pytest.approx(result.difference)
    assert (table["n_a"] == 3).all() and (table["n_b"] == 3).all()
    assert compare_runs(mlp, mlp[1:]).verdict == "same config", "two seeds of one config are no comparison"


def test_sweep_points_carry_every_seed_of_each_config(runs):
    family = [r for r in runs if r.config.seed == 0 and r.config.recipe == "onecycle"]
    points = sweep_points(family, runs).set_index(["model", "bottleneck"])
    mlp = points.loc[("mlp", 32)]
    assert mlp["runs"] == 1 and mlp["test_mse"] == shipped("mlp").test_mse, "the curve keeps the family's own run"
    assert mlp["n_seeds"] == 3 and mlp["mean"] == pytest.approx(by_hand([stored_test_mse("mlp", s) for s in SEEDS])[0])
    assert points.loc[("mlp", 8), "n_seeds"] == 1
    study = sweep_points([shipped("mlp", s) for s in SEEDS], [])
    assert len(study) == 1 and study["runs"].item() == 3, "a study's seeds of one config make one point"
    assert study["test_mse"].item() == pytest.approx(study["mean"].item())


# --- figures ------------------------------------------------------------------------------------------


SERIES = [MethodStyle("A", "MLP", "#0072B2"), MethodStyle("B", "Conv", "#D55E00")]


def test_seed_figures_draw_seeds_means_and_intervals():
    seeds = pd.DataFrame({"slot": ["A"] * 3 + ["B"] * 3, "seed": [0, 1, 2] * 2,
                          "test_mse": [0.017, 0.0175, 0.0169, 0.013, 0.0131, 0.0133]})  # fmt: skip
    runs = pd.DataFrame({"slot": ["A", "B"], "seed": [0, 0], "test_mse": [0.017, 0.013], "ci_low": [0.0166, 0.0127],
                         "ci_high": [0.0174, 0.0133]})  # fmt: skip
    fig = seed_strip_figure(seeds, runs, SERIES)
    assert isinstance(fig, go.Figure) and len(fig.data) == 6
    rows = list(fig.layout.yaxis.categoryarray)[::-1]
    assert "MLP</b>: 3 training seeds" in rows[0] and "95% interval over test images" in rows[1]
    assert list(fig.data[0].x) == [0.017, 0.0175, 0.0169] and list(fig.data[1].x) == pytest.approx([0.017133333])
    assert list(fig.data[2].error_x.array) == pytest.approx([0.0004])

    spread = pd.DataFrame({"slot": ["A", "A"], "digit": ["0", "all"], "n_seeds": [3, 3], "mean": [0.02, 0.017],
                           "min": [0.019, 0.016], "max": [0.021, 0.018]})  # fmt: skip
    intervals = pd.DataFrame({"digit": ["0", "all"], "A MSE": [0.02, 0.017], "A CI low": [0.019, 0.0165],
                              "A CI high": [0.021, 0.0175]})  # fmt: skip
    fig = per_digit_seed_figure(spread, intervals, SERIES[:1])
    assert [t.name for t in fig.data] == ["MLP: across 3 training seeds (mean, min–max)",
                                          "MLP: this run, 95% interval over test images"]  # fmt: skip


def test_sweep_seed_figure_adds_the_seed_spread_only_where_there_are_seeds():
    points = pd.DataFrame({
        "model": ["mlp", "mlp"], "bottleneck": [8, 32], "latent_dims": [8, 32], "parameters": [10, 20],
        "test_mse": [0.02, 0.017], "pca_mse": [0.03, 0.012], "ci_low": [0.019, 0.0165], "ci_high": [0.021, 0.0175],
        "n_seeds": [1, 3], "mean": [0.02, 0.0171], "sd": [np.nan, 0.0003], "min": [0.02, 0.0169], "max": [0.02, 0.0175],
    })  # fmt: skip
    fig = sweep_seed_figure(points, [MethodStyle("mlp", "MLP", "#009E73")], "#6E6E6E")
    curve = next(t for t in fig.data if t.name == "MLP")
    assert list(curve.error_y.array) == pytest.approx([0.001, 0.0005]), "the interval over test images"
    seeds = next(t for t in fig.data if "across training seeds" in t.name)
    assert list(seeds.y) == [0.0171] and list(seeds.error_y.array) == pytest.approx([0.0004])


# --- the pages, on the shipped runs -------------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped_root(tmp_path_factory):
    return copy_checkpoints(tmp_path_factory.mktemp("seeds") / "checkpoints")


@pytest.fixture
def app(shipped_root, monkeypatch):
    monkeypatch.setenv("AECORE_CHECKPOINTS", str(shipped_root))
    at = AppTest.from_file(str(REPO / "dashboard.py"), default_timeout=APP_TIMEOUT).run()
    assert not at.exception, at.exception[0].value
    return at


def texts(at: AppTest) -> str:
    """The page's text with markdown escapes removed."""
    shown = "\n".join(str(e.value) for kind in ("markdown", "caption", "subheader") for e in at.get(kind))
    return shown.replace("\\", "")


def test_the_overview_shows_the_seed_spread_of_the_shipped_defaults(app):
    assert not app.exception
    table = next(d.value for d in app.dataframe if "mean ± sd across seeds" in d.value.columns)
    assert list(table["training seeds (n)"]) == ["0, 1, 2 (3)", "0, 1, 2 (3)"]
    mlp = [stored_test_mse("mlp", s) for s in SEEDS]
    mean, sd = table["mean ± sd across seeds"].iloc[0].split(" ± ")
    assert float(mean) == pytest.approx(by_hand(mlp)[0], abs=5e-6)
    assert float(sd) == pytest.approx(by_hand(mlp)[1], abs=5e-6)
    assert table["95% interval over test images"].iloc[0].count("–") == 1
    shown = texts(app)
    assert "across **3 training seeds**" in shown and "95% interval over test images" in shown
    assert "A's config against B's, across training seeds" in shown
    assert app.get("plotly_chart"), "the seed strip is drawn"


def test_the_per_digit_page_shows_the_seed_spread_beside_the_intervals(app):
    app.switch_page("pages/per_digit.py").run()
    assert not app.exception, app.exception
    table = next(d.value for d in app.dataframe if "A − B (means)" in d.value.columns)
    assert list(table["digit"]) == [str(d) for d in range(10)] + ["all"]
    assert (table["A seeds"] == 3).all() and (table["B seeds"] == 3).all()
    assert table.set_index("digit").loc["all", "verdict"] in (
        "A better, beyond seed spread",
        "B better, beyond seed spread",
        "within seed spread",
    )
    shown = texts(app)
    assert "A: 3 training seeds (0, 1, 2)" in shown and "95% interval over test images" in shown
    chart = next(c for c in app.get("plotly_chart") if "across 3 training seeds" in c.proto.spec)
    assert "this run, 95% interval over test images" in chart.proto.spec

"""Any two runs, of any architecture, in slots A and B: every page renders them with labels that tell them apart.

These app tests use the shipped runs (a private copy), so they also prove that a fresh clone offers these
comparisons without training anything.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from aecore.compare import distinguishing_labels
from aecore.config import RunConfig
from tests.browser_support import REPO, copy_checkpoints
from ui.navigation import PAGES

APP_TIMEOUT = 240  # seconds per script run: the first imports torch, reads the data and fits PCA baselines
PAIRS = {
    "two MLP widths": (RunConfig.for_recipe("mlp", bottleneck=8), RunConfig.for_recipe("mlp")),
    "VAE against conv": (RunConfig.for_recipe("vae"), RunConfig.for_recipe("conv")),
    "seed recipe against onecycle": (RunConfig.for_recipe("mlp", recipe="seed"), RunConfig.for_recipe("mlp")),
}
# Pages that name the runs in slots (the Runs page lists every run instead).
SLOT_PAGES = [entry.path for entry in PAGES if entry.path != "pages/runs.py"]


@pytest.fixture(scope="module")
def shipped_root(tmp_path_factory):
    return copy_checkpoints(tmp_path_factory.mktemp("slots") / "checkpoints")


@pytest.fixture
def app(shipped_root, monkeypatch):
    monkeypatch.setenv("AECORE_CHECKPOINTS", str(shipped_root))

    def open_with(a: RunConfig | None = None, b: RunConfig | None = None) -> AppTest:
        at = AppTest.from_file(str(REPO / "dashboard.py"), default_timeout=APP_TIMEOUT)
        at.session_state["latent_method"] = "pca"  # UMAP of runs without a shipped map would take a minute
        at.run()
        assert not at.exception, at.exception[0].value
        if a is not None:
            at.selectbox(key="slot_A").set_value(a.run_id)
        if b is not None:
            at.selectbox(key="slot_B").set_value(b.run_id)
        return at.run()

    return open_with


def page_text(at: AppTest) -> str:
    """Everything a reader sees as text on the page, figure labels included."""
    parts = [str(e.value) for kind in ("title", "markdown", "caption", "info", "warning", "subheader")
             for e in at.get(kind)]  # fmt: skip
    parts += [m.label for m in at.metric]
    parts += [json.dumps(json.loads(chart.proto.spec), ensure_ascii=False) for chart in at.get("plotly_chart")]
    return re.sub(r"\\(.)", r"\1", "\n".join(parts))  # markdown escapes (\( for "(") read as the character


def test_the_sidebar_opens_on_the_shipped_mlp_and_conv(app):
    at = app()
    assert at.selectbox(key="slot_A").value == RunConfig.for_recipe("mlp").run_id
    assert at.selectbox(key="slot_B").value == RunConfig.for_recipe("conv").run_id
    offered = set(at.selectbox(key="slot_A").options)
    shipped = [p for p in (Path(__file__).parent.parent / "checkpoints").iterdir() if (p / "run.json").is_file()]
    assert len(shipped) >= 15 and len(offered) == len(shipped), "every shipped run is offered in the slot pickers"


@pytest.mark.slow
@pytest.mark.parametrize("pair", list(PAIRS))
def test_every_page_renders_the_pair_with_distinct_labels(app, pair):
    a, b = PAIRS[pair]
    label_a, label_b = distinguishing_labels([a, b])
    assert label_a != label_b
    at = app(a, b)
    for path in SLOT_PAGES:
        at.switch_page(path).run()
        assert not at.exception, f"{pair}, {path}: {at.exception[0].value}"
        text = page_text(at)
        if path != "pages/own_digit.py":  # nothing drawn yet on that page: it waits for the user's digit
            assert f"A · {label_a}" in text and f"B · {label_b}" in text, f"{pair}, {path}: labels missing"


def test_swap_exchanges_the_runs_in_a_and_b(app):
    a, b = PAIRS["two MLP widths"]
    at = app(a, b)
    at.button(key="slot_swap").click().run()
    assert not at.exception
    assert at.selectbox(key="slot_A").value == b.run_id
    assert at.selectbox(key="slot_B").value == a.run_id
    assert "A · MLP b=32" in page_text(at) and "B · MLP b=8" in page_text(at)


def test_the_same_run_in_both_slots_is_labelled_by_slot(app):
    run = PAIRS["two MLP widths"][1]
    at = app(run, run)
    assert not at.exception
    assert "A · MLP (A)" in page_text(at) and "B · MLP (B)" in page_text(at)


def test_long_labels_leave_the_seed_table_the_slot_names_and_the_per_digit_table_short_headers(app):
    """Two conv runs that differ in recipe: their labels ("A · Conv · seed recipe") made the Overview's seed table
    cut its run column and the Per-digit table cut its last column at 1400 px."""
    at = app()
    assert list(seed_table(at)["run"]) == ["A · MLP", "B · Conv"], "the default pair keeps its labels"
    at = app(RunConfig.for_recipe("conv", recipe="seed"), RunConfig.for_recipe("conv"))
    assert not at.exception, at.exception[0].value
    assert list(seed_table(at)["run"]) == ["A", "B"]
    at.switch_page("pages/per_digit.py").run()
    assert not at.exception, at.exception[0].value
    table = next(t for t in at.dataframe if "lowest" in t.value.columns)  # the per-digit MSE table
    config = json.loads(table.proto.columns)
    labels = {column: entry.get("label") for column, entry in config.items()}
    assert labels["A · Conv · seed recipe MSE"] == "A MSE", labels


def seed_table(at: AppTest):
    """The Overview's "Across training seeds" table."""
    return next(t.value for t in at.dataframe if "training seeds (n)" in t.value.columns)


def test_runs_on_mnist_and_its_sample_render_latent_quality_and_each_timeline_under_its_own_digits(app):
    """Slot B trained on the 4,500-image sample: its probes are fit on its own 4,500 training codes (the page
    raised "inconsistent numbers of samples: [4500, 54000]" with A's labels), and its timeline rebuilt its own
    validation digits, shown above its rows."""
    at = app(RunConfig.for_recipe("conv", recipe="seed"), RunConfig.for_recipe("conv", dataset="mnist-sample"))
    at.switch_page("pages/latent_quality.py").run()
    assert not at.exception, at.exception[0].value
    assert "Most linearly separable code" in page_text(at)
    quality = next(t.value for t in at.dataframe if "linear-probe accuracy" in t.value.columns)
    assert list(quality["method"])[:2] == ["A", "B"], "long labels made the table scroll sideways at 1400 px"
    bars = next(json.loads(c.proto.spec) for c in at.get("plotly_chart") if '"linear probe"' in c.proto.spec)
    assert all("<br>" in name for name in bars["data"][0]["x"][:2]), "long bar labels wrap instead of tilting"
    at.switch_page("pages/error_gallery.py").run()
    assert not at.exception, at.exception[0].value
    ranked = next(t for t in at.dataframe if "test index" in t.value.columns)
    headers = {column: entry.get("label") for column, entry in json.loads(ranked.proto.columns).items()}
    assert headers["B · Conv · onecycle · MNIST sample, 5k MSE"] == "B MSE", headers
    at.switch_page("pages/timeline.py").run()
    assert not at.exception, at.exception[0].value
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    gallery = next(spec for spec in specs if any(t.get("type") == "image" for t in spec["data"]))  # the probe digits
    titles = [a["text"] for a in gallery["layout"]["annotations"] if a.get("xref") == "paper"]
    assert any("A's validation" in t for t in titles) and any("B's validation" in t for t in titles), titles

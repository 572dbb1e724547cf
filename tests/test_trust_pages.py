"""App tests of the trust pages (latent quality, error gallery, robustness, own digit, bottleneck sweep, per-digit
intervals) through the navigation frame, on a private copy of the shipped runs."""

from __future__ import annotations

import io
import json
import re
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from aecore.config import RunConfig
from aecore.data import load_dataset
from aecore.robustness import CURVE_STRENGTHS
from aecore.runstore import list_runs
from tests.browser_support import REPO, copy_checkpoints
from tests.figure_support import picture_pixels
from tests.runs import make_run, tiny_config

TIMEOUT = 300  # first runs score the 10k test digits with both models and bootstrap on 2 busy cores
METHODS = ["A · MLP", "B · Conv", "PCA-32"]


@pytest.fixture(scope="module")
def shipped_copy(tmp_path_factory):
    return copy_checkpoints(tmp_path_factory.mktemp("trust-pages") / "checkpoints")


def open_page(name: str, root, monkeypatch) -> AppTest:
    monkeypatch.setenv("AECORE_CHECKPOINTS", str(root))
    at = AppTest.from_file(str(REPO / "dashboard.py"), default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    at.switch_page(f"pages/{name}").run()
    assert not at.exception, at.exception
    return at


def texts(at: AppTest) -> str:
    """What a reader sees as text (markdown escapes such as \\. read as the character)."""
    parts = (*at.markdown, *at.caption, *at.info, *at.warning, *at.error)
    return re.sub(r"\\(.)", r"\1", "\n".join(str(e.value) for e in parts))


def chart(at: AppTest, key: str) -> dict:
    return json.loads(next(c for c in at.get("plotly_chart") if c.proto.id.endswith(key)).proto.spec)


def annotations(spec: dict) -> list[str]:
    return [a["text"] for a in spec["layout"].get("annotations", [])]


def test_latent_quality_table_has_both_runs_and_pca(shipped_copy, monkeypatch):
    at = open_page("latent_quality.py", shipped_copy, monkeypatch)
    table = at.dataframe[0].value
    assert list(table["method"]) == METHODS
    for column in ("5-NN accuracy", "linear-probe accuracy"):
        assert table[column].between(0.6, 1.0).all(), f"{column} of trained codes should be far above chance"
    assert len(at.get("download_button")) == 1 and len(at.get("plotly_chart")) == 1
    assert "**PCA-32** (beside A and B): PCA with 32 components, fit on the same 54,000 training images" in texts(at)
    verdict = next(line for line in texts(at).splitlines() if line.startswith("Most linearly separable code"))
    assert "95% interval" in verdict and "PCA-32" in verdict and "Chance is 10%" in verdict, verdict
    assert {"5-NN accuracy 95% CI", "linear-probe accuracy 95% CI"} <= set(table.columns)


def test_error_gallery_ranks_the_worst_then_the_best_of_one_digit(shipped_copy, monkeypatch):
    at = open_page("error_gallery.py", shipped_copy, monkeypatch)
    table = at.dataframe[0].value
    assert len(table) == 8 and {f"{m} MSE" for m in METHODS} <= set(table.columns)
    assert table["A · MLP MSE"].is_monotonic_decreasing, "worst first"
    worst = table["A · MLP MSE"].min()
    spec = chart(at, "gallery_figure")
    titles = [t for t in annotations(spec) if t.startswith("<b>")]
    assert [t.replace("<b>", "").replace("</b>", "") for t in titles] == [
        "original", "A · MLP", "A |x − x̂|", "B · Conv", "B |x − x̂|", "PCA-32", "PCA-32 |x − x̂|"]  # fmt: skip
    assert picture_pixels(spec["data"][0]).shape[1] == 8 * 36 - 4, "eight tiles per row"
    assert len(annotations(spec)) == 7 + 4 * 8, "a caption under every tile of the original and rebuilt rows"

    at.radio(key="gallery_end").set_value("best")
    at.selectbox(key="gallery_digit").set_value(3)
    at.radio(key="gallery_rank_model").set_value("B")
    at.run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert set(table["digit"]) == {"3"} and table["B · Conv MSE"].is_monotonic_increasing
    assert table["A · MLP MSE"].max() < worst * 5, "the best conv digits are not among the worst MLP ones"
    assert len(at.get("download_button")) == 1


def example_scores(at: AppTest) -> dict[str, float]:
    """{method: MSE against the clean image} from the captions under the rebuilt tiles."""
    found = [t.split(": ") for t in annotations(chart(at, "robust_example")) if ": " in t]
    return {name: float(value) for name, value in found}


def test_robustness_lab_scores_against_the_clean_image(shipped_copy, monkeypatch):
    at = open_page("robustness.py", shipped_copy, monkeypatch)
    for key, kind in (("robust_sigma", "noise"), ("robust_square", "occlusion"), ("robust_shift", "shift")):
        slider = at.slider(key=key)
        assert (slider.min, slider.max) == (min(CURVE_STRENGTHS[kind]), max(CURVE_STRENGTHS[kind])), key
    curves = chart(at, "robust_curves")
    for axis, kind in zip(("x", "x2", "x3"), ("noise", "occlusion", "shift"), strict=True):
        drawn = [x for t in curves["data"] if t.get("xaxis", "x") == axis and t.get("mode") for x in t["x"]]
        assert (min(drawn), max(drawn)) == (min(CURVE_STRENGTHS[kind]), max(CURVE_STRENGTHS[kind])), kind
    assert set(example_scores(at)) == {"A", "B", "PCA-32"}, "each run and PCA scored"
    verdict = next(line for line in texts(at).splitlines() if "the error grows least for" in line)
    assert "95% interval" in verdict and "PCA-32" in verdict, f"the verdict names PCA and its interval: {verdict}"
    assert "clearly lower than" in verdict or "no clear difference" in verdict, verdict
    at.slider(key="robust_sigma").set_value(0.0)
    at.run()
    clean = example_scores(at)
    at.slider(key="robust_square").set_value(16)
    at.run()
    assert not at.exception, at.exception
    occluded = example_scores(at)
    assert all(occluded[m] > clean[m] for m in clean), (clean, occluded)
    assert len(at.get("download_button")) == 1


def _png_of_test_digit(index: int) -> bytes:
    """A real test digit as a photo would show it: dark ink on white, 5x larger, off-centre."""
    digit = load_dataset("mnist-sample").test.images[index, 0, 2:30, 2:30].numpy()
    paper = Image.fromarray((255 * (1 - digit)).astype(np.uint8)).resize((140, 140), Image.Resampling.BILINEAR)
    sheet = Image.new("L", (200, 180), 255)
    sheet.paste(paper, (50, 10))
    buffer = io.BytesIO()
    sheet.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def upload_page(shipped_copy, monkeypatch):
    at = open_page("own_digit.py", shipped_copy, monkeypatch)
    assert "Nothing to reconstruct yet" in texts(at)
    at.radio(key="own_digit_source").set_value("Upload")
    at.run()
    assert not at.exception, at.exception
    return at


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("notes.png", b"these are not pixels", "not a readable image"),
        ("huge.png", b"\x89PNG\r\n\x1a\n" + bytes(1_200_000), "at most 1 MB"),
        ("tiny.gif", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "not a readable image"),
    ],
)
def test_bad_uploads_show_an_error_and_no_traceback(upload_page, name, content, message):
    upload_page.get("file_uploader")[0].set_value((name, content, "application/octet-stream"))
    upload_page.run()
    assert not upload_page.exception, upload_page.exception
    errors = [re.sub(r"\\(.)", r"\1", e.value) for e in upload_page.error]
    assert len(errors) == 1 and message in errors[0] and name in errors[0]
    assert not upload_page.get("plotly_chart"), "nothing is reconstructed from a bad upload"


def test_an_uploaded_digit_is_reconstructed_and_placed_among_its_kind(upload_page):
    index = 0  # the first test digit, a clear 7
    assert load_dataset("mnist-sample").test.labels[index] == 7
    upload_page.get("file_uploader")[0].set_value(("seven.png", _png_of_test_digit(index), "image/png"))
    upload_page.run()
    assert not upload_page.exception, upload_page.exception
    assert not upload_page.error
    table = upload_page.dataframe[0].value
    assert list(table["method"]) == METHODS
    assert (table["MSE vs your digit"] < 0.05).all(), "a real test digit should be rebuilt well"
    for slot in ("A", "B"):  # one map per run, the digit palette, the star drawn last
        traces = chart(upload_page, f"own_digit_map_{slot}")["data"]
        assert traces[-1]["name"] == "your digit" and traces[-1]["marker"]["symbol"] == "star"
    assert texts(upload_page).count("mostly **7**s") == 2


def test_sweep_page_plots_a_family_of_runs(tmp_path, monkeypatch, tiny_dataset):
    root = tmp_path / "checkpoints"
    for bottleneck in (2, 4):
        make_run(root, tiny_dataset, tiny_config("mlp", bottleneck=bottleneck))
    make_run(root, tiny_dataset, tiny_config("conv", bottleneck=1))
    at = open_page("bottleneck_sweep.py", root, monkeypatch)
    table = at.dataframe[0].value
    assert list(zip(table["architecture"], table["latent dims"], strict=True)) == [("Conv", 16), ("MLP", 2), ("MLP", 4)]
    assert len(at.get("plotly_chart")) == 1 and len(at.get("download_button")) == 1


def test_sweep_page_without_a_sweep_says_how_to_make_one(tmp_path, monkeypatch, tiny_dataset):
    root = tmp_path / "checkpoints"
    make_run(root, tiny_dataset, tiny_config("mlp"))
    at = open_page("bottleneck_sweep.py", root, monkeypatch)
    assert "No sweep yet" in texts(at) and not at.get("plotly_chart")


def test_per_digit_page_shows_intervals_and_the_paired_difference(shipped_copy, monkeypatch):
    at = open_page("per_digit.py", shipped_copy, monkeypatch)
    intervals = next(d.value for d in at.dataframe if "PCA-32 95% CI" in d.value.columns)
    assert list(intervals["digit"]) == [str(d) for d in range(10)] + ["all"]
    for method in METHODS:  # shown as "0.01644–0.01743", one column per method, so the table fits the page
        low, high = zip(*(map(float, text.split("–")) for text in intervals[f"{method} 95% CI"]), strict=True)
        mse = intervals[f"{method} MSE"].astype(float)
        assert (np.array(low) < mse).all() and (mse < np.array(high)).all(), method
        if method == "A · MLP":
            assert high[-1] - low[-1] < 0.002, "10,000 test images: a tight interval"
    difference = next(d.value for d in at.dataframe if "A win rate" in d.value.columns)
    assert list(difference["digit"]) == [str(d) for d in range(10)] + ["all"]
    assert set(difference["verdict"]) <= {"A better", "B better", "no clear difference"}
    assert difference["A win rate"].between(0, 1).all()
    for key in ("per_digit_ci_chart", "per_digit_diff_chart"):  # every digit labelled on the interval charts
        assert chart(at, key)["layout"]["xaxis"]["tickvals"] == [str(d) for d in range(10)] + ["all"], key
    assert len(at.get("download_button")) == 3


def test_shipped_sweep_is_charted_on_a_fresh_clone(shipped_copy, monkeypatch):
    at = open_page("bottleneck_sweep.py", shipped_copy, monkeypatch)
    assert at.selectbox(key="sweep_family").value == "onecycle (recipe defaults) · seed 0 · mnist"
    table = at.dataframe[0].value
    latent = {arch: sorted(rows["latent dims"]) for arch, rows in table.groupby("architecture")}
    shipped = [
        r
        for r in list_runs(shipped_copy)[0]
        if r.config.dataset == "mnist"
        and r.config.seed == 0
        and r.config == RunConfig.for_recipe(r.config.model, bottleneck=r.config.bottleneck)
    ]
    expected: dict[str, list[int]] = {}
    for run in shipped:
        expected.setdefault(run.spec.title, []).append(run.latent_dim)
    assert latent == {arch: sorted(dims) for arch, dims in expected.items()}, "every shipped default-budget run"
    assert len(latent["MLP"]) >= 3, "the shipped MLP sweep"
    mlp = table[table["architecture"] == "MLP"].sort_values("latent dims")
    pca, test = mlp["PCA MSE (same dims)"].astype(float), mlp["test MSE"].astype(float)
    assert pca.is_monotonic_decreasing, "PCA error must fall as it keeps more components"
    assert test.iloc[0] > 1.5 * test.iloc[-1], "a 64-d code should rebuild clearly better"
    seeds = [r.test_mse for r in list_runs(shipped_copy)[0] if replace(r.config, seed=0) == RunConfig.for_recipe("mlp")]
    assert len(seeds) == 3, "the default MLP ships three seeds"
    spread = f"{np.mean(seeds):.5f} ± {np.std(seeds, ddof=1):.5f}"
    assert spread in set(mlp["mean ± sd across seeds"]), f"the default's three seeds, mean ± sd: {spread}"
    assert len(at.get("plotly_chart")) == 1

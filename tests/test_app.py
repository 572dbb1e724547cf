"""App tests (streamlit AppTest, through the navigation frame) of the pages' promises: the training chart, the
reconstructions controls, per-digit numbers, the timeline's epoch slider, the Runs page, the train form, and a
damaged run.

Every test runs on a private copy of the shipped runs ($AECORE_CHECKPOINTS), so the repository's checkpoints/
is never touched. The job runner is process-wide (as in the server): a test that starts a job waits for it.
"""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from aecore.compare import distinguishing_labels, picker_label
from aecore.config import RunConfig
from aecore.runstore import find_run, read_run
from tests.browser_support import REPO, copy_checkpoints
from tests.figure_support import picture_pixels
from ui import cache

APP_TIMEOUT = 240  # seconds per script run: the first imports torch, reads the data and scores the test set
JOB_TIMEOUT = 300
SHIPPED = {model: RunConfig.for_recipe(model).run_id for model in ("mlp", "conv")}
SWEEP_MLP_8 = RunConfig.for_recipe("mlp", bottleneck=8).run_id  # a shipped run that is no slot's default


@pytest.fixture(scope="module")
def shipped_root(tmp_path_factory):
    """One copy for the tests that only read the runs."""
    return copy_checkpoints(tmp_path_factory.mktemp("app") / "checkpoints")


@pytest.fixture
def own_root(tmp_path):
    """A copy of its own for a test that deletes or damages runs."""
    return copy_checkpoints(tmp_path / "checkpoints")


@pytest.fixture(autouse=True)
def _no_job_left_running():
    yield
    jobs = cache.training_jobs()
    if jobs.cancel():
        jobs.wait(JOB_TIMEOUT)


def open_app(root, monkeypatch, page: str | None = None) -> AppTest:
    monkeypatch.setenv("AECORE_CHECKPOINTS", str(root))
    at = AppTest.from_file(str(REPO / "dashboard.py"), default_timeout=APP_TIMEOUT).run()
    assert not at.exception, at.exception[0].value
    if page is not None:
        at.switch_page(page).run()
        assert not at.exception, f"{page}: {at.exception[0].value}"
    return at


def chart(at: AppTest, key: str) -> dict:
    found = [c for c in at.get("plotly_chart") if c.proto.id.endswith(key) or key in c.proto.id]
    assert len(found) == 1, f"no chart {key}"
    return json.loads(found[0].proto.spec)


def texts(elements) -> str:
    """The text of elements as a reader sees it (markdown escapes such as \\_ read as the character)."""
    return re.sub(r"\\(.)", r"\1", "\n".join(str(e.value) for e in elements))


def frame(at: AppTest, key: str):
    """The table drawn with widget key `key` (tables with a selection have one; the Runs table's key also names the
    runs it shows: `runs_table_<digest>`)."""
    return next(d for d in at.dataframe if d.key == key or str(d.key).startswith(f"{key}_")).value


def table_key(at: AppTest, key: str) -> str:
    return next(str(d.key) for d in at.dataframe if d.key == key or str(d.key).startswith(f"{key}_"))


def table_with(at: AppTest, column: str):
    """The first table that has `column` (tables without a selection carry no key)."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


# --- training curves ---------------------------------------------------------------------------------------


def test_training_curves_name_pca_and_give_every_overlay_its_own_colour_and_a_human_label(shipped_root, monkeypatch):
    at = open_app(shipped_root, monkeypatch, "pages/training.py")
    overlays = [RunConfig.for_recipe("mlp", seed=1), RunConfig.for_recipe("mlp", bottleneck=8),
                RunConfig.for_recipe("conv", recipe="seed")]  # fmt: skip
    at.multiselect(key="training_overlay").set_value([c.run_id for c in overlays]).run()
    assert not at.exception, at.exception

    spec = chart(at, "training_curves")
    entries = [t for t in spec["data"] if t.get("showlegend", True) and t["name"]]
    runs = [t for t in entries if not t["name"].startswith("PCA") and "(" not in t["name"]]
    shown = [RunConfig.for_recipe("mlp"), RunConfig.for_recipe("conv"), *overlays]
    expected = [label if f"seed {c.seed}" in label else f"{label} · seed {c.seed}"
                for c, label in zip(shown, distinguishing_labels(shown), strict=True)]  # fmt: skip
    assert [t["name"] for t in runs] == ["A · " + expected[0], "B · " + expected[1], *expected[2:]]
    assert all("seed" in t["name"] for t in runs), "every curve names its seed"
    colours = [t["line"]["color"] for t in runs]
    assert len(set(colours)) == len(colours) == 5, f"curves share a colour: {colours}"
    assert len(set(expected)) == 5 and not any(c.run_id in " ".join(expected) for c in shown), "names, not ids"

    pca = [t for t in entries if t["name"].startswith("PCA-32")]
    stored = [read_run(shipped_root / SHIPPED["mlp"]).metrics.pca.val_mse,
              find_run(overlays[0].run_id, shipped_root).metrics.pca.val_mse]  # fmt: skip
    assert len(pca) == 1, f"one PCA-32 line for the runs that differ only in PCA's solver seed: {pca}"
    assert pca[0]["y"] == [pytest.approx(np.mean(stored))] * 2, "PCA on the validation images, stored"
    assert sum(t["name"].startswith("PCA-8") for t in entries) == 1, "the overlaid 8-d run brings its own PCA line"
    axis = spec["layout"]["yaxis"]
    assert axis["ticktext"] == [f"{v:g}" for v in axis["tickvals"]], "log ticks read as values"


# --- reconstructions ------------------------------------------------------------------------------------


def gallery_rows(spec: dict) -> dict[str, list[str]]:
    """{row title: captions under its tiles} of a gallery figure."""
    titles = {a["y"]: a["text"].replace("<b>", "").replace("</b>", "") for a in spec["layout"]["annotations"]
              if a.get("xref") == "paper"}  # fmt: skip
    rows: dict[str, list[str]] = {title: [] for title in titles.values()}
    for a in spec["layout"]["annotations"]:
        if a.get("xref") != "paper":
            row = min(titles, key=lambda y: abs(y - (a["y"] - 16)))
            rows[titles[row]].append(a["text"])
    return rows


def test_reconstructions_controls_change_the_sample(shipped_root, monkeypatch):
    at = open_app(shipped_root, monkeypatch, "pages/reconstructions.py")
    first = gallery_rows(chart(at, "recon_images"))
    at.selectbox(key="recon_digit").set_value(7)
    at.slider(key="recon_count").set_value(5)
    at.toggle(key="recon_errors").set_value(True).run()
    assert not at.exception, at.exception

    rows = gallery_rows(chart(at, "recon_images"))
    assert len(rows["original"]) == 5 and all(c.startswith("7 · #") for c in rows["original"]), rows["original"]
    assert rows["original"] != first["original"]
    assert {"A |x − x̂|", "B |x − x̂|"} <= set(rows), "error maps on: one |x − x̂| row per run"
    assert len([m for m in at.metric if "mean MSE of these 5" in m.label]) == 2
    at.number_input(key="recon_seed").set_value(1).run()
    assert gallery_rows(chart(at, "recon_images"))["original"] != rows["original"], "another seed, other digits"


# --- per-digit error -----------------------------------------------------------------------------------


def test_per_digit_numbers_equal_the_stored_metrics(shipped_root, monkeypatch):
    at = open_app(shipped_root, monkeypatch, "pages/per_digit.py")
    table = table_with(at, "lowest").set_index("digit")
    assert list(table.index) == [str(d) for d in range(10)] + ["all"]
    for label, model in (("A · MLP", "mlp"), ("B · Conv", "conv")):
        info = read_run(shipped_root / SHIPPED[model])
        stored = {str(r.digit): (r.n, r.mse) for r in info.metrics.test.per_digit}
        assert np.allclose([table.loc[d, f"{label} MSE"] for d in stored], [m for _, m in stored.values()])
        assert list(table.loc[list(stored), "n"]) == [n for n, _ in stored.values()]
        assert table.loc["all", f"{label} MSE"] == pytest.approx(info.test_mse)
    pca = read_run(shipped_root / SHIPPED["mlp"]).metrics.pca
    assert table.loc["all", "PCA-32 MSE"] == pytest.approx(pca.mse), "the first table has the PCA column"
    digits = table.drop(index="all")
    errors = digits[["A · MLP MSE", "B · Conv MSE", "PCA-32 MSE"]].to_numpy()
    assert list(digits["lowest"]) == [("A", "B", "PCA-32")[i] for i in errors.argmin(axis=1)], "PCA counts as lowest"
    assert "Lowest test MSE per digit: **A** on" in texts(at.caption), "the summary names the runs and PCA"
    for column in ("PCA-32 95% CI", "A win rate"):  # the interval and the paired-difference tables
        assert list(table_with(at, column)["digit"])[-1] == "all"


def test_per_digit_marks_pca_where_it_beats_both_runs(shipped_root, monkeypatch):
    at = open_app(shipped_root, monkeypatch)
    at.selectbox(key="slot_A").set_value(RunConfig.for_recipe("conv", recipe="seed").run_id)  # 0.01419
    at.selectbox(key="slot_B").set_value(RunConfig.for_recipe("dae").run_id).run()  # 0.01387; PCA-32 0.01164
    at.switch_page("pages/per_digit.py").run()
    assert not at.exception, at.exception
    digits = table_with(at, "lowest").set_index("digit").drop(index="all")
    errors = digits[[c for c in digits.columns if c.endswith(" MSE")]]
    pca_lowest = errors["PCA-32 MSE"] < errors.drop(columns="PCA-32 MSE").min(axis=1)
    assert pca_lowest.sum() >= 5, "these two runs lose to PCA-32 on most digits"
    assert (digits.loc[pca_lowest, "lowest"] == "PCA-32").all(), "PCA marked where it is lowest"
    assert (digits.loc[~pca_lowest, "lowest"] != "PCA-32").all(), "and only there"
    summary = texts(at.caption)
    assert f"**PCA-32** on {pca_lowest.sum()} of 10" in summary, summary


# --- training timeline --------------------------------------------------------------------------------------


def test_the_timeline_slider_moves_the_epoch_on_the_digits_and_the_curves(shipped_root, monkeypatch):
    at = open_app(shipped_root, monkeypatch, "pages/timeline.py")
    assert "After epoch 60 of 60" in texts(at.markdown)
    before = chart(at, "timeline_images")
    at.slider(key="timeline_epoch").set_value(3).run()
    assert not at.exception, at.exception

    assert "After epoch 3 of 60" in texts(at.markdown)
    images = chart(at, "timeline_images")
    titles = json.dumps(images, ensure_ascii=False)
    assert "A · epoch 3" in titles and "B · epoch 3" in titles
    assert not np.array_equal(picture_pixels(images["data"][0]), picture_pixels(before["data"][0])), "same digits"
    assert [s["x0"] for s in chart(at, "timeline_curves")["layout"]["shapes"]] == [3], "epoch marked on the curves"


def test_the_timeline_of_one_epoch_runs_renders_without_a_slider(tmp_path, tiny_dataset, monkeypatch):
    from tests.runs import make_run, tiny_config

    info, _ = make_run(tmp_path / "checkpoints", tiny_dataset, tiny_config("mlp"))  # the only run: in both slots
    at = open_app(tmp_path / "checkpoints", monkeypatch, "pages/timeline.py")
    assert at.selectbox(key="slot_A").value == at.selectbox(key="slot_B").value == info.run_id
    assert "After epoch 1 of 1" in texts(at.markdown) and not at.slider, "Streamlit refuses a slider from 1 to 1"
    assert "A · epoch 1" in json.dumps(chart(at, "timeline_images"), ensure_ascii=False)


# --- the Runs page -----------------------------------------------------------------------------------------


def select_run(at: AppTest, run_id: str) -> AppTest:
    """Select the table row of `run_id`, as a click on the row does."""
    table = frame(at, "runs_table")
    row = int(np.flatnonzero(table["run"] == run_id)[0])
    at.session_state[table_key(at, "runs_table")] = {"selection": {"rows": [row], "columns": []}}
    return at.run()


def selected(at: AppTest) -> list[str]:
    """What the Runs page says is selected ("**Selected:** ..."), and whether it offers to delete it."""
    return [m for m in texts(at.markdown).split("\n") if "Selected:" in m] + [
        b.key for b in at.button if b.key == "runs_delete"
    ]


def test_5_after_deleting_the_selected_run_nothing_is_selected(own_root, monkeypatch):
    at = open_app(own_root, monkeypatch, "pages/runs.py")
    select_run(at, SWEEP_MLP_8)
    at.button(key="runs_delete").click().run()
    at.button(key="runs_confirm_yes").click().run()
    assert not at.exception, at.exception
    assert not (own_root / SWEEP_MLP_8).exists()
    assert selected(at) == [], "the selection moved onto another run after a delete"


def test_5_filtering_while_a_row_is_selected_never_selects_another_run(own_root, monkeypatch):
    at = open_app(own_root, monkeypatch, "pages/runs.py")
    table = frame(at, "runs_table")
    last = str(table["run"].iloc[-1])
    select_run(at, last)
    assert any(picker_label(read_run(own_root / last)) in m for m in selected(at))
    at.text_input(key="runs_filter").set_value("dae").run()  # fewer rows than the selected position
    assert not at.exception, at.exception
    assert selected(at) == []
    at.text_input(key="runs_filter").set_value("").run()
    first = str(frame(at, "runs_table")["run"].iloc[0])
    select_run(at, first)
    at.text_input(key="runs_filter").set_value("vae").run()  # another run now sits in row 0
    assert not at.exception, at.exception
    assert selected(at) == [], "a filter moved the selection onto the run that now sits in the selected row"


def test_5_deleting_the_only_shown_row_is_no_error(own_root, monkeypatch):
    at = open_app(own_root, monkeypatch, "pages/runs.py")
    at.text_input(key="runs_filter").set_value(SWEEP_MLP_8).run()
    assert list(frame(at, "runs_table")["run"]) == [SWEEP_MLP_8]
    select_run(at, SWEEP_MLP_8)
    at.button(key="runs_delete").click().run()
    at.button(key="runs_confirm_yes").click().run()
    assert not at.exception, at.exception
    assert not (own_root / SWEEP_MLP_8).exists() and selected(at) == []


def test_runs_page_lists_every_run_and_puts_a_selected_one_into_a_slot(shipped_root, monkeypatch):
    at = open_app(shipped_root, monkeypatch, "pages/runs.py")
    table = frame(at, "runs_table")
    assert set(table["run"]) == {p.name for p in shipped_root.iterdir() if (p / "run.json").exists()}
    for column in (
        "architecture",
        "bottleneck",
        "latent dims",
        "recipe",
        "epochs",
        "batch",
        "lr",
        "seed",
        "training images",
        "parameters",
        "test MSE",
        "PCA MSE",
        "created",
        "training s",
    ):
        assert column in table.columns, column
    assert table.columns[-1] == "run" and table.columns[0] == "slot", "names first, the hash id last"
    assert list(table.columns[:7]) == [
        "slot",
        "shipped",
        "architecture",
        "latent dims",
        "test MSE",
        "PCA MSE",
        "vs PCA",
    ], "the scores are in view without scrolling"
    mlp = table.set_index("run").loc[SHIPPED["mlp"]]
    assert (mlp["slot"], mlp["shipped"]) == ("A", True) and table["shipped"].sum() == 2

    select_run(at, SWEEP_MLP_8)
    assert "MLP b=8" in texts(at.markdown), "the selection is named, not only hashed"
    at.button(key="runs_put_B").click().run()
    assert not at.exception, at.exception
    assert at.selectbox(key="slot_B").value == SWEEP_MLP_8

    at.text_input(key="runs_filter").set_value("vae").run()  # matches names and ids ("dae" is in a conv run's id)
    assert set(frame(at, "runs_table")["architecture"]) == {"VAE"}


def test_deleting_a_run_asks_first_and_then_it_is_gone_from_the_pickers(own_root, monkeypatch):
    label = picker_label(read_run(own_root / SWEEP_MLP_8))  # what the slot pickers list
    at = open_app(own_root, monkeypatch, "pages/runs.py")
    select_run(at, SWEEP_MLP_8)
    at.button(key="runs_delete").click().run()
    assert (own_root / SWEEP_MLP_8).exists(), "deleted without asking"
    at.button(key="runs_confirm_no").click().run()
    assert (own_root / SWEEP_MLP_8).exists() and label in at.selectbox(key="slot_A").options

    select_run(at, SWEEP_MLP_8)
    at.button(key="runs_delete").click().run()
    at.button(key="runs_confirm_yes").click().run()
    assert not at.exception, at.exception
    assert not (own_root / SWEEP_MLP_8).exists()
    for slot in ("A", "B"):
        assert label not in at.selectbox(key=f"slot_{slot}").options
    assert SWEEP_MLP_8 not in set(frame(at, "runs_table")["run"])
    said = [re.sub(r"\\(.)", r"\1", e.value) for e in at.success]  # markdown escapes read as the character
    assert any(f"Deleted {label}" in text and SWEEP_MLP_8 in text for text in said), said
    at.run()  # said once: the next run no longer says it
    assert not any("Deleted" in e.value for e in at.success)


def test_a_shipped_default_needs_the_extra_confirmation(own_root, monkeypatch):
    at = open_app(own_root, monkeypatch, "pages/runs.py")
    select_run(at, SHIPPED["conv"])
    at.button(key="runs_delete").click().run()
    assert at.button(key="runs_confirm_yes").disabled, "a shipped default must not go with one click"
    at.checkbox(key="runs_confirm_shipped").check().run()
    assert not at.button(key="runs_confirm_yes").disabled
    at.button(key="runs_confirm_yes").click().run()
    assert not at.exception, at.exception
    assert not (own_root / SHIPPED["conv"]).exists()
    assert at.selectbox(key="slot_B").value not in (None, SHIPPED["conv"]), "slot B holds another run"


# --- the train form ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [("epochs", "ten", "epochs"), ("learning_rate", "5", "learning_rate"), ("bottleneck", "2.5", "bottleneck")],
)
def test_the_train_form_rejects_a_bad_value_and_starts_nothing(shipped_root, monkeypatch, field, value, named):
    at = open_app(shipped_root, monkeypatch)
    before = cache.training_jobs().snapshot().job_id
    at.text_input(key=f"train_{field}").set_value(value)
    at.button(key="train_submit").click().run()
    assert not at.exception, at.exception
    errors = texts(at.sidebar.error)
    assert "Not started" in errors and named in errors, errors
    assert cache.training_jobs().snapshot().job_id == before, "a job started despite a bad value"


def test_an_existing_config_is_loaded_instantly_into_the_chosen_slot(shipped_root, monkeypatch):
    at = open_app(shipped_root, monkeypatch)
    at.selectbox(key="train_model").set_value("mlp")
    at.text_input(key="train_bottleneck").set_value("8")
    at.radio(key="train_slot").set_value("B")
    at.button(key="train_submit").click().run()
    done = cache.training_jobs().wait(JOB_TIMEOUT)
    at.run()

    assert done.reused == (SWEEP_MLP_8,), done
    assert "already existed with this exact config" in texts(at.info)
    assert at.selectbox(key="slot_B").value == SWEEP_MLP_8
    assert at.selectbox(key="slot_A").value == SHIPPED["mlp"], "the other slot is untouched"


# --- faults ---------------------------------------------------------------------------------------------


def test_a_truncated_weights_file_gives_a_warning_and_the_app_keeps_working(own_root, monkeypatch):
    info = find_run(SHIPPED["mlp"], own_root)
    info.weights_path.write_bytes(info.weights_path.read_bytes()[:1000])
    shutil.rmtree(own_root / SWEEP_MLP_8)  # fewer runs to list: the point is the damaged one
    at = open_app(own_root, monkeypatch)

    expanders = [e for e in at.sidebar.expander if "unreadable run folder" in e.label]
    assert len(expanders) == 1 and expanders[0].label.startswith("1 ")
    assert SHIPPED["mlp"] in texts(expanders[0].text), "the warning names the damaged run"
    assert at.selectbox(key="slot_A").value != SHIPPED["mlp"]
    assert at.selectbox(key="slot_B").value == SHIPPED["conv"]
    for page in ("pages/overview.py", "pages/reconstructions.py", "pages/per_digit.py"):
        at.switch_page(page).run()
        assert not at.exception, f"{page} with a damaged run: {at.exception[0].value}"
    assert len(table_with(at, "lowest")) == 11

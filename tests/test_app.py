"""App tests (streamlit AppTest) for the frame and the overview, training, reconstructions and per-digit pages.

Every test runs on a private copy of the shipped runs ($AECORE_CHECKPOINTS), so the repository's
checkpoints/ is never touched. The job runner is process-wide (as in the server): every test that
starts a job waits for it or cancels it before it ends.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import app_state
from aecore.checkpoints import find_run, load_model, read_run
from aecore.config import ConfigError, RunConfig
from aecore.data import load_dataset
from aecore.metrics import evaluate
from tests.browser_support import REPO, copy_checkpoints
from tests.test_jobs import JOB_TIMEOUT, read_only

APP_TIMEOUT = 180  # seconds per script run: the first one imports torch and reads the data
MY_PAGES = {
    "pages/overview.py": "MLP vs convolutional autoencoder on MNIST",
    "pages/training.py": "Training curves",
    "pages/reconstructions.py": "Reconstructions",
    "pages/per_digit.py": "Per-digit error",
}
SHIPPED = {model: RunConfig.for_recipe(model).run_id for model in ("mlp", "conv")}


@pytest.fixture
def app_root(tmp_path, monkeypatch) -> Path:
    root = copy_checkpoints(tmp_path / "checkpoints")
    monkeypatch.setenv("AECORE_CHECKPOINTS", str(root))
    return root


@pytest.fixture(autouse=True)
def _no_job_left_running():
    yield
    jobs = app_state.training_jobs()
    if jobs.cancel():
        jobs.wait(JOB_TIMEOUT)


def open_app() -> AppTest:
    at = AppTest.from_file(str(REPO / "dashboard.py"), default_timeout=APP_TIMEOUT).run()
    assert not at.exception, at.exception[0].value
    return at


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def fill_retrain_form(at: AppTest, **fields: str) -> AppTest:
    """Set the sidebar form's fields (`model` is the radio, the rest text inputs) and press Train."""
    if "model" in fields:
        at.radio(key="retrain_model").set_value(fields.pop("model"))
    for name, value in fields.items():
        at.text_input(key=f"retrain_{name}").set_value(value)
    return at.button(key="retrain_submit").click().run()


TINY_FORM = {"model": "mlp", "bottleneck_mlp": "3", "epochs": "1", "train_limit": "200", "seed": "21"}
TINY_CONFIG = RunConfig.for_recipe("mlp", bottleneck=3, epochs=1, train_limit=200, seed=21)
LONG_FORM = {"model": "mlp", "bottleneck_mlp": "3", "epochs": "1000", "batch_size": "8", "train_limit": "4000"}


# --- every page, on the shipped runs -----------------------------------------------------------------


@pytest.mark.parametrize("page", list(MY_PAGES))
def test_page_renders_on_the_shipped_runs(app_root, page):
    at = open_app()
    at.switch_page(page).run()

    assert not at.exception, f"{page}: {at.exception[0].value if at.exception else ''}"
    assert [t.value for t in at.title] == [MY_PAGES[page]]
    banner = read_run(app_root / SHIPPED["mlp"]).dataset["description"]
    assert banner in texts(at.info), "every page names the dataset"
    assert at.selectbox(key="selected_run_mlp").value == SHIPPED["mlp"]
    assert at.selectbox(key="selected_run_conv").value == SHIPPED["conv"]


def test_training_chart_draws_the_pca_baseline_on_validation_images(app_root):
    import json

    from aecore.metrics import PCABaseline

    at = open_app()
    at.switch_page("pages/training.py").run()
    assert not at.exception
    charts = [e for e in at.get("plotly_chart") if "PCA-32 (validation)" in e.proto.spec]
    assert len(charts) == 1, "the loss chart carries one PCA line for the shared 32 latent dims"
    lines = [shape for shape in json.loads(charts[0].proto.spec)["layout"]["shapes"] if shape["type"] == "line"]
    data = load_dataset("mnist-sample")
    expected = PCABaseline.fit(data.train.images, 32).evaluate(data.val.images, data.val.labels).mse
    assert [line["y0"] for line in lines] == pytest.approx([expected])


def test_reconstructions_controls_change_the_sample(app_root):
    at = open_app()
    at.switch_page("pages/reconstructions.py").run()
    at.selectbox(key="recon_digit").set_value(7)
    at.slider(key="recon_count").set_value(5)
    at.toggle(key="recon_errors").set_value(True).run()

    assert not at.exception
    assert "Absolute error per pixel" in texts(at.subheader)
    means = [m for m in at.metric if "mean MSE of these 5" in m.label]
    assert len(means) == 2, "one mean per model over the 5 chosen images"


def test_per_digit_table_equals_aecores_test_set_evaluation(app_root):
    at = open_app()
    at.switch_page("pages/per_digit.py").run()
    table = at.dataframe[0].value

    assert len(table) == 10 and list(table["digit"]) == list(range(10))
    test = load_dataset("mnist-sample").test
    for model, run_id in SHIPPED.items():
        fresh = evaluate(load_model(find_run(run_id, app_root)), test.images, test.labels).per_digit()
        assert np.allclose(table[f"{model} MSE"], fresh["mse"], rtol=1e-5), f"{model} per-digit MSE differs"
        assert list(table["n"]) == list(fresh["n"])
    expected_best = np.where(table["mlp MSE"] < table["conv MSE"], "mlp", "conv")
    assert list(table["best"]) == list(expected_best)
    assert np.allclose(table["mlp − conv"], table["mlp MSE"] - table["conv MSE"])


# --- the retrain form --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("epochs", "0", "epochs"),
        ("epochs", "ten", "epochs"),
        ("batch_size", "-5", "batch_size"),
        ("batch_size", "100000", "batch_size"),
        ("learning_rate", "5", "learning_rate"),
        ("learning_rate", "nan", "learning_rate"),
        ("bottleneck_mlp", "2.5", "bottleneck"),
        ("seed", "-1", "seed"),
        ("train_limit", "3", "train_limit"),
    ],
)
def test_sidebar_rejects_bad_values_and_starts_nothing(app_root, field, value, named):
    at = open_app()
    before = app_state.training_jobs().snapshot().job_id
    fill_retrain_form(at, **{field: value})

    assert not at.exception
    errors = texts(at.sidebar.error)
    assert "Not started" in errors and named in errors, errors
    assert app_state.training_jobs().snapshot().job_id == before, "a job started despite a bad value"


@pytest.mark.parametrize(
    ("change", "named"),
    [({"choice": "vae"}, "model"), ({"recipe": "sgd"}, "recipe"), ({"dataset_name": "cifar"}, "dataset")],
)
def test_retrain_configs_reject_unknown_choices(change, named):
    values = {"choice": "both", "recipe": "onecycle", "dataset_name": "mnist-sample", **change}
    choice = values.pop("choice")
    with pytest.raises(ConfigError, match=named):
        app_state.retrain_configs(choice, bottlenecks={}, **values)


def test_retrain_configs_fill_blank_fields_with_recipe_defaults():
    configs = app_state.retrain_configs("both", recipe="seed", dataset_name="mnist-sample", bottlenecks={"conv": "4"})
    assert configs == [RunConfig.for_recipe("mlp", "seed"), RunConfig.for_recipe("conv", "seed", bottleneck=4)]


def test_tiny_retrain_runs_across_page_switches_and_becomes_selected(app_root):
    at = open_app()
    fill_retrain_form(at, **TINY_FORM)
    assert not at.exception
    assert f"Training {TINY_CONFIG.run_id}" in texts(at.markdown), "the live panel shows the job"

    for page in MY_PAGES:  # the user keeps browsing while it trains
        at.switch_page(page).run()
        assert not at.exception, f"{page} during training: {at.exception[0].value if at.exception else ''}"
    done = app_state.training_jobs().wait(JOB_TIMEOUT)
    at.run()

    assert done.state == "finished", done.message
    assert f"Trained and saved {TINY_CONFIG.run_id}" in texts(at.success)
    assert at.selectbox(key="selected_run_mlp").value == TINY_CONFIG.run_id, "the new run is selected"
    assert find_run(TINY_CONFIG.run_id, app_root).config == TINY_CONFIG

    other_tab = open_app()  # a tab opened afterwards: the run is there to choose, the default stays
    new_run = app_state.run_label(find_run(TINY_CONFIG.run_id, app_root))
    assert new_run in other_tab.selectbox(key="selected_run_mlp").options  # options show labels
    assert other_tab.selectbox(key="selected_run_mlp").value == SHIPPED["mlp"]


def test_an_identical_config_is_loaded_instantly_and_said_so(app_root):
    jobs = app_state.training_jobs()
    jobs.start([TINY_CONFIG], root=app_root)
    assert jobs.wait(JOB_TIMEOUT).state == "finished"
    at = open_app()
    fill_retrain_form(at, **TINY_FORM)
    done = jobs.wait(JOB_TIMEOUT)
    at.run()

    assert done.reused == (TINY_CONFIG.run_id,)
    assert "already existed with this exact config" in texts(at.info)
    assert at.selectbox(key="selected_run_mlp").value == TINY_CONFIG.run_id


def test_two_retrains_at_once_run_exactly_one(app_root):
    earlier = sorted(p.name for p in app_root.iterdir())
    first_tab, second_tab = open_app(), open_app()
    before = app_state.training_jobs().snapshot().job_id
    fill_retrain_form(first_tab, **LONG_FORM)
    fill_retrain_form(second_tab, **TINY_FORM)

    assert "already running" in texts(second_tab.sidebar.warning), "the second request is told why"
    assert app_state.training_jobs().snapshot().job_id == before + 1, "exactly one job started"
    second_tab.button(key="job_cancel").click().run()  # the other tab sees the job and can cancel it
    done = app_state.training_jobs().wait(JOB_TIMEOUT)
    first_tab.run()

    assert done.state == "cancelled"
    assert "Training cancelled" in texts(first_tab.warning)
    assert not (app_root / TINY_CONFIG.run_id).exists()
    assert sorted(p.name for p in app_root.iterdir()) == earlier, "earlier runs untouched, nothing added"


# --- faults (issue 7) ---------------------------------------------------------------------------------


def test_a_truncated_weights_file_gives_a_warning_and_the_app_keeps_working(app_root):
    for folder in app_root.glob("mlp-*"):  # every MLP run, so that no fallback MLP run is left
        info = read_run(folder)
        info.weights_path.write_bytes(info.weights_path.read_bytes()[:1000])
    at = open_app()

    warnings = texts(at.sidebar.warning)
    assert f"Unreadable run **{SHIPPED['mlp']}**" in warnings and "damaged" in warnings
    assert "No readable MLP run" in warnings
    assert at.selectbox(key="selected_run_conv").value == SHIPPED["conv"]
    for page in MY_PAGES:
        at.switch_page(page).run()
        assert not at.exception, f"{page} with a broken run: {at.exception[0].value if at.exception else ''}"
    assert len(at.dataframe[0].value) == 10, "the per-digit table still shows the conv run"


def test_a_read_only_checkpoints_folder_opens_the_runs_and_training_says_it_cannot_save(app_root):
    with read_only(app_root):
        at = open_app()
        for page in MY_PAGES:
            at.switch_page(page).run()
            assert not at.exception, f"{page} read-only: {at.exception[0].value if at.exception else ''}"
        assert at.selectbox(key="selected_run_mlp").value == SHIPPED["mlp"]
        fill_retrain_form(at, **TINY_FORM)
        done = app_state.training_jobs().wait(JOB_TIMEOUT)
        at.run()

    assert done.state == "failed"
    errors = texts(at.error)
    assert "Training failed" in errors and "not writable" in errors, errors
    assert not (app_root / TINY_CONFIG.run_id).exists()

"""App tests of the latent-space page on a private copy of the shipped runs (with their shipped maps)."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.browser_support import REPO, copy_checkpoints

PAGE = str(REPO / "pages" / "latent_space.py")
TIMEOUT = 240  # first run encodes and scores the 10k test digits with both models on 2 busy cores


@pytest.fixture(scope="module")
def shipped_copy(tmp_path_factory):
    return copy_checkpoints(tmp_path_factory.mktemp("latent-page") / "checkpoints")


@pytest.fixture
def app(shipped_copy, monkeypatch):
    monkeypatch.setenv("AECORE_CHECKPOINTS", str(shipped_copy))
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, at.exception
    return at


def captions(at: AppTest) -> str:
    """Every image caption on the page, one line each."""
    return "\n".join(c for image in at.get("image") for c in image.captions)


def texts(at: AppTest) -> str:
    parts = [e.value for e in (*at.markdown, *at.caption, *at.info, *at.warning)]
    return "\n".join(str(p) for p in parts)


def test_page_opens_on_the_shipped_maps_of_both_models(app):
    charts = app.get("plotly_chart")
    assert len(charts) == 2, "one map per model"
    shown = texts(app)
    assert shown.count("UMAP of 10,000 test-set latent codes") == 2, "provenance must sit under each map"
    assert "seed 0" in shown and "umap-learn" in shown
    metrics = {m.label: m.value for m in app.metric}
    assert "Neighbourhood agreement" in metrics
    assert 0.0 <= float(metrics["Neighbourhood agreement"]) <= 1.0
    trust = [float(v) for label, v in metrics.items() if label.startswith("Trustworthiness")]
    assert len(trust) == 2 and all(0.5 < t <= 1.0 for t in trust), trust
    assert "Click a digit on either map" in shown
    shown_images = captions(app)
    assert shown_images.count("weighted average of neighbours' codes") == 2, "each model decodes the spot"
    assert shown_images.count("8 decoded steps") == 2, "one interpolation strip per model"


def test_selecting_a_digit_shows_it_both_reconstructions_and_neighbours(app):
    app.session_state["latent_selected"] = 123
    app.run()
    assert not app.exception, app.exception
    shown = texts(app)
    assert "Test image #123" in shown
    assert shown.count("nearest in its latent space") == 2, "neighbours in each model's latent space"
    shown_images = captions(app)
    assert "original" in shown_images and "MLP · MSE" in shown_images and "Conv · MSE" in shown_images


def test_interpolate_buttons_take_the_selected_digit_as_ends(app):
    app.session_state["latent_selected"] = 42
    app.run()
    app.button(key="latent_interp_end_use").click().run()
    assert not app.exception, app.exception
    assert app.number_input(key="latent_interp_end").value == 42
    assert "original #0 · 8 decoded steps · original #42" in captions(app)


def test_switching_to_pca_and_colouring_by_error(app):
    app.selectbox(key="latent_method").set_value("pca")
    app.radio(key="latent_colour").set_value("better")
    app.run()
    assert not app.exception, app.exception
    assert texts(app).count("PCA of 10,000 test-set latent codes") == 2
    app.radio(key="latent_colour").set_value("mse").run()
    assert not app.exception, app.exception


def test_decoding_a_far_spot_warns(app):
    app.number_input(key="latent_spot_x").set_value(1000.0).run()
    assert not app.exception, app.exception
    assert any("Far from the data" in w.value for w in app.warning)
    assert captions(app).count("weighted average of neighbours' codes") == 2, "each model still decodes it"


def test_the_default_spot_is_among_the_data(app):
    assert not any("Far from the data" in w.value for w in app.warning)
    assert "Among the data" in texts(app)


def test_a_2d_run_is_shown_raw_and_decoded_exactly(tmp_path, tiny_dataset, monkeypatch):
    from tests.runs import make_run, tiny_config

    root = copy_checkpoints(tmp_path / "checkpoints")  # its own copy: the extra run must not leak into other tests
    info, _ = make_run(root, tiny_dataset, tiny_config("mlp", bottleneck=2))
    monkeypatch.setenv("AECORE_CHECKPOINTS", str(root))
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT)
    at.session_state["selected_run_mlp"] = info.run_id
    at.session_state["latent_method"] = "raw"
    at.run()
    assert not at.exception, at.exception
    shown = texts(at)
    assert "raw 2-D latent of 10,000 test-set latent codes" in shown, "the 2-D run is drawn at its own codes"
    assert "no raw 2-D coordinates: showing UMAP instead" in shown, "the 32-d conv run falls back to UMAP"
    assert "MLP: its code at this spot, exactly" in captions(at)

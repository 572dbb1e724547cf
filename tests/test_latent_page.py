"""App tests of the latent-space page through the navigation frame, on a private copy of the shipped runs (with
their shipped maps)."""

from __future__ import annotations

import base64
import dataclasses
import json
import re

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tests.browser_support import REPO, copy_checkpoints

TIMEOUT = 240  # first run encodes and scores the 10k test digits with both runs on 2 busy cores


@pytest.fixture(scope="module")
def shipped_copy(tmp_path_factory):
    return copy_checkpoints(tmp_path_factory.mktemp("latent-page") / "checkpoints")


def open_latent(root, monkeypatch, **state) -> AppTest:
    monkeypatch.setenv("AECORE_CHECKPOINTS", str(root))
    at = AppTest.from_file(str(REPO / "dashboard.py"), default_timeout=TIMEOUT)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    at.switch_page("pages/latent_space.py").run()
    assert not at.exception, at.exception
    return at


@pytest.fixture
def app(shipped_copy, monkeypatch):
    return open_latent(shipped_copy, monkeypatch)


def chart(at: AppTest, key: str) -> dict:
    return json.loads(next(c for c in at.get("plotly_chart") if c.proto.id.endswith(key)).proto.spec)


def captions(at: AppTest, key: str) -> list[str]:
    """The captions under the tiles of a gallery (its annotations that are not row titles)."""
    return [a["text"] for a in chart(at, key)["layout"].get("annotations", []) if a.get("xref") != "paper"]


def values(array) -> np.ndarray:
    """A figure's array as plotly serialises it: a list, or {"dtype", "bdata": base64} for numpy arrays."""
    if isinstance(array, dict):
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=np.dtype(array["dtype"]))
    return np.asarray(array)


def traces(at: AppTest, slot: str) -> dict[str, dict]:
    return {t["name"]: t for t in chart(at, f"latent_map_{slot}")["data"]}


def texts(at: AppTest) -> str:
    parts = [e.value for e in (*at.markdown, *at.caption, *at.info, *at.warning)]
    return re.sub(r"\\(.)", r"\1", "\n".join(str(p) for p in parts))


def test_page_opens_on_the_shipped_maps_of_both_runs(app):
    assert {"A", "B"} <= {name[-1] for name in (c.proto.id for c in app.get("plotly_chart")) if "latent_map_" in name}
    shown = texts(app)
    assert shown.count("UMAP of 10,000 test-set latent codes") == 2, "provenance must sit under each map"
    assert "seed 0" in shown and "umap-learn" in shown
    metrics = {m.label: m.value for m in app.metric}
    assert 0.0 <= float(metrics["Neighbourhood agreement"]) <= 1.0
    trust = [float(v) for label, v in metrics.items() if label.startswith("Trustworthiness")]
    assert len(trust) == 2 and all(0.5 < t <= 1.0 for t in trust), trust
    assert "Click a digit on either map" in shown
    assert captions(app, "latent_decoded") == ["A: neighbours' average", "B: neighbours' average"]
    strip = chart(app, "latent_interpolation")
    assert [a["text"] for a in strip["layout"]["annotations"]] == ["<b>A</b>", "<b>B</b>"]
    for slot in ("A", "B"):
        names = traces(app, slot)
        assert not [n for n in names if n.startswith("interpolation")], "no interpolation marks before a pick"
        assert [str(d) for d in range(10)] == [n for n in names if n.isdigit()], "the digit palette's traces"


def test_selecting_a_digit_shows_it_both_reconstructions_and_neighbours(app):
    app.session_state["latent_selected"] = 123
    app.run()
    assert not app.exception, app.exception
    shown = texts(app)
    assert "Test image #123" in shown
    assert shown.count("nearest in its latent space") == 2, "neighbours in each run's latent space"
    tiles = captions(app, "latent_details_tiles")
    assert tiles[0] == "original" and tiles[1].startswith("A · MSE") and tiles[2].startswith("B · MSE")
    assert len(captions(app, "latent_near_A")) == 10 == len(captions(app, "latent_near_B")), "k = 10 neighbours"
    for slot in ("A", "B"):  # linked: ringed on both maps
        assert "selected #123" in traces(app, slot)


def test_interpolate_buttons_take_the_selected_digit_as_ends_and_mark_them(app):
    app.session_state["latent_selected"] = 42
    app.run()
    app.button(key="latent_interp_end_use").click().run()
    assert not app.exception, app.exception
    assert app.number_input(key="latent_interp_end").value == 42
    for slot in ("A", "B"):
        names = traces(app, slot)
        assert "interpolation end #42" in names, "the picked end is marked"
        assert not [n for n in names if n.startswith("interpolation start")], "the start was never picked"
    strip = chart(app, "latent_interpolation")
    width = strip["layout"]["width"] - strip["layout"]["margin"]["l"] - strip["layout"]["margin"]["r"]
    assert width > 0 and len(strip["layout"]["annotations"]) == 2


def test_switching_projection_moves_the_decode_spot_onto_the_new_map(app):
    before = traces(app, "A")["decoded spot"]
    old = (values(before["x"])[0], values(before["y"])[0])
    app.selectbox(key="latent_method").set_value("pca").run()
    assert not app.exception, app.exception
    assert texts(app).count("PCA of 10,000 test-set latent codes") == 2
    spot = traces(app, "A")["decoded spot"]
    new = (values(spot["x"])[0], values(spot["y"])[0])
    assert new != pytest.approx(old), "the marker stayed at the old map's coordinates"
    assert new == (pytest.approx(app.number_input(key="latent_spot_x").value),
                   pytest.approx(app.number_input(key="latent_spot_y").value))  # fmt: skip
    points = np.concatenate([np.column_stack([values(t["x"]), values(t["y"])])
                             for name, t in traces(app, "A").items() if name.isdigit()])  # fmt: skip
    assert (points.min(0) <= new).all() and (new <= points.max(0)).all(), "the spot is not on the new map"
    assert "decoded spot" not in traces(app, "B"), "one spot, on the map it belongs to"


def test_colouring_by_the_better_run_draws_both_runs_in_one_trace_and_names_both_in_the_legend(app):
    app.selectbox(key="latent_method").set_value("pca")
    app.radio(key="latent_colour").set_value("better").run()
    assert not app.exception, app.exception
    names = traces(app, "A")
    drawn = names["rebuilt better by"]
    codes = values(drawn["marker"]["color"])
    assert {0, 1} <= set(codes[: len(codes) // 4].tolist()), "one run's points all on top"
    shown = [n for n, t in names.items() if t.get("showlegend", True) is not False and n]
    assert len(shown) >= 2 and shown[0].startswith("A · ") and shown[1].startswith("B · "), shown
    app.radio(key="latent_colour").set_value("mse").run()
    assert not app.exception, app.exception
    assert all(t.get("showlegend") is False for t in traces(app, "A").values()), "a legend entry over the colour bar"


def selected_on(at: AppTest, slot: str) -> set[int]:
    """Test indices ringed as selected on a slot's map (the ring trace carries coordinates: match them back)."""
    ring = next(t for n, t in traces(at, slot).items() if n.startswith("selected ("))
    points = {(float(x), float(y)): int(i) for name, t in traces(at, slot).items() if name.isdigit()
              for x, y, i in zip(values(t["x"]), values(t["y"]), values(t["customdata"]).reshape(-1, 3)[:, 0],
                                 strict=True)}  # fmt: skip
    return {points[(float(x), float(y))] for x, y in zip(values(ring["x"]), values(ring["y"]), strict=True)}


def test_a_selection_is_ringed_on_both_maps_and_summarised_and_survives_a_projection_switch(app):
    chosen = (3, 17, 256, 4000, 9999)
    app.session_state["latent_selection"] = chosen
    app.run()
    assert not app.exception, app.exception
    assert selected_on(app, "A") == set(chosen) == selected_on(app, "B"), "the same digits on both maps"
    shown = texts(app)
    assert "5 selected digits" in shown and "Class mix:" in shown
    metrics = {m.label: m.value for m in app.metric}
    assert {"A mean MSE", "B mean MSE"} <= set(metrics), metrics
    assert any(label.startswith("PCA") and label.endswith("mean MSE") for label in metrics), "PCA beside the runs"
    assert 0.0 <= float(metrics["Neighbourhood agreement"]) <= 1.0
    assert [b.proto.label for b in app.get("download_button")] == [
        "Selection as CSV", "Gallery as PNG", "Images and codes (.npz)"]  # fmt: skip
    app.selectbox(key="latent_method").set_value("pca").run()
    assert not app.exception, app.exception
    assert selected_on(app, "A") == set(chosen) == selected_on(app, "B"), "the selection survives a projection switch"
    app.button(key="latent_selection_clear").click().run()
    assert not app.exception, app.exception
    assert not [n for n in traces(app, "A") if n.startswith("selected (")], "one click clears it"
    assert "Pick the lasso or the box" in texts(app)


def test_hover_names_the_class_index_and_both_runs_mse_and_the_digits_layer_draws_images(app):
    zero = traces(app, "A")["0"]
    assert "<b>0</b> · test #%{customdata[0]}" in zero["hovertemplate"]
    assert zero["hovertemplate"].count("MSE %{customdata") == 2, "both runs' MSE on hover"
    app.toggle(key="latent_show_digits").set_value(True).run()
    assert not app.exception, app.exception
    for slot in ("A", "B"):
        images = chart(app, f"latent_map_{slot}")["layout"]["images"]
        assert 20 <= len(images) <= 14 * 14 and all(i["source"].startswith("data:image/png;base64,") for i in images)


def test_decoding_a_far_spot_warns(app):
    app.number_input(key="latent_spot_x").set_value(1000.0).run()
    assert not app.exception, app.exception
    warning = next(w.value for w in app.warning if "Far from the data" in w.value)
    assert "extrapolat" not in warning and "average code" in warning, "say what it does: it copies the nearest"
    assert len(captions(app, "latent_decoded")) == 2, "each run still decodes it"


def test_the_default_spot_is_among_the_data(app):
    assert not any("Far from the data" in w.value for w in app.warning)
    assert "Among the data" in texts(app)


def test_a_2d_run_is_shown_raw_and_decoded_exactly(tmp_path, tiny_dataset, monkeypatch):
    from aecore.data import load_dataset
    from tests.runs import make_run, tiny_config

    root = copy_checkpoints(tmp_path / "checkpoints")  # its own copy: the extra run must not leak into other tests
    # Trained on the tiny slice but scored on the whole test set, as every real run of the dataset is.
    data = dataclasses.replace(tiny_dataset, test=load_dataset("mnist-sample").test)
    info, _ = make_run(root, data, tiny_config("mlp", bottleneck=2))
    at = open_latent(root, monkeypatch, slot_A=info.run_id, latent_method="raw")
    shown = texts(at)
    assert "raw 2-D latent of 10,000 test-set latent codes" in shown, "the 2-D run is drawn at its own codes"
    assert "no raw 2-D coordinates: showing UMAP instead" in shown, "the 32-d conv run falls back to UMAP"
    assert captions(at, "latent_decoded")[0] == "A: exact code"

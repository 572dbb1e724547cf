"""Issue 19, items 3 and 11 to 13: strings from storage stay text on every page; every study-storage fault is one
line in the CLI and one warning on a page; the CLI's last tracebacks are one line and exit 2."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import optuna
import pytest
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState, create_trial
from streamlit.testing.v1 import AppTest

from aecore.__main__ import main
from aecore.studies import SPEC_ATTR, StudyError, default_storage, list_studies, trials_frame
from tests.browser_support import REPO
from ui.navigation import PAGES

APP_TIMEOUT = 240
MLP = "mlp-mnist-8c87a3f7b8"  # a shipped default run
CONV = "conv-mnist-a330f631e4"  # the shipped default conv run
PAYLOAD = "![x](http://leak.invalid/x.png) **b** $x^2$ :red[c] <img src=http://leak.invalid/y.png>"
MARKDOWN_KINDS = ("markdown", "caption", "subheader", "header", "title", "info", "warning", "error", "success")


@pytest.fixture
def root(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "checkpoints"
    root.mkdir()
    for name in (MLP, CONV):
        shutil.copytree(REPO / "checkpoints" / name, root / name, ignore=shutil.ignore_patterns(".*"))
    monkeypatch.setenv("AECORE_CHECKPOINTS", str(root))
    return root


def plant_study(root: Path, name: str = PAYLOAD, **attrs) -> None:
    """A study as another tool (or a shared PostgreSQL's other users) could leave it: any name, any attributes."""
    storage = optuna.storages.RDBStorage(default_storage(root))
    study = optuna.create_study(study_name=name, storage=storage)
    study.set_user_attr(SPEC_ATTR, attrs.pop("spec", {"kind": "sweep"}))
    trial = create_trial(
        params={"model": "mlp"}, distributions={"model": CategoricalDistribution(["mlp"])}, value=0.01,
        state=TrialState.COMPLETE,
        user_attrs={"run_id": MLP, "error": PAYLOAD, "worker": {"host": PAYLOAD}, **attrs},
    )  # fmt: skip
    study.add_trial(trial)


def rendered(at: AppTest) -> list[str]:
    """The text of every element Streamlit renders as markdown."""
    return [str(element.value) for kind in MARKDOWN_KINDS for element in at.get(kind)]


def every_page(at: AppTest) -> list[str]:
    texts = []
    for entry in PAGES:
        at.switch_page(entry.path).run()
        assert not at.exception, f"{entry.path}: {at.exception[0].value}"
        texts += rendered(at)
    return texts


def open_app() -> AppTest:
    at = AppTest.from_file(str(REPO / "dashboard.py"), default_timeout=APP_TIMEOUT)
    at.session_state["latent_method"] = "pca"
    at.run()
    assert not at.exception, at.exception[0].value
    return at


# --- 3. strings from storage are text ------------------------------------------------------------------------


def test_3_stored_strings_are_never_rendered_as_markdown_on_any_page(root):
    plant_study(root)
    record = json.loads((root / MLP / "run.json").read_text())
    record["versions"]["torch"] = PAYLOAD[:100]
    (root / MLP / "run.json").write_text(json.dumps(record))
    at = open_app()
    at.session_state["studies_study"] = PAYLOAD
    texts = every_page(at)
    shown = [re.sub(r"\\(.)", r"\1", t) for t in texts]  # markdown escapes read as the characters
    assert any(PAYLOAD in t for t in shown), "the planted study name is shown as its characters (the test reaches it)"
    raw = [t for t in texts if "](http://leak.invalid" in t or re.search(r"(?<!\\)<img", t) or "**b**" in t]
    assert not raw, f"stored text rendered as markdown: {raw[0][:200]}"


# --- 11. the study storage -----------------------------------------------------------------------------------


def damage_storage(root: Path) -> None:
    plant_study(root, name="fine")
    database = root / "studies.db"
    data = database.read_bytes()
    database.write_bytes(data[: len(data) // 2])


def test_11_a_half_truncated_storage_is_one_line_in_the_cli(root, capsys):
    damage_storage(root)
    with pytest.raises(StudyError):
        list_studies(root=root)
    assert main(["studies"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("aecore: error: ") and error.count("\n") == 1 and "Traceback" not in error


def test_11_a_half_truncated_storage_is_one_warning_on_the_pages_about_runs(root):
    damage_storage(root)
    at = open_app()
    for page in ("pages/bottleneck_sweep.py", "pages/studies.py"):
        at.switch_page(page).run()
        assert not at.exception, f"{page}: {at.exception[0].value}"
        warnings = [str(w.value) for w in at.warning if "study storage" in str(w.value)]
        assert len(warnings) == 1, (page, warnings)


@pytest.mark.parametrize("attrs", [
    {"spec": [1, 2]}, {"spec": "sweep"}, {"worker": "a string"}, {"run_id": 5}, {"duplicate_of": "x"},
    {"reused": {"a": 1}},
])  # fmt: skip
def test_11_a_study_with_foreign_user_attributes_is_listed(root, capsys, attrs):
    plant_study(root, name="foreign", **attrs)
    assert list(list_studies(root=root)["study"]) == ["foreign"]
    assert len(trials_frame("foreign", root=root)) == 1
    assert main(["studies"]) == 0 and main(["studies", "foreign"]) == 0, capsys.readouterr().err
    at = open_app()
    for page in ("pages/bottleneck_sweep.py", "pages/studies.py"):
        at.switch_page(page).run()
        assert not at.exception, f"{page}: {at.exception[0].value}"


def test_11_a_storage_in_a_read_only_folder_is_one_line(tmp_path, capsys, read_only):
    folder = tmp_path / "ro"
    folder.mkdir()
    with read_only(folder):
        code = main(["studies", "--storage", f"sqlite:///{folder}/x/studies.db", "--checkpoints", str(tmp_path)])
    error = capsys.readouterr().err
    assert code == 2 and error.count("\n") == 1 and "Traceback" not in error, error


def test_11_escape_sequences_in_stored_study_names_are_not_printed(root, capsys):
    plant_study(root, name="evil\x1b[2J\x1b]0;title\x07name")
    assert main(["studies"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "evil" in out


# --- 12 and 13. the CLI's last tracebacks ----------------------------------------------------------------------


LONG = "x" * 300


@pytest.mark.parametrize("argv", [
    ["--checkpoints", f"/tmp/{LONG}", "list"], ["--data", f"/tmp/{LONG}", "list"], ["evaluate", LONG],
    ["delete", "--yes", LONG], ["project", LONG],
    ["train", "--device", "cuda:" + "9" * 5000], ["train", "--device", "cuda:99999999999999999999"],
    ["sweep", "--bottlenecks", "1", "--storage", "sqlite:////etc/hostname/x.db"],
    ["sweep", "--bottlenecks", "1", "--storage", f"sqlite:////tmp/{LONG}/x.db"],
    ["sweep", "--bottlenecks", "1", "--heartbeat", "99999999999999"],
    ["sweep", "--bottlenecks", "1", "--heartbeat", "0"],
    ["sweep", "--bottlenecks", "1", "--workers", "100000"], ["tune", "--sampler-seed", "-1"],
    ["tune", "--sampler-seed", str(2**70)], ["tune", "--trials", "0"], ["project", "--points", "0"],
    ["sweep", "--bottlenecks", "1", "--study", "y" * 600], ["sweep", "--bottlenecks", "1", "--study", "a\x1b[31mb"],
    ["sweep", "--bottlenecks", "1", "--storage", ""], ["studies", "--storage", ""],
    ["--checkpoints", "/etc/hostname", "list"], ["--checkpoints", "/no/such/folder", "list"],
    ["--data", "/", "list"], ["--data", "/", "train", "--epochs", "1"],
])  # fmt: skip
def test_12_every_bad_argument_is_one_line_and_exit_2(argv, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = set(os.listdir("/"))
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert error.startswith("aecore: error: ") and error.count("\n") == 1, error
    assert set(os.listdir("/")) == before, "nothing is written outside (a `.cache` in / was)"


@pytest.mark.parametrize("name", ["AECORE_DATA", "AECORE_CHECKPOINTS"])
def test_12_an_environment_path_too_long_is_one_line(name, capsys, monkeypatch):
    monkeypatch.setenv(name, f"/tmp/{LONG}")
    assert main(["list"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_13_evaluate_refuses_a_run_with_damaged_weights(root, capsys):
    weights = next((root / MLP).glob("weights-*"))
    data = bytearray(weights.read_bytes())
    data[-10] ^= 0xFF
    weights.write_bytes(bytes(data))
    assert main(["evaluate", MLP]) == 2
    assert "checksum" in capsys.readouterr().err


def test_13_deleting_a_study_asks_first(root, capsys, monkeypatch):
    plant_study(root, name="keep")
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    assert main(["studies", "keep", "--delete"]) == 2
    assert list(list_studies(root=root)["study"]) == ["keep"]
    assert main(["studies", "keep", "--delete", "--yes"]) == 0
    assert list_studies(root=root).empty


def test_13_a_16_bit_png_is_read_over_its_whole_range():
    import io

    import numpy as np
    from PIL import Image

    from aecore.own_digit import preprocess, read_upload

    pixels = np.zeros((28, 28), np.uint16)
    pixels[6:22, 12:16] = 30_000  # mid-grey ink in 16 bits: above 255, so clipping made it all white
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    grey = read_upload(buffer.getvalue())
    assert 0.4 < grey.max() < 0.5 and grey.min() == 0.0, "the 16-bit range is scaled, not clipped"
    assert preprocess(grey).abs().sum() > 0, "the digit is found, not called blank"


def test_13_a_png_text_chunk_bomb_is_our_one_line():
    import io

    import numpy as np
    from PIL import Image, PngImagePlugin

    from aecore.own_digit import read_upload

    info = PngImagePlugin.PngInfo()
    info.add_text("comment", "a" * (80 << 20), zip=True)  # 80 MB of text in an 80 kB file
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(buffer, "PNG", pnginfo=info)
    with pytest.raises(ValueError, match="not a readable image; upload a PNG or JPEG"):
        read_upload(buffer.getvalue())

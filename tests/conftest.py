"""Shared fixtures: a tiny slice of the real dataset and a throwaway checkpoint root."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aecore.data import Dataset, Split, load_dataset
from tests.browser_support import browser, dashboard, page  # noqa: F401  (browser-test fixtures for every file)


def _slice(split: Split, n: int) -> Split:
    # Every digit appears: take the first n/10 images of each class.
    labels = split.labels.numpy()
    chosen = np.sort(np.concatenate([np.flatnonzero(labels == d)[: n // 10] for d in range(10)]))
    return Split(split.images[chosen], split.labels[chosen], split.indices[chosen])


@pytest.fixture(scope="session")
def tiny_dataset() -> Dataset:
    """200 train / 50 validation / 200 test images of the bundled sample, every digit present."""
    full = load_dataset("mnist-sample")
    return Dataset(
        name=full.name,
        train=_slice(full.train, 200),
        val=_slice(full.val, 50),
        test=_slice(full.test, 200),
        fingerprint=full.fingerprint,
    )


@pytest.fixture
def checkpoint_root(tmp_path, monkeypatch):
    """An empty checkpoint root, also exported as $AECORE_CHECKPOINTS for code that reads the default."""
    root = tmp_path / "checkpoints"
    root.mkdir()
    monkeypatch.setenv("AECORE_CHECKPOINTS", str(root))
    return root


@pytest.fixture(autouse=True)
def _single_thread():
    # Tests share 2 cores with each other and with a dashboard server in browser tests.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(autouse=True)
def _apptest_runs_the_navigation_frame(monkeypatch):
    # streamlit 1.67's AppTest resets PagesManager.uses_pages_directory before every run and, because a
    # pages/ folder exists, replays every run after the first as an old-style multipage app: the page
    # script alone, without dashboard.py (no sidebar, no banner). The real server keeps the flag that
    # st.navigation cleared; this does the same for AppTest so app tests see what users see.
    import streamlit.testing.v1.app_test as app_test
    from streamlit.runtime.pages_manager import PagesManager

    class NavigationPagesManager(PagesManager):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            PagesManager.uses_pages_directory = False

    monkeypatch.setattr(app_test, "PagesManager", NavigationPagesManager)

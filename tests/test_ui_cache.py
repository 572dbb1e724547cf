"""The dashboard's caches are keyed by everything their result depends on."""

from __future__ import annotations

import pytest

from aecore.data import DatasetUnavailable
from ui import cache


def test_the_dataset_cache_follows_the_data_root(tmp_path, monkeypatch):
    monkeypatch.delenv("AECORE_DATA", raising=False)
    assert len(cache.dataset("mnist-sample").test) == 10_000
    monkeypatch.setenv("AECORE_DATA", str(tmp_path))  # an empty data root: no test set there
    with pytest.raises(DatasetUnavailable):
        cache.dataset("mnist-sample")

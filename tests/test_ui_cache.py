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


def counting_builder(calls: list):
    def build(frame, style, *, rows):
        import plotly.graph_objects as go

        calls.append((len(frame), style, len(rows)))
        return go.Figure(go.Bar(x=list(frame["digit"]), y=list(frame["mse"]), name=style.label))

    return build


def test_a_chart_is_built_once_per_content_of_its_arguments_and_again_when_any_changes():
    import numpy as np
    import pandas as pd

    from ui.figures import ImageRow, MethodStyle

    calls: list = []
    build = counting_builder(calls)
    frame = pd.DataFrame({"digit": ["0", "1"], "mse": [0.01, 0.02]})
    style = MethodStyle("A", "A · MLP", "#0072B2")
    rows = [ImageRow("original", np.zeros((2, 32, 32)))]
    first = cache.chart(build, frame, style, rows=rows)
    again = cache.chart(build, frame.copy(), MethodStyle("A", "A · MLP", "#0072B2"), rows=[ImageRow(
        "original", np.zeros((2, 32, 32)))])  # fmt: skip
    assert again is first and len(calls) == 1, "equal inputs (other objects) reuse the figure"

    nudged = frame.assign(mse=[0.01, 0.0200001])
    assert list(cache.chart(build, nudged, style, rows=rows).data[0].y) == [0.01, 0.0200001]
    assert cache.chart(build, frame, MethodStyle("A", "A · Conv", "#0072B2"), rows=rows).data[0].name == "A · Conv"
    pixel = np.zeros((2, 32, 32))
    pixel[1, 5, 5] = 0.5
    cache.chart(build, frame, style, rows=[ImageRow("original", pixel)])
    assert len(calls) == 4, "a changed frame, label or single pixel is a new chart"


def test_swapping_the_slots_reads_the_pair_s_one_bootstrap_reversed(monkeypatch):
    from dataclasses import dataclass
    from pathlib import Path

    import numpy as np

    import aecore.stats

    @dataclass(frozen=True)
    class Key:  # what paired_difference reads of a RunKey
        run_id: str
        path: Path
        dataset: str = "mnist"

    labels = np.tile(np.arange(10), 100)
    shared = np.random.default_rng(9).exponential(0.02, size=1000)
    mlp, conv, twin = Key("mlp-run", Path("/runs/mlp")), Key("conv-run", Path("/runs/conv")), Key("twin", Path("/t"))
    errors = {mlp: shared + np.where(labels < 5, 0.002, 0.0), conv: shared + 0.0005, twin: shared + 0.0005}
    monkeypatch.setattr(cache, "test_errors", lambda key: errors[key])
    monkeypatch.setattr(cache, "test_labels", lambda dataset: labels)
    bootstraps = []
    real = aecore.stats.paired_difference
    monkeypatch.setattr(aecore.stats, "paired_difference", lambda *a, **k: bootstraps.append(1) or real(*a, **k))
    cache._paired_difference.clear()

    before = cache.paired_difference(mlp, conv, ("A", "B"))
    after = cache.paired_difference(conv, mlp, ("A", "B"))  # "Swap A and B"
    assert len(bootstraps) == 1, "the swapped order bootstrapped the pair again"
    direct = real(errors[conv], errors[mlp], labels, names=("A", "B"))
    numbers = ["diff", "ci_low", "ci_high", "win_rate", "win_low", "win_high"]
    assert np.allclose(after[numbers], direct[numbers], rtol=0, atol=1e-12)
    assert list(after["verdict"]) == list(direct["verdict"])
    assert {"A better", "B better"} <= set(before["verdict"]) and set(after["verdict"]) == set(before["verdict"])

    cache.paired_difference(twin, conv, ("A", "B"))  # every image has equal errors under both: no reversal
    cache.paired_difference(conv, twin, ("A", "B"))
    assert len(bootstraps) == 3

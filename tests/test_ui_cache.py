"""The dashboard's caches are keyed by everything their result depends on."""

from __future__ import annotations

import numpy as np
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


def test_statistics_of_a_set_of_runs_are_computed_once_and_named_as_the_caller_asks(monkeypatch):
    from dataclasses import dataclass

    import torch

    import aecore.robustness

    @dataclass(frozen=True)
    class Key:
        name: str
        scale: float

    def reconstructor(key):  # a stand-in model: shrinks the picture towards grey by `scale`
        return lambda images: 0.5 + (images - 0.5) * key.scale

    subset = torch.rand(40, 1, 32, 32, generator=torch.Generator().manual_seed(3))
    monkeypatch.setattr(cache, "_reconstructor", reconstructor)
    monkeypatch.setattr(cache, "_robustness_subset", lambda dataset_name: subset)
    calls = []
    real = aecore.robustness.robustness_curves
    monkeypatch.setattr(aecore.robustness, "robustness_curves", lambda *a, **k: calls.append(1) or real(*a, **k))
    cache._robustness_curves.clear()
    cache._robustness_growth.clear()
    mlp, conv, pca = Key("mlp", 0.9), Key("conv", 0.7), Key("pca", 0.5)

    for methods in ((("A", mlp), ("B", conv), ("PCA-32", pca)), (("A", conv), ("B", mlp), ("PCA-32", pca))):
        direct = real({method: reconstructor(key) for method, key in methods}, subset)  # keyed by the slots' ids
        curves = cache.robustness_curves(methods, "mnist")
        assert curves.equals(direct), "other numbers, names or row order than computing for these ids"
        growth = cache.robustness_growth(methods, "mnist")
        assert list(growth) == ["A", "B", "PCA-32"]
        rise = aecore.robustness.growth_per_image({m: reconstructor(k) for m, k in methods}, subset)
        assert all(np.array_equal(growth[m], rise[m]) for m in rise)
    assert len(calls) == 1, "the swapped slots computed the curves of the same runs again"


def test_results_come_back_in_the_callers_order_within_each_group():
    import pandas as pd

    methods = (("A", "k2"), ("B", "k1"))
    canonical, names = cache.by_content(methods)
    assert [key for _, key in canonical] == ["k1", "k2"] and names == {"method 0": "B", "method 1": "A"}
    frame = pd.DataFrame({"level": [0, 0, 1, 1], "method": ["method 0", "method 1"] * 2, "v": [1, 2, 3, 4]})
    ordered = cache.in_callers_order(frame, names, methods, within=("level",))
    assert list(ordered["method"]) == ["A", "B", "A", "B"] and list(ordered["v"]) == [2, 1, 4, 3]

"""What the pages show of one run alone is computed once and stored with the run (aecore.precompute): by the job
worker's load_or_train and by `migrate`; the stored numbers are exactly the ones the pages computed live, and a
stored value that belongs to other weights is never read."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aecore import precompute
from aecore.__main__ import main
from aecore.baselines import fit_baseline
from aecore.compare import RunKey
from aecore.projection import ProjectionConfig, load_cached
from aecore.runstore import load_evaluation, read_run
from aecore.stats import BootstrapConfig, interval_table
from tests.runs import make_run, tiny_config

EVERYTHING = ["pca errors", "intervals", "pca difference", "umap map", "pca map"]


@pytest.fixture(scope="module")
def stored(tmp_path_factory, tiny_dataset):
    """Two runs on the tiny dataset (different bottlenecks, so different PCA baselines), precomputed."""
    root = tmp_path_factory.mktemp("precompute")
    runs = [make_run(root, tiny_dataset, tiny_config(bottleneck=b))[0] for b in (2, 4)]
    assert [precompute.missing(info) for info in runs] == [EVERYTHING, EVERYTHING]
    assert [precompute.precompute_run(info, tiny_dataset) for info in runs] == [EVERYTHING, EVERYTHING]
    return runs


def test_precompute_stores_the_pca_errors_intervals_and_default_maps(stored, tiny_dataset):
    labels = tiny_dataset.test.labels.numpy()
    for info in stored:
        key = RunKey.of(info)
        assert precompute.missing(info) == [], "something is still missing after precompute_run"
        assert precompute.precompute_run(info, tiny_dataset) == [], "a second call computed again"
        live = fit_baseline(tiny_dataset, key.baseline).errors(tiny_dataset.test.images)
        kept = precompute.load_pca_test_errors(info.path, key.baseline)
        assert kept.dtype == live.dtype and np.array_equal(kept, live)
        for method in precompute.DEFAULT_MAPS:
            projection = load_cached(info, ProjectionConfig(method, n_points=len(labels)))
            assert projection is not None and projection.coords.shape == (len(labels), 2)


def test_stored_intervals_are_the_ones_the_pair_table_computes(stored, tiny_dataset):
    labels = tiny_dataset.test.labels.numpy()
    keys = [RunKey.of(info) for info in stored]
    errors = {}
    for name, key in zip("AB", keys, strict=True):
        errors[name] = load_evaluation(read_run(key.path)).test_errors.astype(np.float64)
        errors[f"pca-{name}"] = fit_baseline(tiny_dataset, key.baseline).errors(tiny_dataset.test.images)
    live = interval_table(errors, labels)  # the four methods in one paired bootstrap, as the page does
    columns = {}
    for name, key in zip("AB", keys, strict=True):
        rows = precompute.load_intervals(key.path, key.weights_sha256, key.baseline)
        columns[name], columns[f"pca-{name}"] = rows["run"], rows["pca"]
    columns = {method: columns[method] for method in errors}
    pd.testing.assert_frame_equal(precompute.interval_table(columns), live, check_exact=True)


def test_the_dashboard_cache_reads_the_stored_values(stored, tiny_dataset, monkeypatch):
    from ui import cache

    keys = [RunKey.of(info) for info in stored]
    methods = (("A", keys[0]), ("B", keys[1]), ("pca-A", keys[0].baseline), ("pca-B", keys[1].baseline))

    def computed(*args, **kwargs):
        raise AssertionError("computed although the run stores it")

    monkeypatch.setattr(cache, "pca_test_errors", computed)
    monkeypatch.setattr("aecore.stats.interval_table", computed)
    table = cache._stored_intervals(methods)
    assert list(table.columns[:5]) == ["digit", "n", "A MSE", "A CI low", "A CI high"] and len(table) == 11
    errors = cache.method_errors(methods)
    assert set(errors) == {"A", "B", "pca-A", "pca-B"} and all(len(e) == len(tiny_dataset.test.labels)
                                                                 for e in errors.values())  # fmt: skip


def test_the_stored_difference_from_pca_gives_the_overviews_sentence_as_computed_live(stored, monkeypatch):
    from aecore import verdicts

    for info in stored:
        key = RunKey.of(info)
        errors = load_evaluation(read_run(key.path)).test_errors.astype(np.float64)
        pca_errors = precompute.load_pca_test_errors(key.path, key.baseline)
        kept = precompute.load_pca_difference(key.path, key.weights_sha256, key.baseline)
        assert kept == verdicts.paired_mean_interval(errors, pca_errors), "the stored interval is not the live one"
        args = ("A", errors, float(pca_errors.mean()), info.latent_dim, 10, pca_errors)
        live = verdicts.against_pca(*args)
        with monkeypatch.context() as patched:
            patched.setattr(verdicts, "paired_mean_interval", lambda *a, **k: pytest.fail("bootstrapped again"))
            assert verdicts.against_pca(*args, kept) == live


def test_the_overview_reads_the_stored_difference_from_pca(stored, monkeypatch):
    from aecore import verdicts
    from ui import cache

    slots = tuple((n, RunKey.of(i), i.pca_mse, i.latent_dim, 10) for n, i in zip("AB", stored, strict=True))
    cache.overview_verdicts.clear()
    live = cache.overview_verdicts(slots, False)
    cache.overview_verdicts.clear()
    monkeypatch.setattr(verdicts, "paired_mean_interval", lambda *a, **k: pytest.fail("bootstrapped again"))
    assert cache.overview_verdicts(slots, False) == live and all("paired 95%" in line for line in live), live
    cache.overview_verdicts.clear()


def test_values_stored_for_other_weights_or_settings_are_not_read(stored):
    key = RunKey.of(stored[0])
    assert precompute.load_intervals(key.path, key.weights_sha256, key.baseline) is not None
    assert precompute.load_intervals(key.path, "0" * 64, key.baseline) is None, "read intervals of other weights"
    assert precompute.load_intervals(key.path, key.weights_sha256, RunKey.of(stored[1]).baseline) is None
    other = BootstrapConfig(resamples=1000)
    assert precompute.load_intervals(key.path, key.weights_sha256, key.baseline, other) is None
    assert precompute.load_pca_difference(key.path, key.weights_sha256, key.baseline) is not None
    assert precompute.load_pca_difference(key.path, "0" * 64, key.baseline) is None, "read other weights'"
    assert precompute.load_pca_difference(key.path, key.weights_sha256, RunKey.of(stored[1]).baseline) is None
    assert precompute.load_pca_difference(key.path, key.weights_sha256, key.baseline, other) is None


def test_the_worker_path_stores_them_and_a_failure_never_loses_the_run(checkpoint_root, monkeypatch):
    from aecore.pipeline import load_or_train

    def broken(*args, **kwargs):
        raise RuntimeError("no UMAP today")

    monkeypatch.setattr(precompute, "precompute_run", broken)
    config = tiny_config(train_limit=50)
    info, _ = load_or_train(config, root=checkpoint_root, device="cpu", precompute=True)
    assert read_run(info.path).run_id == config.run_id, "the trained run was not saved"
    assert precompute.missing(info) == EVERYTHING
    monkeypatch.undo()
    again, _ = load_or_train(config, root=checkpoint_root, device="cpu", precompute=True)  # reused, filled in
    assert again.created == info.created and precompute.missing(again) == []


def test_migrate_fills_in_runs_that_lack_them(checkpoint_root, capsys):
    from aecore.data import load_dataset

    info, _ = make_run(checkpoint_root, load_dataset("mnist"), tiny_config(train_limit=50))  # scored on all 10,000
    assert main(["migrate"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{info.run_id}: stored what the dashboard shows of this run alone") and "umap map" in out
    assert precompute.missing(info) == []
    assert main(["migrate"]) == 0 and capsys.readouterr().out == "every run is in the current format\n"

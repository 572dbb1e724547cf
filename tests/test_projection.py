"""2-D projections: methods, the disk cache (hits, misses, invalidation, atomic writes) and provenance."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import sklearn

from aecore import projection as proj
from aecore.config import RunConfig
from aecore.latent import trustworthiness
from aecore.projection import ProjectionConfig, load_cached, project_run, sample_indices
from aecore.run_schema import DatasetRecord
from aecore.runstore import RunInfo, StoredFile, read_run


def fake_run(folder, weights_sha256: str = "a" * 64) -> RunInfo:
    """A RunInfo naming `folder`: projection only reads the folder, the id, the weights hash and the dataset."""
    folder.mkdir(parents=True, exist_ok=True)
    config = RunConfig.for_recipe("mlp", bottleneck=8, epochs=1)
    return RunInfo(
        run_id=config.run_id, path=folder, config=config, history=(), best_epoch=1, metrics={}, parameters=0,
        created="2026-01-01T00:00:00+00:00", train_seconds=0.0,
        dataset=DatasetRecord("mnist-sample", "f" * 16, ""), versions={},
        files={"weights": StoredFile(f"weights-{weights_sha256[:12]}.safetensors", weights_sha256, 1)},
    )  # fmt: skip


def clustered(n: int = 300, dim: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n codes in 5 well separated Gaussian clusters, and each code's cluster."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 5, n)
    centres = rng.normal(scale=10.0, size=(5, dim))
    return (centres[labels] + rng.normal(size=(n, dim))).astype(np.float32), labels


class Counter:
    """A latents() callable that counts how often the projection asked for the codes."""

    def __init__(self, codes: np.ndarray) -> None:
        self.codes, self.calls = codes, 0

    def __call__(self) -> np.ndarray:
        self.calls += 1
        return self.codes


@pytest.fixture
def counted_compute(monkeypatch):
    calls = []
    real = proj.compute_projection

    def counting(latents, config):
        calls.append(config.method)
        return real(latents, config)

    monkeypatch.setattr(proj, "compute_projection", counting)
    return calls


def test_cache_hit_returns_identical_coordinates_without_recomputing(tmp_path, counted_compute):
    run = fake_run(tmp_path / "run")
    codes = Counter(clustered()[0])
    config = ProjectionConfig(method="pca", n_points=200)
    first = project_run(run, config, codes)
    second = project_run(run, config, codes)
    assert counted_compute == ["pca"], "the second call recomputed instead of reading the cache"
    assert codes.calls == 1, "a cache hit must not even compute the latent codes"
    np.testing.assert_array_equal(first.coords, second.coords)
    np.testing.assert_array_equal(first.indices, second.indices)
    assert first.provenance == second.provenance


def test_cache_lives_in_the_run_folder_as_npz_and_json_without_temporary_files(tmp_path):
    run = fake_run(tmp_path / "run")
    project_run(run, ProjectionConfig(method="pca", n_points=100), Counter(clustered()[0]))
    files = sorted(p.name for p in (tmp_path / "run" / "projections").iterdir())
    assert [name.rsplit(".", 1)[1] for name in files] == ["json", "npz"], files
    assert not [name for name in files if name.startswith(".tmp")]
    arrays_path, meta_path = proj.cache_paths(run, ProjectionConfig(method="pca", n_points=100))
    with np.load(arrays_path, allow_pickle=False) as arrays:  # plain arrays: loads with pickling refused
        assert arrays["coords"].shape == (100, 2)
    assert json.loads(meta_path.read_text())["method"] == "pca"


def test_provenance_records_how_the_map_was_made(tmp_path):
    run = fake_run(tmp_path / "run")
    codes, _ = clustered(n=300, dim=8)
    config = ProjectionConfig(method="pca", n_points=120, seed=3)
    p = project_run(run, config, Counter(codes)).provenance
    assert p["method"] == "pca"
    assert p["params"] == config.params
    assert p["seed"] == 3
    assert p["n_points"] == 120
    assert p["library"] == "scikit-learn" and p["version"] == sklearn.__version__
    assert isinstance(p["runtime_seconds"], float) and p["runtime_seconds"] >= 0
    assert p["run_id"] == run.run_id and p["weights_sha256"] == run.weights_sha256
    assert p["split"] == "test" and p["latent_dim"] == 8
    caption = proj.Projection(np.zeros((120, 2)), np.arange(120), p).caption
    assert "PCA of 120 test-set latent codes" in caption and "seed 3" in caption and sklearn.__version__ in caption


def test_umap_params_are_recorded(tmp_path):
    config = ProjectionConfig(method="umap", n_neighbors=10, min_dist=0.3, n_epochs=50)
    assert config.params["n_neighbors"] == 10 and config.params["min_dist"] == 0.3
    assert config.params["n_epochs"] == 50


@pytest.mark.parametrize(
    "change",
    [
        {"config": ProjectionConfig(method="pca", n_points=150)},  # another size
        {"config": ProjectionConfig(method="pca", n_points=200, seed=1)},  # another seed
        {"config": ProjectionConfig(method="tsne", n_points=200, perplexity=10.0)},  # another method
        {"weights": "b" * 64},  # the run was retrained in place
    ],
)
def test_anything_that_changes_the_map_misses_the_cache(tmp_path, counted_compute, change):
    codes = Counter(clustered()[0])
    project_run(fake_run(tmp_path / "run"), ProjectionConfig(method="pca", n_points=200), codes)
    run = fake_run(tmp_path / "run", weights_sha256=change.get("weights", "a" * 64))
    project_run(run, change.get("config", ProjectionConfig(method="pca", n_points=200)), codes)
    assert len(counted_compute) == 2, "a changed run or parameter reused a stale map"


def test_a_damaged_cache_file_is_recomputed(tmp_path, counted_compute):
    run = fake_run(tmp_path / "run")
    config = ProjectionConfig(method="pca", n_points=100)
    first = project_run(run, config, Counter(clustered()[0]))
    arrays_path, _ = proj.cache_paths(run, config)
    arrays_path.write_bytes(b"not an npz file")
    assert load_cached(run, config) is None
    again = project_run(run, config, Counter(clustered()[0]))
    assert len(counted_compute) == 2
    np.testing.assert_allclose(again.coords, first.coords, atol=1e-5)


def test_an_unwritable_cache_still_returns_the_projection(tmp_path, monkeypatch):
    def refuse(target, data):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(proj, "write_atomic", refuse)
    run = fake_run(tmp_path / "run")
    result = project_run(run, ProjectionConfig(method="pca", n_points=100), Counter(clustered()[0]))
    assert result.coords.shape == (100, 2)
    assert load_cached(run, ProjectionConfig(method="pca", n_points=100)) is None


def test_subsets_are_seeded_sorted_and_shared():
    a, b = sample_indices(1000, 100, seed=5), sample_indices(1000, 100, seed=5)
    np.testing.assert_array_equal(a, b)
    assert len(np.unique(a)) == 100 and np.all(np.diff(a) > 0)
    assert not np.array_equal(a, sample_indices(1000, 100, seed=6))
    np.testing.assert_array_equal(sample_indices(50, 100, seed=0), np.arange(50))


def test_raw_returns_a_2d_latent_unchanged_and_refuses_others():
    codes = np.random.default_rng(0).normal(size=(50, 2)).astype(np.float32)
    coords, library, _ = proj.compute_projection(codes, ProjectionConfig(method="raw", n_points=50))
    np.testing.assert_array_equal(coords, codes)
    assert library == "numpy"
    with pytest.raises(ValueError, match="2-D latent"):
        proj.compute_projection(clustered()[0], ProjectionConfig(method="raw"))


def test_available_methods_offer_raw_only_for_2d_codes():
    assert "raw" in proj.available_methods(2)
    assert "raw" not in proj.available_methods(32)


@pytest.mark.parametrize(
    "bad",
    [
        {"method": "isomap"},
        {"n_points": 5},
        {"n_points": 100.5},
        {"n_neighbors": 1},
        {"min_dist": 2.0},
        {"perplexity": 0.5},
    ],
)
def test_invalid_configs_are_refused_with_the_field_named(bad):
    field = next(iter(bad))
    with pytest.raises(ValueError, match=field):
        ProjectionConfig(**bad)


def test_tsne_keeps_clusters_apart_and_is_seeded():
    codes, labels = clustered(n=200)
    config = ProjectionConfig(method="tsne", n_points=200)
    coords, library, _ = proj.compute_projection(codes, config)
    assert coords.shape == (200, 2) and coords.dtype == np.float32 and library == "openTSNE"
    assert trustworthiness(codes, coords, k=5) > 0.9, "t-SNE lost the clusters' neighbourhoods"
    again, _, _ = proj.compute_projection(codes, config)
    np.testing.assert_array_equal(again, coords, err_msg="a fixed seed must give the same t-SNE map")


def test_tsne_runs_on_the_smallest_allowed_subset():
    codes, _ = clustered(n=10)
    coords, _, _ = proj.compute_projection(codes, ProjectionConfig(method="tsne", n_points=10))
    assert coords.shape == (10, 2) and np.isfinite(coords).all()


@pytest.mark.slow
def test_umap_is_seeded_and_keeps_neighbourhoods(tmp_path):
    import umap

    codes, _ = clustered(n=300)
    config = ProjectionConfig(method="umap", n_points=300, n_epochs=100)
    p = project_run(fake_run(tmp_path / "run"), config, Counter(codes))
    assert p.coords.shape == (300, 2) and p.coords.dtype == np.float32
    assert p.provenance["library"] == "umap-learn" and p.provenance["version"] == umap.__version__
    assert trustworthiness(codes, p.coords, k=5) > 0.9, "UMAP lost the clusters' neighbourhoods"
    again, _, _ = proj.compute_projection(codes, config)
    np.testing.assert_allclose(again, p.coords, atol=1e-4, err_msg="a fixed seed must give the same map")


@pytest.mark.parametrize("model", ["mlp", "conv"])
def test_the_shipped_default_runs_ship_their_default_maps(model):
    """The latent page opens without waiting only if these are committed; regenerate with
    `python -m aecore project` after retraining a default run."""
    folder = Path(__file__).resolve().parent.parent / "checkpoints" / RunConfig.for_recipe(model).run_id
    if not folder.is_dir():
        pytest.fail(f"the shipped default run {folder.name} is missing")
    run = read_run(folder)
    for method in proj.DEFAULT_METHODS:
        cached = load_cached(run, ProjectionConfig(method=method))
        assert cached is not None, f"{run.run_id} has no cached {method} map: run `python -m aecore project`"
        assert cached.coords.shape == (10_000, 2)
        np.testing.assert_array_equal(cached.indices, np.arange(10_000))


def test_project_command_precomputes_maps_into_the_run_folder(checkpoint_root, tiny_dataset, capsys):
    from aecore.__main__ import main
    from tests.runs import make_run, tiny_config

    info, _ = make_run(checkpoint_root, tiny_dataset, tiny_config("mlp", bottleneck=2))
    argv = ["--checkpoints", str(checkpoint_root), "project", info.run_id, "--method", "pca", "raw", "--points", "100"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "PCA of 100 test codes" in out and "raw 2-D latent of 100 test codes" in out
    for method in ("pca", "raw"):
        assert load_cached(info, ProjectionConfig(method=method, n_points=100)) is not None
    wide, _ = make_run(checkpoint_root, tiny_dataset, tiny_config("mlp", bottleneck=3))
    assert main(["--checkpoints", str(checkpoint_root), "project", wide.run_id, "--method", "raw"]) == 0
    assert "skipped raw" in capsys.readouterr().err
    assert main(["--checkpoints", str(checkpoint_root), "project", wide.run_id, "--points", "3"]) == 2
    assert "n_points" in capsys.readouterr().err


@pytest.mark.slow
def test_umap_kernels_are_cached_on_disk_in_their_serial_form_only():
    # Numba's cache key ignores compile options: a kernel umap-learn compiles both serial and parallel must
    # have only one of the two cached, or a process could load the other's machine code.
    import umap.layouts
    from numba.core.caching import FunctionCache

    proj._cache_umap_kernels()
    assert isinstance(umap.layouts._nb_optimize_layout_euclidean_single_epoch._cache, FunctionCache)
    assert not isinstance(umap.layouts._nb_optimize_layout_euclidean_single_epoch_parallel._cache, FunctionCache)

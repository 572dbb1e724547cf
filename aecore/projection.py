"""2-D projections of test-set latent codes (UMAP, PCA, t-SNE, raw 2-D) with a disk cache and provenance.

A projection is cached in `<run folder>/projections/<method>-n<points>-<key>.npz` (coordinates and the
test indices they belong to) beside a `.json` with its provenance. The key hashes the run id, the
weights' checksum, the dataset fingerprint, the method, its parameters, the seed and the number of
points, so a retrained run or a changed parameter never reuses a stale map. Nothing is pickled.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from aecore import safe_io
from aecore.compare import RunKey
from aecore.runstore import RunInfo
from aecore.safe_io import write_atomic

METHODS = ("umap", "pca", "tsne", "raw")
METHOD_TITLES = {"umap": "UMAP", "pca": "PCA", "tsne": "t-SNE", "raw": "raw 2-D latent"}
CACHE_FOLDER = "projections"
MAX_PROVENANCE_BYTES = 64 * 1024  # a provenance file is ~1 kB
CACHE_FORMAT = 1
DEFAULT_POINTS = 10_000
# Projections the CLI precomputes and the repository ships for the default runs.
DEFAULT_METHODS = ("umap", "pca")
TSNE_EARLY_ITERATIONS = 250  # openTSNE's early-exaggeration phase (its default)
TSNE_ITERATIONS = 250  # the main phase: half openTSNE's default (see _tsne)


@dataclass(frozen=True)
class ProjectionConfig:
    """Which projection to compute: method, the test subset size, the seed and the method's knobs.

    Parameters
    ----------
    method : "umap" (default), "pca", "tsne" or "raw" (only for a 2-D latent)
    n_points : how many test images to project; fewer than the test set draws a seeded subset,
        more means the whole test set
    seed : seeds the subset and the method (UMAP, t-SNE, PCA's solver)
    n_neighbors, min_dist, n_epochs : UMAP's neighbourhood size, packing and optimisation length
    perplexity : t-SNE's effective neighbourhood size (openTSNE)
    """

    method: str = "umap"
    n_points: int = DEFAULT_POINTS
    seed: int = 0
    n_neighbors: int = 15
    min_dist: float = 0.1
    n_epochs: int = 200
    perplexity: float = 30.0

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}; got {self.method!r}")
        if isinstance(self.n_points, bool) or not isinstance(self.n_points, int) or self.n_points < 10:
            raise ValueError(f"n_points must be a whole number of at least 10; got {self.n_points!r}")
        if not 2 <= self.n_neighbors <= 200:
            raise ValueError(f"n_neighbors must be from 2 to 200; got {self.n_neighbors}")
        if not 0.0 <= self.min_dist <= 1.0:
            raise ValueError(f"min_dist must be from 0 to 1; got {self.min_dist}")
        if not 1.0 <= self.perplexity <= 100.0:
            raise ValueError(f"perplexity must be from 1 to 100; got {self.perplexity}")

    @property
    def params(self) -> dict[str, Any]:
        """The parameters this method actually uses (what the provenance and the cache key record)."""
        if self.method == "umap":
            return {
                "n_neighbors": self.n_neighbors,
                "min_dist": self.min_dist,
                "n_epochs": self.n_epochs,
                "neighbours": "exact (scikit-learn)",
            }
        if self.method == "tsne":
            return {
                "perplexity": self.perplexity,
                "init": "pca",
                "iterations": f"{TSNE_EARLY_ITERATIONS}+{TSNE_ITERATIONS}",
                "neighbours": "exact (scikit-learn)",
            }
        return {}


@dataclass(frozen=True)
class Projection:
    """A 2-D map of some test images' latent codes and how it was made."""

    coords: np.ndarray  # (n, 2) float32
    indices: np.ndarray  # (n,) int64 positions in the test set, sorted
    provenance: dict[str, Any]  # method, params, seed, n_points, runtime_seconds, library, version, ...

    @property
    def caption(self) -> str:
        """One line for under a plot."""
        p = self.provenance
        params = ", ".join(f"{k}={v}" for k, v in p["params"].items())
        return (
            f"{METHOD_TITLES[p['method']]} of {p['n_points']:,} test-set latent codes"
            f"{f' ({params})' if params else ''} · seed {p['seed']} · {p['library']} {p['version']} · "
            f"computed in {p['runtime_seconds']:.1f} s on {p['created'][:10]} · run {p['run_id']}"
        )


def sample_indices(n_total: int, n_points: int, seed: int) -> np.ndarray:
    """The sorted test positions a projection of `n_points` uses: all of them, or a seeded subset.

    Two runs projected with the same size and seed share the subset, so their maps show the same digits.
    """
    if n_points >= n_total:
        return np.arange(n_total, dtype=np.int64)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_total, size=n_points, replace=False)).astype(np.int64)


def compute_projection(latents: np.ndarray, config: ProjectionConfig) -> tuple[np.ndarray, str, str]:
    """Project `latents` (n, latent_dim) to (n, 2) float32; returns coords, library name and version."""
    latents = np.asarray(latents, dtype=np.float32)
    if config.method == "raw":
        if latents.shape[1] != 2:
            raise ValueError(f"method 'raw' needs a 2-D latent; this one has {latents.shape[1]} dims")
        return latents.copy(), "numpy", np.__version__
    if config.method == "pca":
        import sklearn
        from sklearn.decomposition import PCA

        coords = PCA(n_components=2, random_state=config.seed).fit_transform(latents)
        return coords.astype(np.float32), "scikit-learn", sklearn.__version__
    if config.method == "tsne":
        return _tsne(latents, config)
    return _umap(latents, config)


def _exact_neighbours(latents: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, k) indices and float32 distances of every code's k nearest codes, itself included (first, at 0).

    Exact search with scikit-learn takes about a second on 10,000 codes; UMAP's and openTSNE's approximate
    searches cost more than that here (pynndescent compiles with numba, Annoy took 8 s on 10,000 codes).
    """
    from sklearn.neighbors import NearestNeighbors

    distances, neighbours = NearestNeighbors(n_neighbors=k).fit(latents).kneighbors(latents)
    return neighbours, distances.astype(np.float32)


def _tsne(latents: np.ndarray, config: ProjectionConfig) -> tuple[np.ndarray, str, str]:
    # openTSNE (FFT-accelerated gradients) instead of scikit-learn's Barnes-Hut t-SNE: 10,000 codes took
    # 210 s with scikit-learn and 62 s with openTSNE's defaults on the same busy machine. Exact neighbours
    # and 250 main iterations instead of 500 bring it to 12 s of CPU (bench/bench_projection.py): the late
    # iterations are the slowest (the FFT grid grows with the map) and barely move it (KL divergence 1.86
    # against 1.79, trustworthiness 0.984 for both).
    import openTSNE
    from openTSNE.affinity import PerplexityBasedNN
    from openTSNE.nearest_neighbors import PrecomputedNeighbors

    perplexity = min(config.perplexity, (len(latents) - 1) / 3)  # t-SNE needs n > 3 * perplexity
    k = min(len(latents) - 1, max(1, int(3 * perplexity)))
    neighbours, distances = _exact_neighbours(latents, k + 1)  # drop each code itself, as openTSNE does
    knn = PrecomputedNeighbors(neighbours[:, 1:], distances[:, 1:])
    affinities = PerplexityBasedNN(perplexity=perplexity, knn_index=knn, n_jobs=1)
    start = openTSNE.initialization.pca(latents, random_state=config.seed)
    tsne = openTSNE.TSNE(
        early_exaggeration_iter=TSNE_EARLY_ITERATIONS,
        n_iter=TSNE_ITERATIONS,
        n_jobs=1,  # deterministic, and leaves the other core to the dashboard
        random_state=config.seed,
    )
    coords = np.asarray(tsne.fit(affinities=affinities, initialization=start))
    return coords.astype(np.float32), "openTSNE", openTSNE.__version__


def _umap(latents: np.ndarray, config: ProjectionConfig) -> tuple[np.ndarray, str, str]:
    # Imported here: umap-learn takes seconds to import and compiles with numba on first use.
    import umap

    _cache_umap_kernels()
    # Exact neighbours instead of pynndescent's approximate search, which would add a long numba compile
    # to every cold start.
    k = min(config.n_neighbors, len(latents) - 1)
    neighbours, distances = _exact_neighbours(latents, k)
    reducer = umap.UMAP(
        n_neighbors=k,
        min_dist=config.min_dist,
        n_epochs=config.n_epochs,
        random_state=config.seed,
        precomputed_knn=(neighbours, distances, None),
    )
    with warnings.catch_warnings():
        # "no search index" (we never transform new data) and "random_state disables parallelism" (wanted).
        warnings.simplefilter("ignore", UserWarning)
        coords = reducer.fit_transform(latents)
    return coords.astype(np.float32), "umap-learn", umap.__version__


_KERNELS_LOCK = threading.Lock()


@functools.cache
def _cache_umap_kernels() -> None:
    """Keep umap-learn's numba kernels in numba's on-disk cache, so only a machine's first UMAP compiles them.

    umap-learn does not mark its kernels cacheable; compiling them made a cold 10,000-code UMAP cost
    10 s of CPU instead of 4 s (bench/bench_projection.py). Numba's cache is keyed by the function's
    bytecode and its source file's timestamp, so a different umap-learn version compiles afresh; it lives
    in $NUMBA_CACHE_DIR when set, else beside umap-learn's sources (numba's user cache folder when those
    are read-only). Numba's cache key does not include
    compile options, so a function compiled twice (serial and parallel) is cached in its serial form only.
    """
    import umap.layouts
    import umap.umap_
    from numba.core.dispatcher import Dispatcher

    owners: dict[Callable, list[Dispatcher]] = {}
    for module in (umap.umap_, umap.layouts):
        for kernel in vars(module).values():
            if isinstance(kernel, Dispatcher) and kernel not in owners.setdefault(kernel.py_func, []):
                owners[kernel.py_func].append(kernel)
    with _KERNELS_LOCK:
        for kernels in owners.values():
            serial = [k for k in kernels if not k.targetoptions.get("parallel")]
            for kernel in kernels if len(kernels) == 1 else serial[:1]:
                kernel.enable_caching()


# --- disk cache ----------------------------------------------------------------------------------


def _fingerprint(run: RunKey | RunInfo) -> str:
    """The fingerprint of the run's dataset: the dashboard passes run keys, the CLI and precompute run records."""
    return run.dataset_fingerprint if isinstance(run, RunKey) else run.dataset.fingerprint


def cache_key(run: RunKey | RunInfo, config: ProjectionConfig) -> str:
    """Hash of everything that determines a projection's coordinates."""
    material = {
        "run_id": run.run_id,
        "weights_sha256": run.weights_sha256,
        "dataset": _fingerprint(run),
        "method": config.method,
        "params": config.params,
        "seed": config.seed,
        "n_points": config.n_points,
    }
    canonical = json.dumps(material, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def cache_paths(run: RunKey | RunInfo, config: ProjectionConfig) -> tuple[Path, Path]:
    """The `.npz` (arrays) and `.json` (provenance) files of this projection in the run's folder."""
    stem = f"{config.method}-n{config.n_points}-{cache_key(run, config)}"
    folder = Path(run.path) / CACHE_FOLDER
    return folder / f"{stem}.npz", folder / f"{stem}.json"


def load_cached(run: RunKey | RunInfo, config: ProjectionConfig) -> Projection | None:
    """The cached projection, or None when it is missing or unreadable (then it is recomputed)."""
    from aecore import datasets

    arrays_path, meta_path = cache_paths(run, config)
    n_test = datasets.get(run.config.dataset).test_images  # the codes projected are the test set's
    try:
        provenance = safe_io.read_object(meta_path, MAX_PROVENANCE_BYTES)
        n = provenance.get("n_points")
        if provenance.get("key") != cache_key(run, config) or not isinstance(n, int) or not 0 < n <= n_test:
            return None
        blob = safe_io.read_bytes(arrays_path, n * 16 + (1 << 16))
        expected = {"coords": ((n, 2), "float32"), "indices": ((n,), "int64")}
        arrays = safe_io.load_arrays(blob, expected, max_len=n, name=arrays_path.name)
    except safe_io.UnsafeFile:
        return None  # missing, damaged, a FIFO or a link: a cache miss, recomputed and written again
    coords, indices = arrays["coords"], arrays["indices"]
    if not np.isfinite(coords).all() or not ((indices >= 0) & (indices < n_test)).all():
        return None
    return Projection(coords, indices, provenance)


def project_run(
    run: RunKey | RunInfo,
    config: ProjectionConfig,
    latents: Callable[[], np.ndarray],
    *,
    use_cache: bool = True,
) -> Projection:
    """The run's projection from the disk cache, else computed from `latents()` and cached.

    Parameters
    ----------
    run : the run whose folder holds the cache (its key, or its record)
    config : method, size, seed and parameters
    latents : called only on a cache miss; returns the run's codes of the whole test set,
        ndarray of shape (n_test, latent_dim), row i for test image i
    use_cache : False recomputes and overwrites the cached copy

    A cache that cannot be written (read-only checkout) is not an error: the projection is returned.
    """
    if use_cache:
        cached = load_cached(run, config)
        if cached is not None:
            return cached
    codes = np.asarray(latents())
    indices = sample_indices(len(codes), config.n_points, config.seed)
    started = time.perf_counter()
    coords, library, version = compute_projection(codes[indices], config)
    runtime = time.perf_counter() - started
    provenance = {
        "format": CACHE_FORMAT,
        "key": cache_key(run, config),
        "run_id": run.run_id,
        "weights_sha256": run.weights_sha256,
        "dataset": run.config.dataset,  # the run store checks that a run's dataset name is its config's
        "split": "test",
        "method": config.method,
        "params": config.params,
        "seed": config.seed,
        "n_points": int(len(indices)),
        "latent_dim": int(codes.shape[1]),
        "runtime_seconds": round(runtime, 3),
        "library": library,
        "version": version,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    projection = Projection(coords, indices, provenance)
    _write_cache(run, config, projection)
    return projection


def _write_cache(run: RunKey | RunInfo, config: ProjectionConfig, projection: Projection) -> None:
    arrays_path, meta_path = cache_paths(run, config)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, coords=projection.coords, indices=projection.indices)
    if safe_io.is_link(arrays_path.parent):
        return  # a link would take the cache out of the checkpoints folder: nothing is written through it
    try:
        arrays_path.parent.mkdir(exist_ok=True)
        # Arrays first, provenance last: a reader checks the key in the .json, so a crash between the
        # two leaves either no entry or an entry whose arrays are already complete.
        write_atomic(arrays_path, buffer.getvalue())
        write_atomic(meta_path, json.dumps(projection.provenance, indent=1).encode())
    except OSError:
        pass  # a read-only run folder only costs a recomputation next time


def available_methods(latent_dim: int) -> tuple[str, ...]:
    """Methods that make sense for a latent of this size ("raw" only when it is already 2-D)."""
    return METHODS if latent_dim == 2 else tuple(m for m in METHODS if m != "raw")


def project_saved_run(
    run: RunInfo, config: ProjectionConfig, *, data_root: str | None = None, use_cache: bool = True
) -> Projection:
    """`project_run` for a run on disk: its model and test set are loaded only on a cache miss."""

    def latents() -> np.ndarray:
        from aecore.data import load_dataset
        from aecore.inference import encode
        from aecore.runstore import load_model

        return encode(load_model(run), load_dataset(run.config.dataset, data_root).test.images)

    return project_run(run, config, latents, use_cache=use_cache)

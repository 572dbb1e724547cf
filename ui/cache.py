"""The dashboard's only caches: every function is keyed by what it depends on (a RunKey, a BaselineKey, a dataset
name) and reads nothing else: no globals, no run.json behind its key.

Models and latent codes can be large (the widest conv code, 256 channels of 4×4 = 4,096 dims, is 164 MB for the
10,000 test images), so they live in a store bounded by bytes, not by entry count; everything else is small and uses
Streamlit's caches. (ui.warmup keeps its own once-per-process start-up flag: warmup reads these caches, so these
caches never import warmup.)
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import streamlit as st

from aecore.baselines import BaselineKey
from aecore.compare import Comparison, RunKey
from aecore.runstore import (
    FILE_PATTERNS,
    LEGACY_WEIGHTS,
    RUN_FILE,
    BrokenRun,
    RunInfo,
    default_checkpoint_root,
    list_runs,
)

_log = logging.getLogger(__name__)

if TYPE_CHECKING:  # annotations only: these load when a page first needs them (the home page needs neither
    import pandas as pd  # torch nor pandas)
    import plotly.graph_objects as go
    import torch

    from aecore.baselines import PCABaseline
    from aecore.data import Dataset
    from aecore.jobs import TrainingJobs
    from aecore.latent import Agreement, MapIndex
    from aecore.latent_quality import LatentQuality, Trust
    from aecore.models import Autoencoder
    from aecore.projection import Projection, ProjectionConfig
    from aecore.runstore import EvaluationArtefacts
    from aecore.train import Timeline

RUN_FILE_PATTERNS = (*FILE_PATTERNS.values(), LEGACY_WEIGHTS)  # the files a run lists beside its run.json
MODEL_STORE_BYTES = 512 * 1024**2
LATENT_STORE_BYTES = 768 * 1024**2


class BoundedStore:
    """A thread-safe least-recently-used map bounded by the total size of its values in bytes.

    A value larger than the whole budget is returned but not kept.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[Any, tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: Any, make: Callable[[], Any], size_of: Callable[[Any], int]) -> Any:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key][0]
        value = make()  # outside the lock: a slow load must not block other sessions' hits
        size = size_of(value)
        with self._lock:
            if size <= self.max_bytes and key not in self._items:
                self._items[key] = (value, size)
                self._bytes += size
                while self._bytes > self.max_bytes:
                    _, (_, dropped) = self._items.popitem(last=False)
                    self._bytes -= dropped
        return value

    @property
    def nbytes(self) -> int:
        return self._bytes


def _model_bytes(model: Autoencoder) -> int:
    return sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()])


@st.cache_resource
def _models() -> BoundedStore:
    return BoundedStore(MODEL_STORE_BYTES)


@st.cache_resource
def _latents() -> BoundedStore:
    return BoundedStore(LATENT_STORE_BYTES)


# --- the registry ------------------------------------------------------------------------------------------


def folder_signature(root: str) -> tuple:
    """What defines each run folder's run: its name, and the name, size and mtime of its run.json and of the files
    the run lists (weights, evaluation, timeline). Changes when a run is written, replaced or deleted; files a
    run's readers add beside it (projection maps in projections/, derived/ intervals) leave it alone."""
    base = Path(root)
    if not base.is_dir():
        return ()
    entries = []
    try:
        for folder in sorted(base.iterdir()):
            if folder.name.startswith(".") or not folder.is_dir():
                continue
            entries.append((folder.name,))  # a folder without a run.json is listed (as unreadable) too
            for item in sorted(folder.iterdir()):
                if item.name == RUN_FILE or any(p.match(item.name) for p in RUN_FILE_PATTERNS):
                    info = item.lstat()
                    entries.append((folder.name, item.name, info.st_size, info.st_mtime_ns))
    except OSError as error:  # a folder vanishing mid-scan: the registry call reports what it finds
        entries.append(("?", str(error)))
    return tuple(entries)


def registry() -> tuple[dict[str, RunInfo], tuple[BrokenRun, ...]]:
    """{run id: run} of every readable run (newest first) and the unreadable folders, re-read when a run changes.

    The frame calls this once per rerun and hands the result to the page (ui.frame); the checkpoint root is
    part of the key."""
    root = str(default_checkpoint_root())
    runs, broken = _registry(root, folder_signature(root))
    return {run.run_id: run for run in runs}, broken


# A resource, not data: st.cache_data unpickled a fresh copy of ~100 kB of run records on every call (35 ms a copy
# on a busy machine). Run records are frozen; never modify what this returns.
@st.cache_resource(show_spinner="Reading the run registry…", max_entries=8)
def _registry(root: str, signature: tuple) -> tuple[tuple[RunInfo, ...], tuple[BrokenRun, ...]]:
    """Every readable run under `root` (newest first) and the folders that are not, with why (shared, read-only).

    `signature` (from `folder_signature`) is part of the key, so a run written by the CLI shows up.
    """
    try:
        runs, broken = list_runs(Path(root))
    except OSError as error:
        reason = f"cannot read the checkpoints folder {root}: {error.strerror or error}"
        return (), (BrokenRun(Path(root).name, Path(root), reason),)
    return tuple(runs), tuple(broken)


def forget_registry() -> None:
    """After this session wrote or deleted a run: read the folder again on the next call."""
    _registry.clear()


def methods(comparison: Comparison) -> tuple[tuple[str, RunKey | BaselineKey], ...]:
    """(method id, key) of the slots' runs and their PCA baselines: what the statistics caches take."""
    runs = tuple((s.name, s.key) for s in comparison.slots)
    return runs + tuple((b.id, b.key) for b in comparison.baselines())


def by_content(methods: tuple[tuple[str, Any], ...]) -> tuple[tuple[tuple[str, Any], ...], dict[str, str]]:
    """(the methods sorted by key under placeholder ids, {placeholder: the caller's id}).

    A statistics cache called with these holds one entry per set of runs, whichever slot holds which: after "Swap
    A and B" the slots' ids name other runs, and a cache keyed by (id, run) computed everything again. Each method
    is scored on its own (the paired bootstraps resample the same images whatever the columns' order), so the
    results are the same, renamed. Keys sort by their repr: every field of the frozen dataclass, an order over runs
    and baselines alike that is the same on every rerun."""
    order = sorted(range(len(methods)), key=lambda i: repr(methods[i][1]))
    canonical = tuple((f"method {n}", methods[i][1]) for n, i in enumerate(order))
    return canonical, {f"method {n}": methods[i][0] for n, i in enumerate(order)}


def in_callers_order(
    frame: pd.DataFrame, names: dict[str, str], methods: tuple, within: tuple[str, ...] = ()
) -> pd.DataFrame:
    """`frame` (a "method" column of `by_content` placeholders) with the caller's ids, its rows in the order the
    caller's methods would have given: by the `within` groups as they come, then in the caller's method order."""
    position = {method: i for i, (method, _) in enumerate(methods)}
    named = frame.assign(method=frame["method"].map(names))
    groups = named.groupby(list(within), sort=False).ngroup().to_numpy() if within else np.zeros(len(named), int)
    return named.iloc[np.lexsort((named["method"].map(position).to_numpy(), groups))].reset_index(drop=True)


# --- data --------------------------------------------------------------------------------------------------


def dataset(name: str) -> Dataset:
    """The dataset `name` under the data root in use now: $AECORE_DATA is part of the cache key."""
    from aecore.data import default_data_root

    return _dataset(name, str(default_data_root()))


@st.cache_resource(show_spinner="Loading the data…")
def _dataset(name: str, root: str) -> Dataset:
    from aecore.data import load_dataset

    return load_dataset(name, root)


@st.cache_data(max_entries=64)
def test_labels(name: str) -> np.ndarray:
    return dataset(name).test.labels.numpy()


def hover_sprite(name: str) -> str | None:
    """The URL of the test set's sprite sheet (ui.hover_tiles), written on first use; None where it cannot be."""
    from aecore.data import default_data_root

    return _hover_sprite(name, str(default_data_root()))


@st.cache_resource(show_spinner="Preparing the digit images for the maps…")
def _hover_sprite(name: str, root: str) -> str | None:
    from ui import hover_tiles

    data = _dataset(name, root)
    path = hover_tiles.sprite_path(name, data.fingerprint)
    if not path.is_file():
        try:
            hover_tiles.write_sprite(data.test.images[:, 0].numpy(), path)
        except OSError as error:  # e.g. a read-only checkout: the maps work, their hover labels stay text only
            _log.warning("no digit images on hover: cannot write %s (%s)", path, error)
            return None
    return hover_tiles.sprite_url(path)


@st.cache_data(max_entries=64)
def test_images(name: str, indices: tuple[int, ...]) -> np.ndarray:
    """Test images `indices` as (n, 32, 32) float32 arrays in [0, 1]."""
    return dataset(name).test.images[list(indices), 0].numpy()


@st.cache_data(max_entries=64)
def test_sample(name: str, digit: int | None, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (n,) and labels (n,) of a seeded sample of test images, of one digit or of all."""
    from aecore.data import sample_test_indices

    labels = test_labels(name)
    indices = sample_test_indices(labels, digit, count, seed)
    return indices, labels[indices]


# --- a run's model and what it computed ---------------------------------------------------------------------


def model(key: RunKey) -> Autoencoder:
    """The run's model in eval mode (shared by every session; never modify it)."""
    from aecore.runstore import load_model

    return _models().get(key, lambda: load_model(key), _model_bytes)


@st.cache_data(max_entries=32)
def architecture(key: RunKey) -> str:
    from aecore.models import describe

    return describe(model(key))


@st.cache_data(show_spinner="Scoring every test image…", max_entries=32)
def evaluation(key: RunKey) -> EvaluationArtefacts:
    """The run's stored evaluation artefacts (computed now for runs saved before artefacts existed)."""
    from aecore.runstore import load_evaluation

    stored = load_evaluation(key)
    if stored is not None:
        return stored
    from aecore.pipeline import evaluate_run  # imports torch: only for runs saved before artefacts existed

    return evaluate_run(model(key), key.config, dataset(key.dataset))[1]


@st.cache_data(show_spinner=False, max_entries=32)
def overview_verdicts(slots: tuple[tuple[str, RunKey, float, int, int], ...], paired: bool) -> list[str]:
    """The Overview's first lines: each (slot name, run, PCA MSE, latent dims, parameters) against its PCA, paired
    over the test images when the run stores PCA's per-image errors (no PCA is fit for the home page; the paired
    interval is read from the run when it stores it, aecore.precompute), and, when both runs were scored on the
    same test images, A against B."""
    from aecore import verdicts
    from aecore.precompute import load_pca_difference, load_pca_test_errors

    lines = []
    for name, key, pca_mse, dims, params in slots:
        difference = load_pca_difference(key.path, key.weights_sha256, key.baseline)
        pca_errors = load_pca_test_errors(key.path, key.baseline)
        lines.append(verdicts.against_pca(name, test_errors(key), pca_mse, dims, params, pca_errors, difference))
    if paired and len(slots) == 2:
        (a, key_a, *_), (b, key_b, *_) = slots
        lines.append(verdicts.between_runs((a, b), test_errors(key_a), test_errors(key_b)))
    return lines


def test_errors(key: RunKey) -> np.ndarray:
    """(n_test,) per-image test MSE of the run, row i for test image i."""
    return evaluation(key).test_errors.astype(np.float64)


@st.cache_data(show_spinner="Reading the training timeline…", max_entries=16)
def timeline(key: RunKey) -> Timeline | None:
    from aecore.runstore import load_timeline

    return load_timeline(key)


def test_latents(key: RunKey) -> np.ndarray:
    """(n_test, latent_dim) codes of every test image, row i for test image i (kept in the bounded store)."""
    from aecore.inference import encode

    def make() -> np.ndarray:
        with st.spinner("Encoding the test set…"):
            return encode(model(key), dataset(key.dataset).test.images)

    return _latents().get(("test", key), make, lambda codes: codes.nbytes)


def train_latents(key: RunKey) -> np.ndarray:
    """(n_train, latent_dim) codes of the run's own training images (bounded store)."""
    from aecore.data import training_subset
    from aecore.inference import encode

    def make() -> np.ndarray:
        with st.spinner("Encoding the training images…"):
            images = training_subset(dataset(key.dataset).train, key.config.train_limit).images
            return encode(model(key), images)

    return _latents().get(("train", key), make, lambda codes: codes.nbytes)


@st.cache_data(show_spinner="Reconstructing test digits…", max_entries=64)
def reconstructions(key: RunKey, indices: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Test images `indices` rebuilt by the run: reconstructions (n, 32, 32), |x − x̂| (n, 32, 32), MSE (n,)."""
    from aecore.inference import reconstruct_and_errors

    chosen = dataset(key.dataset).test.images[list(indices)]
    recon, errors = reconstruct_and_errors(model(key), chosen)
    return recon[:, 0].numpy(), (recon - chosen).abs()[:, 0].numpy(), errors


# --- PCA baselines -----------------------------------------------------------------------------------------


@st.cache_resource(show_spinner="Fitting the PCA baseline on the run's training images…", max_entries=16)
def pca(key: BaselineKey) -> PCABaseline:
    from aecore.baselines import fit_baseline

    return fit_baseline(dataset(key.dataset), key)


@st.cache_data(show_spinner="Scoring the PCA baseline on the test set…", max_entries=16)
def pca_test_errors(key: BaselineKey) -> np.ndarray:
    return pca(key).errors(dataset(key.dataset).test.images)


@st.cache_data(show_spinner="Scoring the PCA baseline on the validation images…", max_entries=16)
def pca_validation_mse(key: BaselineKey) -> float:
    """PCA's MSE on the validation images the loss curves use (stored with format-2 runs; this is for older ones)."""
    return float(pca(key).errors(dataset(key.dataset).val.images).mean())


@st.cache_data(max_entries=16)
def probe_images(name: str, positions: tuple[int, ...]) -> np.ndarray:
    """Validation images at `positions` (the timeline's probe digits) as (n, 32, 32) arrays in [0, 1]."""
    return dataset(name).val.images[list(positions), 0].numpy()


@st.cache_data(max_entries=32)
def pca_reconstructions(key: BaselineKey, indices: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Like `reconstructions`, for the PCA baseline (clipped to [0, 1])."""
    images = dataset(key.dataset).test.images[list(indices)]
    recon = pca(key).reconstruct(images)[:, 0]
    originals = images[:, 0].numpy()
    return recon, np.abs(recon - originals), ((recon - originals) ** 2).reshape(len(recon), -1).mean(1)


# --- statistics --------------------------------------------------------------------------------------------


def method_errors(methods: tuple[tuple[str, RunKey | BaselineKey], ...]) -> dict[str, np.ndarray]:
    """{method id: (n_test,) per-image test errors} for runs and PCA baselines (a baseline's as stored by a run
    among `methods` that it belongs to, else fit and scored now)."""
    from aecore.precompute import load_pca_test_errors

    def baseline_errors(key: BaselineKey) -> np.ndarray:
        for _, run in methods:
            if isinstance(run, RunKey) and run.baseline == key:
                stored = load_pca_test_errors(run.path, key)
                if stored is not None:
                    return stored
        return pca_test_errors(key)

    return {method: test_errors(key) if isinstance(key, RunKey) else baseline_errors(key) for method, key in methods}


@st.cache_data(show_spinner="Bootstrapping confidence intervals (2,000 resamples)…", max_entries=16)
def interval_table(methods: tuple[tuple[str, RunKey | BaselineKey], ...], dataset_name: str) -> pd.DataFrame:
    """Per-digit and overall mean test error with 95% bootstrap intervals, one column group per method id (from
    the intervals the runs stored, aecore.precompute, when every method has them: the same numbers)."""
    from aecore.stats import interval_table as table

    stored = _stored_intervals(methods)
    if stored is not None:
        return stored
    return table(method_errors(methods), test_labels(dataset_name))


def _stored_intervals(methods: tuple[tuple[str, RunKey | BaselineKey], ...]) -> pd.DataFrame | None:
    from aecore import precompute

    columns = {}
    for method, key in methods:
        owner = key if isinstance(key, RunKey) else next(
            (run for _, run in methods if isinstance(run, RunKey) and run.baseline == key), None)  # fmt: skip
        stored = owner and precompute.load_intervals(owner.path, owner.weights_sha256, owner.baseline)
        if not stored:
            return None
        columns[method] = stored["run" if isinstance(key, RunKey) else "pca"]
    return precompute.interval_table(columns)


def paired_difference(first: RunKey, second: RunKey, names: tuple[str, str]) -> pd.DataFrame:
    """The paired difference first − second, its verdicts written with `names`. One bootstrap per pair of runs,
    whichever slot holds which: after "Swap A and B" the other order's table is read back reversed (the same
    resampled images, so the same numbers up to rounding), unless some image has equal errors under both runs."""
    from aecore.stats import reversed_paired_difference, with_verdicts

    if repr(second) < repr(first) and not np.any(test_errors(first) == test_errors(second)):  # see by_content
        return reversed_paired_difference(_paired_difference(second, first), names)
    return with_verdicts(_paired_difference(first, second), names)


@st.cache_data(show_spinner="Bootstrapping the paired difference…", max_entries=16)
def _paired_difference(first: RunKey, second: RunKey) -> pd.DataFrame:
    from aecore.stats import paired_difference as difference

    return difference(test_errors(first), test_errors(second), test_labels(first.dataset))


def latent_quality(methods: tuple[tuple[str, RunKey | BaselineKey], ...], dataset_name: str) -> LatentQuality:
    """k-NN and linear-probe test accuracy of each method's code, fit on that method's training images, with
    intervals and each test image's right/wrong. `dataset_name` gives the test set the methods share; each
    method's training images come from its own dataset (mnist and its 4,500-image sample share a test set).
    Computed once for a set of runs, whichever slot holds which (see `by_content`)."""
    from aecore.latent_quality import LatentQuality

    canonical, names = by_content(methods)
    quality = _latent_quality(canonical, dataset_name)
    correct = {names[method]: right for method, right in quality.correct.items()}
    return LatentQuality(in_callers_order(quality.table, names, methods), {m: correct[m] for m, _ in methods})


@st.cache_data(show_spinner="Fitting k-NN and linear probes on training codes…", max_entries=16)
def _latent_quality(methods: tuple[tuple[str, RunKey | BaselineKey], ...], dataset_name: str) -> LatentQuality:
    from aecore.data import training_subset
    from aecore.latent_quality import latent_quality_table, pca_codes

    test = dataset(dataset_name).test
    codes, train_labels = {}, {}
    for method, key in methods:
        limit = key.config.train_limit if isinstance(key, RunKey) else key.train_limit
        subset = training_subset(dataset(key.dataset).train, limit)
        train_labels[method] = subset.labels.numpy()
        if isinstance(key, RunKey):
            codes[method] = (train_latents(key), test_latents(key))
        else:
            codes[method] = pca_codes(pca(key), subset.images, test.images)
    return latent_quality_table(codes, train_labels, test.labels.numpy())


ROBUSTNESS_PER_DIGIT = 50  # the fixed robustness subset: the first 50 test images of each digit


def _reconstructor(key: RunKey | BaselineKey) -> Callable:
    import torch

    from aecore.inference import reconstruct

    if isinstance(key, RunKey):
        net = model(key)
        return lambda images: reconstruct(net, images)
    baseline = pca(key)
    return lambda images: torch.from_numpy(baseline.reconstruct(images))


def robustness_curves(methods: tuple[tuple[str, RunKey | BaselineKey], ...], dataset_name: str) -> pd.DataFrame:
    """aecore.robustness.robustness_curves of the methods, computed once for a set of runs (see `by_content`)."""
    canonical, names = by_content(methods)
    return in_callers_order(
        _robustness_curves(canonical, dataset_name), names, methods, within=("corruption", "strength")
    )


@st.cache_data(show_spinner="Corrupting 500 test images at 16 strengths and reconstructing them…", max_entries=8)
def _robustness_curves(methods: tuple[tuple[str, RunKey | BaselineKey], ...], dataset_name: str) -> pd.DataFrame:
    from aecore.robustness import robustness_curves as curves

    return curves({method: _reconstructor(key) for method, key in methods}, _robustness_subset(dataset_name))


def robustness_growth(methods: tuple[tuple[str, RunKey | BaselineKey], ...], dataset_name: str) -> dict:
    """{method id: (n,) per-image rise in error from clean to the strongest noise} on the curves' test subset,
    computed once for a set of runs (see `by_content`)."""
    canonical, names = by_content(methods)
    growth = {names[method]: rise for method, rise in _robustness_growth(canonical, dataset_name).items()}
    return {method: growth[method] for method, _ in methods}


@st.cache_data(show_spinner="Scoring each image's rise in error…", max_entries=16)
def _robustness_growth(methods: tuple[tuple[str, RunKey | BaselineKey], ...], dataset_name: str) -> dict:
    from aecore.robustness import growth_per_image

    return growth_per_image({method: _reconstructor(key) for method, key in methods}, _robustness_subset(dataset_name))


def _robustness_subset(dataset_name: str) -> torch.Tensor:
    """The fixed robustness subset: the first ROBUSTNESS_PER_DIGIT test images of each class."""
    from aecore.data import first_of_each_digit

    test = dataset(dataset_name).test
    return test.images[first_of_each_digit(test.labels, ROBUSTNESS_PER_DIGIT)]


def reconstruct_one(
    methods: tuple[tuple[str, RunKey | BaselineKey], ...], image, target
) -> dict[str, tuple[np.ndarray, float]]:
    """{method id: (reconstruction (32, 32), MSE against `target`)} of one (1, 1, 32, 32) input. Not cached:
    one forward pass per method, and the input is the user's own drawing."""
    results = {}
    for method, key in methods:
        recon = _reconstructor(key)(image)
        results[method] = (recon[0, 0].clamp(0, 1).numpy(), float(((recon - target) ** 2).mean()))
    return results


# --- latent space ------------------------------------------------------------------------------------------


@st.cache_data(show_spinner=False, max_entries=32)
def stored_projection(key: RunKey, config: ProjectionConfig) -> Projection | None:
    """The run's 2-D map as cached in its folder (then it loads in milliseconds), or None when it is not there."""
    from aecore.projection import load_cached

    return load_cached(key, config)


@st.cache_data(show_spinner=False, max_entries=32)
def projection(key: RunKey, config: ProjectionConfig) -> Projection:
    """The run's 2-D map from its folder's cache, computed (and cached in the folder) when missing."""
    from aecore.projection import project_run

    stored = stored_projection(key, config)
    if stored is not None:
        return stored
    made = project_run(key, config, lambda: test_latents(key), use_cache=False)
    stored_projection.clear(key, config)  # now in the folder: the next look finds it there
    return made


def agreement(first: RunKey, second: RunKey, n_points: int, seed: int, k: int) -> Agreement:
    """k-NN overlap of two runs' latent spaces on the projected test subset (same subset for both). Symmetric, so
    computed once per pair of runs, whichever slot holds which."""
    first, second = sorted((first, second), key=repr)
    return _agreement(first, second, n_points, seed, k)


@st.cache_data(show_spinner="Scoring neighbourhood agreement…", max_entries=16)
def _agreement(first: RunKey, second: RunKey, n_points: int, seed: int, k: int) -> Agreement:
    from aecore.latent import neighbourhood_agreement
    from aecore.projection import sample_indices

    a, b = test_latents(first), test_latents(second)
    rows = sample_indices(len(a), n_points, seed)
    return neighbourhood_agreement(a[rows], b[rows], k)


@st.cache_data(show_spinner="Scoring trustworthiness with its interval…", max_entries=32)
def trust_interval(key: RunKey, coords: np.ndarray, indices: np.ndarray, seed: int, k: int, raw: bool) -> Trust:
    """A map's trustworthiness with its bootstrap interval over the scored test images (aecore.latent_quality);
    `raw` marks a map that is the run's 2-D code itself (then it is 1 by construction)."""
    from aecore.latent_quality import trustworthiness as score

    return score(test_latents(key)[indices], coords, k=k, raw=raw, seed=seed)


@st.cache_data(max_entries=256)
def neighbours(key: RunKey, index: int, k: int) -> np.ndarray:
    """Test indices of the k codes nearest test image `index` in the run's latent space (whole test set)."""
    from aecore.latent import nearest_neighbours

    return nearest_neighbours(test_latents(key), index, k)


@st.cache_resource(max_entries=32)
def map_index(coords_key: tuple[str, str], _coords: np.ndarray) -> MapIndex:
    """Nearest-point lookup on a 2-D map (keyed by the map's run and cache key), for decoding any spot of it."""
    from aecore.latent import MapIndex

    return MapIndex().fit(_coords)


def decode(key: RunKey, codes: np.ndarray) -> np.ndarray:
    """(n, latent_dim) codes -> (n, 32, 32) images in [0, 1]; one forward pass, too cheap to cache."""
    from aecore.inference import decode as decode_codes

    return decode_codes(model(key), codes)


@st.cache_data(show_spinner="Interpolating…", max_entries=64)
def interpolation(key: RunKey, start: int, end: int, steps: int) -> np.ndarray:
    """(steps, 32, 32) decoded straight line between the codes of test images `start` and `end`."""
    from aecore.latent import interpolate

    images = dataset(key.dataset).test.images
    return interpolate(model(key), images[start], images[end], steps)


@st.cache_resource(show_spinner=False, max_entries=16)
def latent_map_points(
    slot: str,
    keys: tuple[tuple[str, RunKey], ...],
    map_key: str,
    colouring: str,
    series: tuple,
    dataset_name: str,
    _projection: Projection,
) -> go.Figure:
    """The points of a slot's latent map (ui.latent_figures.map_points), one figure object per input: a rerun with
    the same runs, map and colouring reuses it instead of rebuilding 10,000 points. `_projection` is the slot's map,
    identified by its run's key in `keys` and its cache key `map_key`; `series` are the slots' MethodStyle. Callers
    never change it (ui.latent_figures.map_layers draws on a new figure that shares its traces)."""
    from aecore.datasets import get
    from aecore.latent import empty_spots
    from aecore.projection import METHOD_TITLES
    from ui.latent_figures import map_points

    coords, indices = _projection.coords, _projection.indices
    errors = {name: test_errors(key) for name, key in keys}
    return map_points(coords, indices, test_labels(dataset_name), get(dataset_name).class_names, errors, slot,
                      colouring, {s.id: s for s in series}, spots=empty_spots(coords, 36),
                      axis_title=METHOD_TITLES[_projection.provenance["method"]])  # fmt: skip


def neighbourhood_overlap(first: RunKey, second: RunKey, n_points: int, seed: int, k: int) -> tuple:
    """(test indices of the projected subset, (n,) share of each one's k nearest codes in the first run's latent
    space that are also among its k nearest in the second's): the agreement of a selection is their mean over it.
    Symmetric, so computed once per pair of runs, whichever slot holds which."""
    first, second = sorted((first, second), key=repr)
    return _neighbourhood_overlap(first, second, n_points, seed, k)


@st.cache_data(show_spinner="Scoring neighbourhood agreement per digit…", max_entries=16)
def _neighbourhood_overlap(first: RunKey, second: RunKey, n_points: int, seed: int, k: int) -> tuple:
    from aecore.projection import sample_indices
    from aecore.selection import neighbourhood_overlap as overlap

    a, b = test_latents(first), test_latents(second)
    rows = sample_indices(len(a), n_points, seed)
    return rows, overlap(a[rows], b[rows], k)


@st.cache_resource(show_spinner="Mapping the test codes…", max_entries=8)
def own_digit_pca(key: RunKey):
    """(fitted 2-D PCA of the run's test codes, (n_test, 2) coordinates), for placing a new digit on the map."""
    from aecore.own_digit import fit_code_pca

    return fit_code_pca(test_latents(key))


def own_digit_position(key: RunKey, image) -> tuple[np.ndarray, np.ndarray]:
    """A drawn digit on the run's test-code map: its (2,) position and (10,) digit counts among its 25 nearest
    test codes in the full latent space."""
    from aecore.inference import encode
    from aecore.own_digit import nearest_test_digits

    pca_map, _ = own_digit_pca(key)
    code = encode(model(key), image)  # (1, latent_dim)
    return pca_map.transform(code)[0], nearest_test_digits(test_latents(key), test_labels(key.dataset), code)


# --- training jobs -----------------------------------------------------------------------------------------


@st.cache_resource
def training_jobs() -> TrainingJobs:
    """The process-wide job runner: every page and every browser tab sees the same job.

    The worker uses every core but one (at least one), leaving a core to the server and the pages, and exits
    after AECORE_WORKER_IDLE_SECONDS (default 300) without a job.
    """
    from aecore.jobs import TrainingJobs, idle_seconds_from_env

    return TrainingJobs(idle_seconds=idle_seconds_from_env())


# --- studies and training seeds ----------------------------------------------------------------------------


def studies_signature(url: str) -> tuple:
    """Size and mtime of a SQLite study storage, which change with every trial written; () for a storage that is
    no local file (or none yet)."""
    from sqlalchemy.engine import make_url

    try:
        database = make_url(url).database
    except Exception:  # not a URL: the studies functions say so themselves
        return ()
    if not database or not Path(database).is_file():
        return ()
    info = Path(database).stat()
    return (info.st_size, info.st_mtime_ns)


@st.cache_data(show_spinner="Reading the studies…", max_entries=8)
def studies(url: str, signature: tuple) -> pd.DataFrame:
    """Every study in the storage at `url` (aecore.studies.list_studies); `signature` keys the contents."""
    from aecore.studies import list_studies

    return list_studies(storage=url)


@st.cache_data(show_spinner=False, max_entries=16)
def study_trials(url: str, name: str, signature: tuple) -> pd.DataFrame:
    """One row per trial of study `name` (aecore.studies.trials_frame)."""
    from aecore.studies import trials_frame

    return trials_frame(name, storage=url)


@st.cache_data(show_spinner=False, max_entries=16)
def study_frozen_trials(url: str, name: str, signature: tuple) -> list:
    """The study's trials as Optuna FrozenTrials, for Optuna's own plots."""
    from aecore.studies import frozen_trials

    return frozen_trials(name, storage=url)


@st.cache_data(show_spinner="Bootstrapping the interval over test images…", max_entries=128)
def mean_error_interval(keys: tuple[RunKey, ...]) -> tuple[float, float, float]:
    """(mean, low, high): the test MSE of the runs' per-image errors averaged image by image, with its 95% bootstrap
    interval over test images (one run: its own interval, equal to the "all" row of `interval_table`). The runs
    share one test set."""
    from aecore.stats import OVERALL_STREAM, mean_interval

    if len(keys) == 1:  # the run's own "all" row, stored with it (aecore.precompute)
        from aecore.precompute import load_intervals

        stored = load_intervals(keys[0].path, keys[0].weights_sha256, keys[0].baseline)
        if stored:
            _, _, mean, low, high = stored["run"][-1]
            return mean, low, high
    errors = np.mean([test_errors(key) for key in keys], axis=0)  # (n_runs, n_test) -> (n_test,)
    interval = mean_interval(errors, stream=OVERALL_STREAM)
    return interval.mean, interval.low, interval.high


# --- figures ----------------------------------------------------------------------------------------------------

CHART_ENTRIES = 64  # a page draws up to ~6 charts; enough for every page of a few comparisons


def chart(builder: Callable[..., go.Figure], /, *args: Any, **kwargs: Any) -> go.Figure:
    """`builder(*args, **kwargs)`, built once per value of the arguments and then reused: a rerun that draws the same
    chart again (a page switch, a click elsewhere on the page) skips plotly's validation of every property, a third
    of the Per-digit page's script time. The arguments are hashed by content (frames, arrays, styles), so a changed
    input is a new chart. The figure is shared between reruns and sessions: st.plotly_chart copies it before sending
    it, and nothing may change it."""
    return _chart(f"{builder.__module__}.{builder.__qualname__}", args, kwargs, builder)


@st.cache_resource(show_spinner=False, max_entries=CHART_ENTRIES)
def _chart(name: str, args: tuple, kwargs: dict, _builder: Callable[..., go.Figure]) -> go.Figure:
    return _builder(*args, **kwargs)

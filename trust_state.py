"""Cached calls into aecore for the trust pages: confidence intervals, latent quality, error gallery, robustness,
own digit and bottleneck sweep.

Runs are passed in as (run folder, weights hash) strings, so a retrained run is a new cache entry; every cached
function reads only its arguments. Models and datasets come from app_state's caches, shared with the other pages.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

import app_state
import latent_state
from aecore.checkpoints import RunInfo, read_run
from aecore.metrics import PCABaseline

GALLERY_MAX = 16
ROBUSTNESS_PER_DIGIT = 50  # the fixed robustness subset: the first 50 test images of each digit


@dataclass(frozen=True)
class RunRef:
    """What the caches need to know about a run: where it is, which weights, which dataset, which PCA."""

    model: str
    path: str
    weights_sha256: str
    dataset: str
    latent_dim: int
    seed: int

    @classmethod
    def of(cls, info: RunInfo) -> RunRef:
        c = info.config
        return cls(c.model, str(info.path), info.weights_sha256, c.dataset, info.latent_dim, c.seed)

    @property
    def title(self) -> str:
        return app_state.MODEL_TITLES[self.model]

    @property
    def pca_title(self) -> str:
        return f"PCA-{self.latent_dim}"


def refs(runs: dict[str, RunInfo]) -> list[RunRef]:
    return [RunRef.of(info) for info in runs.values()]


def page_runs() -> tuple[dict[str, RunInfo], list[RunRef]]:
    """The selected runs for a trust page, with the dataset banner drawn; stops the page when there are none."""
    runs = app_state.selected_runs()
    if not runs:
        st.warning("No readable runs to compare: train one from the sidebar.")
        st.stop()
    st.caption(app_state.dataset_banner(runs))
    return runs, refs(runs)


def pca_refs(run_refs: list[RunRef]) -> dict[str, RunRef]:
    """One PCA baseline per distinct latent size (and dataset) among the runs: {"PCA-32": ref}."""
    chosen: dict[str, RunRef] = {}
    for ref in run_refs:
        chosen.setdefault(ref.pca_title, ref)
    return chosen


def _model(path: str, weights_sha256: str):
    return app_state.model_of(read_run(Path(path)))


@st.cache_resource(show_spinner="Fitting the PCA baseline…", max_entries=16)
def pca_baseline(dataset: str, dims: int, seed: int) -> PCABaseline:
    """PCA with `dims` components fit on the dataset's training images (never on test images)."""
    return PCABaseline.fit(app_state.dataset(dataset).train.images, dims, seed=seed)


@st.cache_data(show_spinner="Scoring the PCA baseline…", max_entries=16)
def pca_test_errors(dataset: str, dims: int, seed: int) -> np.ndarray:
    test = app_state.dataset(dataset).test
    return pca_baseline(dataset, dims, seed).evaluate(test.images, test.labels).per_image


def errors_by_method(run_refs: list[RunRef]) -> dict[str, np.ndarray]:
    """{"MLP": (N,), "Conv": (N,), "PCA-32": (N,)}: per-image test errors of the runs and their PCA baselines."""
    errors = {ref.title: latent_state.test_errors(ref.path, ref.weights_sha256, ref.dataset) for ref in run_refs}
    for title, ref in pca_refs(run_refs).items():
        errors[title] = pca_test_errors(ref.dataset, ref.latent_dim, ref.seed)
    return errors


def test_labels(dataset: str) -> np.ndarray:
    return app_state.dataset(dataset).test.labels.numpy()


# --- confidence intervals -------------------------------------------------------------------------


@st.cache_data(show_spinner="Bootstrapping confidence intervals (2,000 resamples)…", max_entries=16)
def interval_table(run_refs: tuple[RunRef, ...]) -> pd.DataFrame:
    from aecore.stats import interval_table as table

    return table(errors_by_method(list(run_refs)), test_labels(run_refs[0].dataset))


@st.cache_data(show_spinner="Bootstrapping the paired difference…", max_entries=16)
def paired_difference(first: RunRef, second: RunRef) -> pd.DataFrame:
    from aecore.stats import paired_difference as difference

    a = latent_state.test_errors(first.path, first.weights_sha256, first.dataset)
    b = latent_state.test_errors(second.path, second.weights_sha256, second.dataset)
    return difference(a, b, test_labels(first.dataset), names=(first.title, second.title))


# --- latent quality --------------------------------------------------------------------------------


@st.cache_data(show_spinner="Encoding the training images…", max_entries=16)
def train_latents(path: str, weights_sha256: str, dataset: str) -> np.ndarray:
    """(N_train, latent_dim) codes of the training images (the test codes come from latent_state)."""
    from aecore.latent import encode

    return encode(_model(path, weights_sha256), app_state.dataset(dataset).train.images)


def codes(path: str, weights_sha256: str, dataset: str) -> tuple[np.ndarray, np.ndarray]:
    """Latent codes of the training (N_train, d) and test (N_test, d) images."""
    return train_latents(path, weights_sha256, dataset), latent_state.test_latents(path, weights_sha256, dataset)


@st.cache_data(show_spinner="Fitting k-NN and linear probes on training codes…", max_entries=16)
def latent_quality(run_refs: tuple[RunRef, ...]) -> pd.DataFrame:
    from aecore.latent_quality import latent_quality_table

    by_method = {ref.title: codes(ref.path, ref.weights_sha256, ref.dataset) for ref in run_refs}
    for title, ref in pca_refs(list(run_refs)).items():
        data = app_state.dataset(ref.dataset)
        pca = pca_baseline(ref.dataset, ref.latent_dim, ref.seed)
        by_method[title] = (pca.encode(data.train.images), pca.encode(data.test.images))
    data = app_state.dataset(run_refs[0].dataset)
    return latent_quality_table(by_method, data.train.labels.numpy(), data.test.labels.numpy())


# --- error gallery ---------------------------------------------------------------------------------


def ranked_indices(errors: np.ndarray, labels: np.ndarray, digit: int | None, worst: bool, k: int) -> np.ndarray:
    """Test positions of the k highest (worst) or lowest (best) errors, among one digit or all."""
    pool = np.arange(len(errors)) if digit is None else np.flatnonzero(labels == digit)
    order = np.argsort(errors[pool], kind="stable")
    chosen = order[::-1][:k] if worst else order[:k]
    return pool[chosen]


@st.cache_data(max_entries=32)
def pca_reconstructions(dataset: str, dims: int, seed: int, indices: tuple[int, ...]) -> np.ndarray:
    """(n, 32, 32) PCA reconstructions of test images `indices`, clipped to [0, 1] for display."""
    images = app_state.dataset(dataset).test.images[list(indices)]
    return np.clip(pca_baseline(dataset, dims, seed).reconstruct(images)[:, 0], 0, 1)


# --- robustness ------------------------------------------------------------------------------------


def _reconstructor(ref: RunRef):
    from aecore.metrics import reconstruct_and_errors

    model = _model(ref.path, ref.weights_sha256)
    return lambda images: reconstruct_and_errors(model, images)[0]


def _pca_reconstructor(ref: RunRef):
    import torch

    pca = pca_baseline(ref.dataset, ref.latent_dim, ref.seed)
    return lambda images: torch.from_numpy(pca.reconstruct(images)).float()


def reconstructors(run_refs: list[RunRef]) -> dict:
    """{"MLP": callable, "Conv": callable, "PCA-32": callable}: images (N, 1, 32, 32) -> reconstructions."""
    methods = {ref.title: _reconstructor(ref) for ref in run_refs}
    methods.update({title: _pca_reconstructor(ref) for title, ref in pca_refs(run_refs).items()})
    return methods


@st.cache_data(show_spinner="Corrupting 500 test images at 16 strengths and reconstructing them…", max_entries=8)
def robustness_curves(run_refs: tuple[RunRef, ...]) -> pd.DataFrame:
    from aecore.robustness import fixed_subset
    from aecore.robustness import robustness_curves as curves

    test = app_state.dataset(run_refs[0].dataset).test
    clean = test.images[fixed_subset(test.labels, ROBUSTNESS_PER_DIGIT)]
    return curves(reconstructors(list(run_refs)), clean)


def corrupted_example(run_refs: list[RunRef], index: int, corruption) -> tuple[np.ndarray, np.ndarray, dict]:
    """One test image: (clean (32, 32), corrupted (32, 32), {method: (reconstruction (32, 32), MSE vs clean)})."""
    from aecore.robustness import corrupt

    clean = app_state.dataset(run_refs[0].dataset).test.images[index : index + 1]
    noisy = corrupt(clean, corruption)
    return clean[0, 0].numpy(), noisy[0, 0].numpy(), reconstruct_one(run_refs, noisy, clean)


def reconstruct_one(run_refs: list[RunRef], image, target) -> dict[str, tuple[np.ndarray, float]]:
    """{method: (reconstruction (32, 32), MSE against `target`)} of one (1, 1, 32, 32) input, runs and PCA."""
    results = {}
    for method, reconstruct in reconstructors(run_refs).items():
        recon = reconstruct(image)
        results[method] = (recon[0, 0].clamp(0, 1).numpy(), float(((recon - target) ** 2).mean()))
    return results


# --- own digit -------------------------------------------------------------------------------------


@st.cache_resource(show_spinner="Mapping the test codes…", max_entries=8)
def digit_map(path: str, weights_sha256: str, dataset: str):
    """(fitted 2-D PCA of the run's test codes, (N_test, 2) coordinates) for placing a new digit on the map."""
    from aecore.own_digit import latent_map

    return latent_map(latent_state.test_latents(path, weights_sha256, dataset))


def own_digit_position(ref: RunRef, image) -> tuple[np.ndarray, np.ndarray]:
    """The drawn digit on the run's test-code map: its (2,) position, and (10,) digit counts among its 25
    nearest test codes in the full latent space."""
    from aecore.latent import encode
    from aecore.own_digit import nearest_test_digits

    pca, _ = digit_map(ref.path, ref.weights_sha256, ref.dataset)
    code = encode(_model(ref.path, ref.weights_sha256), image)  # (1, latent_dim)
    test_codes = latent_state.test_latents(ref.path, ref.weights_sha256, ref.dataset)
    return pca.transform(code)[0], nearest_test_digits(test_codes, test_labels(ref.dataset), code)

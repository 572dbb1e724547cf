"""Cached calls into aecore for the latent-space page: codes, projections, neighbours, agreement, decoding.

A run is passed as (run folder, weights hash) strings, so a retrained run is a new cache entry and every
cached function reads only its arguments. Models and datasets come from app_state's caches.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st

import app_state
from aecore import latent
from aecore.checkpoints import RunInfo, read_run
from aecore.projection import Projection, ProjectionConfig, load_cached, project_run, sample_indices


def _run(path: str) -> RunInfo:
    return read_run(Path(path))


def _model(path: str):
    return app_state.model_of(_run(path))


@st.cache_data(show_spinner="Encoding the test set…", max_entries=16)
def test_latents(path: str, weights_sha256: str, dataset: str) -> np.ndarray:
    """(n_test, latent_dim) codes of every test image, row i for test image i."""
    return latent.encode(_model(path), app_state.dataset(dataset).test.images)


@st.cache_data(show_spinner="Scoring every test image…", max_entries=16)
def test_errors(path: str, weights_sha256: str, dataset: str) -> np.ndarray:
    """(n_test,) per-image test MSE of the run, for hover labels and colouring."""
    from aecore.metrics import per_image_errors

    return per_image_errors(_model(path), app_state.dataset(dataset).test.images)


def projection_on_disk(path: str, config: ProjectionConfig) -> bool:
    """True when the projection is already cached in the run folder (then it loads in milliseconds)."""
    return load_cached(_run(path), config) is not None


@st.cache_data(show_spinner=False, max_entries=32)
def projection(path: str, weights_sha256: str, dataset: str, config: ProjectionConfig) -> Projection:
    """The run's 2-D map from its disk cache, computed (and cached on disk) when missing."""
    return project_run(_run(path), config, lambda: test_latents(path, weights_sha256, dataset))


@st.cache_data(show_spinner="Scoring neighbourhood agreement…", max_entries=16)
def agreement(
    paths: tuple[str, str], hashes: tuple[str, str], datasets: tuple[str, str], n_points: int, seed: int, k: int
) -> latent.Agreement:
    """k-NN overlap of two runs' latent spaces on the projected test subset (same subset for both)."""
    a, b = (test_latents(p, h, d) for p, h, d in zip(paths, hashes, datasets, strict=True))
    rows = sample_indices(len(a), n_points, seed)
    return latent.neighbourhood_agreement(a[rows], b[rows], k)


@st.cache_data(show_spinner="Scoring trustworthiness…", max_entries=32)
def trustworthiness(path: str, weights_sha256: str, dataset: str, config: ProjectionConfig, k: int) -> float:
    """How faithfully the run's 2-D map keeps its latent neighbourhoods (scikit-learn's measure)."""
    proj = projection(path, weights_sha256, dataset, config)
    codes = test_latents(path, weights_sha256, dataset)[proj.indices]
    return latent.trustworthiness(codes, proj.coords, k=k, seed=config.seed)


@st.cache_data(max_entries=256)
def neighbours(path: str, weights_sha256: str, dataset: str, index: int, k: int) -> np.ndarray:
    """Test indices of the k codes nearest test image `index` in the run's latent space (whole test set)."""
    return latent.nearest_neighbours(test_latents(path, weights_sha256, dataset), index, k)


@st.cache_resource(max_entries=32)
def map_index(path: str, weights_sha256: str, dataset: str, config: ProjectionConfig) -> latent.MapIndex:
    """Nearest-point lookup on the run's 2-D map, for decoding any spot of it."""
    return latent.MapIndex().fit(projection(path, weights_sha256, dataset, config).coords)


def decode_codes(path: str, codes: np.ndarray) -> np.ndarray:
    """(n, latent_dim) codes -> (n, 32, 32) images in [0, 1]; one forward pass, too cheap to cache."""
    return latent.decode(_model(path), codes)


@st.cache_data(show_spinner="Interpolating…", max_entries=64)
def interpolation(path: str, weights_sha256: str, dataset: str, start: int, end: int, steps: int) -> np.ndarray:
    """(steps, 32, 32) decoded straight line between the codes of test images `start` and `end`."""
    images = app_state.dataset(dataset).test.images
    return latent.interpolate(_model(path), images[start], images[end], steps)

"""Dashboard state: cached wrappers around aecore, the colour of each model, and the selected runs.

The one place with st.cache_data / st.cache_resource for the overview, training, reconstructions
and per-digit pages. Every cached function reads only its arguments: the checkpoint root is passed
in (with a cheap signature of the folder, so runs written by the CLI appear without a restart).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import streamlit as st

from aecore.checkpoints import BrokenRun, RunInfo, default_checkpoint_root, list_runs
from aecore.config import MODELS, RunConfig

if TYPE_CHECKING:  # names for annotations only; the modules load when a page first needs them
    from aecore.data import Dataset
    from aecore.jobs import TrainingJobs
    from aecore.models import Autoencoder

# Okabe-Ito colours: told apart under the common colour-vision deficiencies. Every page draws a
# model in its colour, and the PCA baseline in grey.
MODEL_COLOURS: dict[str, str] = {"mlp": "#0072B2", "conv": "#D55E00"}
PCA_COLOUR = "#6E6E6E"
MODEL_TITLES: dict[str, str] = {"mlp": "MLP", "conv": "Conv"}

# Sidebar widget keys holding the run id chosen for each model (UI state only).
RUN_KEYS: dict[str, str] = {"mlp": "selected_run_mlp", "conv": "selected_run_conv"}


def checkpoint_root() -> str:
    """The checkpoint root in use ($AECORE_CHECKPOINTS or ./checkpoints), read on every call."""
    return str(default_checkpoint_root())


def default_run_id(model: str) -> str:
    """The shipped run of `model`: the recipe's default config."""
    return RunConfig.for_recipe(model).run_id


@dataclass(frozen=True)
class Registry:
    """The readable runs (newest first) and the folders that are not loadable runs, with why."""

    runs: tuple[RunInfo, ...]
    broken: tuple[BrokenRun, ...]

    def of_model(self, model: str) -> list[RunInfo]:
        return [r for r in self.runs if r.config.model == model]

    def get(self, run_id: str | None) -> RunInfo | None:
        return next((r for r in self.runs if r.run_id == run_id), None)


def _folder_signature(root: str) -> tuple:
    """Names, sizes and mtimes of every file one level inside each run folder: changes when a run does."""
    base = Path(root)
    if not base.is_dir():
        return ()
    entries = []
    try:
        for folder in sorted(base.iterdir()):
            if folder.is_dir() and not folder.name.startswith("."):
                for item in sorted(folder.iterdir()):
                    stat = item.stat()
                    entries.append((folder.name, item.name, stat.st_size, stat.st_mtime_ns))
    except OSError as error:  # unreadable folder: the registry call reports it
        entries.append(("?", str(error)))
    return tuple(entries)


@st.cache_data(show_spinner="Reading the run registry…", max_entries=8)
def _registry(root: str, signature: tuple) -> Registry:
    try:
        runs, broken = list_runs(Path(root))
    except OSError as error:
        reason = f"cannot read the checkpoints folder {root}: {error.strerror or error}"
        return Registry((), (BrokenRun(Path(root).name, Path(root), reason),))
    return Registry(tuple(runs), tuple(broken))


def registry() -> Registry:
    """Every run in the checkpoint root; re-read whenever a run folder changes on disk."""
    root = checkpoint_root()
    return _registry(root, _folder_signature(root))


def selected_runs() -> dict[str, RunInfo]:
    """The run of each model chosen in the sidebar, as {"mlp": RunInfo, "conv": RunInfo}.

    Until the user chooses, each model's shipped default run (or its newest run when the default
    is missing). A model with no readable run at all is left out: pages must allow a missing key.
    """
    reg = registry()
    chosen: dict[str, RunInfo] = {}
    for model in MODELS:
        candidates = reg.of_model(model)
        if not candidates:
            continue
        wanted = reg.get(st.session_state.get(RUN_KEYS[model]))
        chosen[model] = wanted or reg.get(default_run_id(model)) or candidates[0]
    return chosen


def run_label(info: RunInfo) -> str:
    """Short human label of a run for selectors and legends."""
    c = info.config
    limit = f" · {c.train_limit:,} imgs" if c.train_limit else ""
    default = " · shipped default" if info.run_id == default_run_id(c.model) else ""
    return (
        f"{MODEL_TITLES[c.model]} b={c.bottleneck} ({c.latent_dim}-d) · {c.recipe} · {c.epochs} ep{limit} · "
        f"seed {c.seed} · test MSE {info.test_mse:.5f}{default}"
    )


def dataset_banner(runs: dict[str, RunInfo]) -> str:
    """One line naming the data behind the selected runs (each run stores its dataset's description)."""
    descriptions = list(dict.fromkeys(r.dataset.get("description", r.config.dataset) for r in runs.values()))
    return " | ".join(descriptions)


# --- heavy resources: models, data, the job runner ------------------------------------------------


@st.cache_resource(show_spinner="Loading the test set…")
def dataset(name: str) -> Dataset:
    from aecore.data import load_dataset

    return load_dataset(name)


@st.cache_data(show_spinner="Fitting the PCA baseline…", max_entries=16)
def pca_validation_mse(dataset_name: str, n_components: int) -> float:
    """PCA with `n_components` fit on the training images, scored on the validation images the loss curves use."""
    from aecore.metrics import PCABaseline

    data = dataset(dataset_name)
    return PCABaseline.fit(data.train.images, n_components).evaluate(data.val.images, data.val.labels).mse


@st.cache_resource(show_spinner="Loading model weights…", max_entries=16)
def _model(run_path: str, weights_sha256: str) -> Autoencoder:
    from aecore.checkpoints import load_model, read_run

    return load_model(read_run(Path(run_path)))


def model_of(info: RunInfo) -> Autoencoder:
    """The run's model in eval mode; cached per weights file, so a retrained run is reloaded."""
    return _model(str(info.path), info.weights_sha256)


@st.cache_resource
def training_jobs() -> TrainingJobs:
    """The process-wide job runner: every page and every browser tab sees the same job.

    Training uses half the cores (at least one), leaving the rest to the server and the pages.
    """
    from aecore.jobs import TrainingJobs

    return TrainingJobs(threads=max(1, (os.cpu_count() or 2) // 2))


def refresh_registry() -> None:
    """Forget cached registry reads (after a job wrote a run)."""
    _registry.clear()


# --- data for the pages ---------------------------------------------------------------------------


@st.cache_data(show_spinner="Reconstructing test digits…", max_entries=64)
def reconstructions(
    run_path: str, weights_sha256: str, dataset_name: str, indices: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Test images `indices` reconstructed by the run's model.

    Returns reconstructions (n, 32, 32), absolute errors (n, 32, 32) and per-image MSE (n,).
    """
    from aecore.metrics import reconstruction_sample

    model = _model(run_path, weights_sha256)
    test = dataset(dataset_name).test
    return reconstruction_sample(model, test.images, list(indices))


@st.cache_data(max_entries=64)
def test_sample(dataset_name: str, digit: int | None, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (n,) and labels (n,) of a seeded sample of test images, of one digit or of all."""
    from aecore.metrics import sample_test_indices

    labels = dataset(dataset_name).test.labels.numpy()
    indices = sample_test_indices(labels, digit, count, seed)
    return indices, labels[indices]


@st.cache_data(max_entries=64)
def test_images(dataset_name: str, indices: tuple[int, ...]) -> np.ndarray:
    """Test images `indices` as (n, 32, 32) float arrays in [0, 1]."""
    return dataset(dataset_name).test.images[list(indices), 0].numpy()


@st.cache_data(max_entries=16)
def architecture(run_path: str, weights_sha256: str) -> str:
    from aecore.models import describe

    return describe(_model(run_path, weights_sha256))


# --- the retrain form ----------------------------------------------------------------------------


def parse_number(text: str) -> int | float | str | None:
    """'' -> None (use the default); '12' -> 12; '1e-3' -> 0.001; other text is returned unchanged,
    so that RunConfig's validation names the field and says what is allowed."""
    text = text.strip()
    if not text:
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def retrain_configs(
    choice: str,
    *,
    recipe: str,
    dataset_name: str,
    bottlenecks: dict[str, str],
    epochs: str = "",
    batch_size: str = "",
    learning_rate: str = "",
    seed: str = "",
    train_limit: str = "",
) -> list[RunConfig]:
    """The configs the sidebar form asks for: `choice` is "both" or a model; blank fields take the
    recipe's (or model's) default. Raises ConfigError with RunConfig's message on a bad value."""
    models = MODELS if choice == "both" else (choice,)
    fields = {"epochs": epochs, "batch_size": batch_size, "learning_rate": learning_rate, "seed": seed}
    overrides = {name: value for name, text in fields.items() if (value := parse_number(text)) is not None}
    overrides["train_limit"] = parse_number(train_limit)
    configs = []
    for model in models:
        bottleneck = parse_number(bottlenecks.get(model, ""))
        extra = {} if bottleneck is None else {"bottleneck": bottleneck}
        configs.append(RunConfig.for_recipe(model, recipe, dataset=dataset_name, **overrides, **extra))
    return configs


# --- drawing helpers shared by the pages ---------------------------------------------------------


def model_heading(model: str, suffix: str = "") -> str:
    """Markdown (with a coloured square) naming a model in its dashboard colour."""
    swatch = f'<span style="color:{MODEL_COLOURS[model]}">■</span>'
    return f"{swatch} **{MODEL_TITLES[model]}**{suffix}"


def image_grid(rows: list[np.ndarray], padding: int = 2) -> np.ndarray:
    """Rows of (n, 32, 32) images in [0, 1] -> one (H, W) image, a row per array (torchvision make_grid)."""
    import torch
    from torchvision.utils import make_grid

    n = len(rows[0])
    stacked = torch.from_numpy(np.concatenate(rows)).float().unsqueeze(1).clamp(0, 1)  # (rows * n, 1, 32, 32)
    grid = make_grid(stacked, nrow=n, padding=padding, pad_value=1.0)  # (3, H, W), grey repeated
    return grid[0].numpy()



def per_digit_of(runs: dict[str, RunInfo]) -> pd.DataFrame:
    """Digits 0-9 × models from the runs' stored test metrics: MSE, n, difference, best.

    Cheap (20 numbers), so not cached; the numbers are those aecore measured when the run was saved.
    """
    from aecore.metrics import per_digit_comparison

    return per_digit_comparison({model: info.metrics["test"]["per_digit"] for model, info in runs.items()})

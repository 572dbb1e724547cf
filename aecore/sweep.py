"""Bottleneck sweeps: the configs of a grid of (model, bottleneck, seed) with otherwise equal settings, and the
summary table of runs that sit on one sweep curve.

`aecore.studies` runs a grid as an Optuna study; its runs go through `load_or_train`, so a sweep only trains what
is not on disk yet and reuses every run that exists (the shipped default runs included).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

from aecore.architectures import names
from aecore.config import BUDGET_FIELDS, ConfigError, RunConfig
from aecore.runstore import RunInfo

# Fields that must agree for runs to sit on one sweep curve, besides the training budget (see `family`).
FAMILY_FIELDS = ("recipe", "seed", "dataset", "train_limit")


def sweep_configs(
    models: Iterable[str],
    bottlenecks: Iterable[int],
    recipe: str = "onecycle",
    seeds: Iterable[int] = (0,),
    **overrides: Any,
) -> list[RunConfig]:
    """Every (model, bottleneck, seed) with the recipe's defaults plus `overrides` (e.g. epochs, dataset)."""
    models, bottlenecks, seeds = (list(dict.fromkeys(values)) for values in (models, bottlenecks, seeds))
    if not models:
        raise ConfigError(f"give at least one model ({', '.join(names())})")
    if not bottlenecks:
        raise ConfigError("give at least one bottleneck")
    if not seeds:
        raise ConfigError("give at least one seed")
    if {"model", "bottleneck", "seed"} & set(overrides):
        raise ConfigError("model, bottleneck and seed are set by the sweep itself")
    return [
        RunConfig.for_recipe(model, recipe, bottleneck=bottleneck, seed=seed, **overrides)
        for model in models
        for bottleneck in bottlenecks
        for seed in seeds
    ]


def _budget(config: RunConfig) -> tuple | None:
    """None when the run used its recipe's default budget for its model, else (epochs, batch_size, learning_rate).

    A recipe may tune a different budget per model; runs on those defaults belong to one sweep even though
    their batch sizes or learning rates differ.
    """
    own = tuple(getattr(config, name) for name in BUDGET_FIELDS)
    default = RunConfig.for_recipe(config.model, config.recipe)
    return None if own == tuple(getattr(default, name) for name in BUDGET_FIELDS) else own


def family(config: RunConfig) -> tuple:
    """The settings shared by all runs of one sweep curve."""
    return (*(getattr(config, name) for name in FAMILY_FIELDS), _budget(config))


def describe_family(config: RunConfig) -> str:
    """One line naming a family, e.g. 'onecycle (recipe defaults) · seed 0 · mnist-sample'."""
    budget = _budget(config)
    if budget is None:
        training = f"{config.recipe} (recipe defaults)"
    else:
        training = f"{config.recipe} · {budget[0]} epochs · batch {budget[1]} · lr {budget[2]:g}"
    limit = f" · first {config.train_limit:,} training images" if config.train_limit else ""
    return f"{training} · seed {config.seed} · {config.dataset}{limit}"


def sweep_table(runs: Iterable[RunInfo], like: RunConfig) -> pd.DataFrame:
    """Runs of the same family as `like`, one row per run, sorted by model then latent dims.

    Columns: model, bottleneck, latent_dims, test_mse, pca_mse (PCA with as many components as latent_dims,
    fit on the same training images), epochs, batch_size, learning_rate, parameters, run_id.
    """
    wanted = family(like)
    rows = [
        {
            "model": run.config.model,
            "bottleneck": run.config.bottleneck,
            "latent_dims": run.latent_dim,
            "test_mse": run.test_mse,
            "pca_mse": run.pca_mse,
            "epochs": run.config.epochs,
            "batch_size": run.config.batch_size,
            "learning_rate": run.config.learning_rate,
            "parameters": run.parameters,
            "run_id": run.run_id,
        }
        for run in runs
        if family(run.config) == wanted
    ]
    columns = ["model", "bottleneck", "latent_dims", "test_mse", "pca_mse", *BUDGET_FIELDS, "parameters", "run_id"]
    return pd.DataFrame(rows, columns=columns).sort_values(["model", "latent_dims"], ignore_index=True)


def families(runs: Iterable[RunInfo]) -> dict[str, RunConfig]:
    """{description: a representative config} for every family with at least two runs (a curve needs two points)."""
    counts: dict[tuple, list[RunConfig]] = {}
    for run in runs:
        counts.setdefault(family(run.config), []).append(run.config)
    return {describe_family(configs[0]): configs[0] for configs in counts.values() if len(configs) >= 2}

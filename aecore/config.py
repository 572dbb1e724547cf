"""Run configuration: one frozen dataclass per training run, validated, with a stable hash key."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any

MODELS = ("mlp", "conv")
DATASETS = ("mnist-sample", "mnist")
RECIPES = ("onecycle", "seed")

# Bounds a user can hit from the CLI or the sidebar; wide enough for real work, narrow enough
# that a typo (an extra zero) is caught before it starts an hour-long run.
LIMITS: dict[str, tuple[float, float]] = {
    "bottleneck": (1, 1024),
    "epochs": (1, 1000),
    "batch_size": (1, 8192),
    "learning_rate": (1e-6, 1.0),
    "seed": (0, 2**31 - 1),
    "train_limit": (10, 10_000_000),
}


@dataclass(frozen=True)
class Budget:
    """The epochs, batch size and (peak) learning rate a recipe was tuned with for one model."""

    epochs: int
    batch_size: int
    learning_rate: float

    def __str__(self) -> str:
        return f"{self.epochs} epochs, batch {self.batch_size}, lr {self.learning_rate:g}"


@dataclass(frozen=True)
class Recipe:
    """How a run optimises: the optimiser, the schedule and the per-model defaults it was tuned with."""

    name: str
    summary: str
    budgets: dict[str, Budget]  # per model: the conv net (BatchNorm) takes a far higher rate than the MLP

    def budget(self, model: str) -> Budget:
        return self.budgets[model]

    @property
    def description(self) -> str:
        per_model = " / ".join(f"{model} {budget}" for model, budget in self.budgets.items())
        return f"{self.summary} Defaults: {per_model}"


# The onecycle budgets come from a sweep on mnist-sample (BENCHMARKS.md, "Default recipe"): the MLP
# gains most from more, smaller steps; the conv net (BatchNorm) from a high peak rate, which takes
# it below PCA. 60 epochs each keeps "retrain both defaults" near a minute on 2 CPU cores.
RECIPE_DEFAULTS: dict[str, Recipe] = {
    "onecycle": Recipe(
        name="onecycle",
        summary=(
            "AdamW (weight decay 0) with a one-cycle schedule: learning rate warms up over the "
            "first 30% of steps to the peak, then anneals to ~0."
        ),
        budgets={
            "mlp": Budget(epochs=60, batch_size=64, learning_rate=5e-3),
            "conv": Budget(epochs=60, batch_size=128, learning_rate=8e-2),
        },
    ),
    "seed": Recipe(
        name="seed",
        summary="Adam with a constant learning rate, as the seed text trains.",
        budgets={model: Budget(epochs=20, batch_size=64, learning_rate=1e-3) for model in MODELS},
    ),
}

DEFAULT_BOTTLENECK = {"mlp": 32, "conv": 2}


class ConfigError(ValueError):
    """A configuration value a user supplied is invalid; the message says which and what is allowed."""


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines a training run; two equal configs give the same model.

    Parameters
    ----------
    model : "mlp" or "conv"
    bottleneck : width of the code layer (MLP) or number of code channels (conv, 4x4 each)
    epochs, batch_size, learning_rate : optimisation budget; learning_rate is the peak for onecycle
    recipe : "onecycle" (default) or "seed"
    seed : seeds weight init, shuffling and the dataset split-independent randomness
    dataset : "mnist-sample" (offline, bundled) or "mnist" (full 60k, torchvision)
    train_limit : use only the first n training images (stratified order); None for all
    """

    model: str = "mlp"
    bottleneck: int = 32
    epochs: int = RECIPE_DEFAULTS["onecycle"].budget("mlp").epochs
    batch_size: int = RECIPE_DEFAULTS["onecycle"].budget("mlp").batch_size
    learning_rate: float = RECIPE_DEFAULTS["onecycle"].budget("mlp").learning_rate
    recipe: str = "onecycle"
    seed: int = 0
    dataset: str = "mnist-sample"
    train_limit: int | None = None

    def __post_init__(self) -> None:
        _check_choice("model", self.model, MODELS)
        _check_choice("recipe", self.recipe, RECIPES)
        _check_choice("dataset", self.dataset, DATASETS)
        for name in ("bottleneck", "epochs", "batch_size", "seed"):
            _check_int(name, getattr(self, name))
        if self.train_limit is not None:
            _check_int("train_limit", self.train_limit)
        _check_float("learning_rate", self.learning_rate)
        # 1 and 1.0 are the same learning rate and must give the same hash.
        object.__setattr__(self, "learning_rate", float(self.learning_rate))

    @classmethod
    def for_recipe(cls, model: str, recipe: str = "onecycle", **overrides: Any) -> RunConfig:
        """A config with the recipe's defaults tuned for `model` and the model's default bottleneck."""
        _check_choice("recipe", recipe, RECIPES)
        _check_choice("model", model, MODELS)
        defaults = RECIPE_DEFAULTS[recipe].budget(model)
        values: dict[str, Any] = {
            "model": model,
            "bottleneck": DEFAULT_BOTTLENECK[model],
            "epochs": defaults.epochs,
            "batch_size": defaults.batch_size,
            "learning_rate": defaults.learning_rate,
            "recipe": recipe,
        }
        values.update(overrides)
        return cls(**values)

    @classmethod
    def from_dict(cls, values: Any) -> RunConfig:
        """Rebuild from JSON; unknown or missing fields raise ConfigError naming them."""
        if not isinstance(values, dict):
            raise ConfigError(f"config must be a JSON object, got {type(values).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ConfigError(f"unknown config field(s): {', '.join(unknown)}")
        required = {f.name for f in dataclasses.fields(cls) if f.name != "train_limit"}
        missing = sorted(required - set(values))
        if missing:
            raise ConfigError(f"config is missing field(s): {', '.join(missing)}")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def key(self) -> str:
        """Stable 10-hex-digit hash of every field: the cache key for this run."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:10]

    @property
    def run_id(self) -> str:
        """Folder name of the run: `<model>-<dataset>-<hash>`."""
        return f"{self.model}-{self.dataset}-{self.key}"

    @property
    def latent_dim(self) -> int:
        # The conv encoder halves 32x32 three times, leaving a 4x4 map per code channel.
        return self.bottleneck * 16 if self.model == "conv" else self.bottleneck


def _check_choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")


def _check_int(name: str, value: Any) -> None:
    low, high = LIMITS[name]
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be a whole number from {low:g} to {high:g}; got {value!r}")
    if not low <= value <= high:
        raise ConfigError(f"{name} must be from {low:g} to {high:g}; got {value}")


def _check_float(name: str, value: Any) -> None:
    low, high = LIMITS[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{name} must be a number from {low:g} to {high:g}; got {value!r}")
    if not low <= value <= high:  # also rejects nan, which fails every comparison
        raise ConfigError(f"{name} must be from {low:g} to {high:g}; got {value}")

"""Run configuration: one frozen dataclass per training run, validated against the registry, with a stable hash."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aecore import architectures, datasets
from aecore.architectures import ArchSpec, Budget

# Bounds a user can hit from the CLI or the sidebar; wide enough for real work, narrow enough that a typo
# (an extra zero) is caught before it starts an hour-long run. The bottleneck's upper bound is per architecture.
LIMITS: dict[str, tuple[float, float]] = {
    "epochs": (1, 1000),
    "batch_size": (1, 8192),
    "learning_rate": (1e-6, 1.0),
    "seed": (0, 2**31 - 1),
    "train_limit": (10, 10_000_000),
}


@dataclass(frozen=True)
class Recipe:
    """How a run optimises: the optimiser and schedule (the budgets per architecture live in the registry)."""

    name: str
    title: str
    summary: str

    def budget(self, model: str) -> Budget:
        return architectures.get(model).budgets[self.name]

    @property
    def description(self) -> str:
        per_model = " / ".join(f"{spec.name} {spec.budgets[self.name]}" for spec in architectures.ARCHITECTURES)
        return f"{self.summary} Defaults: {per_model}"


BUDGET_FIELDS = ("epochs", "batch_size", "learning_rate")  # a run's training budget: its recipe's default or not
ONECYCLE_WARMUP = 0.3  # the share of a one-cycle run's steps over which the learning rate climbs to its peak

# The onecycle budgets come from a sweep on mnist-sample (BENCHMARKS.md, "Default recipe").
RECIPE_DEFAULTS: dict[str, Recipe] = {
    "onecycle": Recipe(
        name="onecycle",
        title="onecycle",
        summary=(
            "AdamW (weight decay 0) with a one-cycle schedule: learning rate warms up over the "
            f"first {ONECYCLE_WARMUP:.0%} of steps to the peak, then anneals to ~0."
        ),
    ),
    "seed": Recipe(name="seed", title="seed recipe", summary="Adam with a constant learning rate, as the seed text."),
}
RECIPES = tuple(RECIPE_DEFAULTS)


class ConfigError(ValueError):
    """A configuration value a user supplied is invalid; the message says which and what is allowed."""


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines a training run; two equal configs give the same model.

    Parameters
    ----------
    model : a registered architecture ("mlp", "conv", "vae", "dae", ...)
    bottleneck : width of the code layer (dense codes) or number of 4x4 code channels (conv codes)
    epochs, batch_size, learning_rate : optimisation budget; learning_rate is the peak for onecycle
    recipe : "onecycle" (default) or "seed"
    seed : seeds weight init, shuffling and any noise the objective draws
    dataset : a registered dataset (aecore.datasets): "mnist" (default, 54k/6k, bundled), "mnist-sample" (4.5k/500,
        bundled), "fashion-mnist" (Debian's package)
    train_limit : use only the first n training images (stratified order); None for all
    options : the architecture's own hyperparameters (a VAE's beta, a DAE's noise) as sorted (name, value)
        pairs; a mapping is accepted and missing options take the registry's defaults
    """

    model: str = "mlp"
    bottleneck: int = 32
    epochs: int = 60
    batch_size: int = 64
    learning_rate: float = 5e-3
    recipe: str = "onecycle"
    seed: int = 0
    dataset: str = datasets.DEFAULT_DATASET
    train_limit: int | None = None
    options: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        spec = self.spec
        _check_choice("recipe", self.recipe, RECIPES)
        _check_choice("dataset", self.dataset, datasets.names())
        _check_int("bottleneck", self.bottleneck, (1, spec.max_bottleneck))
        for name in ("epochs", "batch_size", "seed"):
            _check_int(name, getattr(self, name), LIMITS[name])
        if self.train_limit is not None:
            _check_int("train_limit", self.train_limit, LIMITS["train_limit"])
        _check_float("learning_rate", self.learning_rate, LIMITS["learning_rate"])
        # 1 and 1.0 are the same learning rate and must give the same hash.
        object.__setattr__(self, "learning_rate", float(self.learning_rate))
        object.__setattr__(self, "options", _normalise_options(spec, self.options))

    @property
    def spec(self) -> ArchSpec:
        return spec_of(self.model)

    @classmethod
    def for_recipe(cls, model: str, recipe: str = "onecycle", **overrides: Any) -> RunConfig:
        """A config with the recipe's budget for `model` and the model's default bottleneck."""
        _check_choice("recipe", recipe, RECIPES)
        spec = spec_of(model)
        budget = spec.budgets[recipe]
        values: dict[str, Any] = {
            "model": model,
            "bottleneck": spec.default_bottleneck,
            "epochs": budget.epochs,
            "batch_size": budget.batch_size,
            "learning_rate": budget.learning_rate,
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
        required = names - {"train_limit", "options"}
        missing = sorted(required - set(values))
        if missing:
            raise ConfigError(f"config is missing field(s): {', '.join(missing)}")
        options = values.get("options", {})
        if not isinstance(options, dict):
            raise ConfigError(f"options must be a JSON object, got {type(options).__name__}")
        return cls(**{**values, "options": tuple(options.items())})

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields; `options` appears only when the architecture has some, so the hashes of configs
        written before options existed stay the same."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "options"}
        if self.options:
            values["options"] = dict(self.options)
        return values

    def option(self, name: str) -> float:
        return dict(self.options)[name]

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
        return self.spec.latent_dim(self.bottleneck)


def spec_of(model: Any) -> ArchSpec:
    """The registry's spec for `model`; ConfigError naming the registered architectures otherwise."""
    for spec in architectures.ARCHITECTURES:
        if spec.name == model:
            return spec
    raise ConfigError(f"model must be one of {', '.join(architectures.names())}; got {model!r}")


def _normalise_options(spec: ArchSpec, options: Any) -> tuple[tuple[str, float], ...]:
    """Sorted (name, float) pairs with the registry's defaults filled in; ConfigError on anything else."""
    if isinstance(options, Mapping):
        options = tuple(options.items())
    try:
        given = dict(options)
    except (TypeError, ValueError):
        raise ConfigError(f"options must be name/value pairs; got {options!r}") from None
    allowed = {o.name: o for o in spec.options}
    unknown = sorted(str(name) for name in given if name not in allowed)
    if unknown:
        known = ", ".join(allowed) or "none"
        raise ConfigError(f"{spec.name} has no option {', '.join(unknown)} (its options: {known})")
    values = []
    for name, option in sorted(allowed.items()):
        value = given.get(name, option.default)
        _check_float(name, value, (option.low, option.high))
        values.append((name, float(value)))
    return tuple(values)


def _check_choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")


def _check_int(name: str, value: Any, bounds: tuple[float, float]) -> None:
    low, high = bounds
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be a whole number from {low:g} to {high:g}; got {value!r}")
    if not low <= value <= high:
        raise ConfigError(f"{name} must be from {low:g} to {high:g}; got {value}")


def _check_float(name: str, value: Any, bounds: tuple[float, float]) -> None:
    low, high = bounds
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{name} must be a number from {low:g} to {high:g}; got {value!r}")
    if not low <= value <= high:
        raise ConfigError(f"{name} must be from {low:g} to {high:g}; got {value}")
